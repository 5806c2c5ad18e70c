"""Where the driver connects and with which credentials, from the options and the
environment. Pure: no network, no swiftclient import.

Two modes, as in Cinder:

* ``single_user``: authenticate as ``backup_swift_user`` / ``backup_swift_key`` at
  ``backup_swift_auth_url`` (auth version 1, 2 or 3).
* ``per_user``: Cinder uses the caller's Keystone token from the API request. A CLI has
  no request, so Ember takes the token from ``OS_AUTH_TOKEN`` and the storage URL from
  ``OS_STORAGE_URL``, or builds it as ``backup_swift_url`` + ``OS_PROJECT_ID`` (Cinder's
  rule: option value + project id). These are the names the ``swift`` and
  ``openstack`` clients use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping

from ember import errors

PER_USER_HELP = ("set OS_AUTH_TOKEN and OS_STORAGE_URL (or backup_swift_url and "
                 "OS_PROJECT_ID) in the environment, or use backup_swift_auth = single_user")

#: seconds before a request with no answer counts as a (transient) failure; swiftclient
#: would otherwise wait forever
REQUEST_TIMEOUT = 120


@dataclass(frozen=True)
class SwiftAuth:
    """Everything needed to open a ``swiftclient.Connection``."""

    mode: str
    #: the URL named in error messages (storage URL in per_user, auth URL in single_user)
    endpoint: str
    user: str | None = None
    kwargs: Mapping[str, object] = field(default_factory=dict, repr=False)

    def connection_kwargs(self) -> dict:
        """Keyword arguments for ``swiftclient.Connection``. ``retries=0``: retrying is
        the job of ``ember.wrappers.RetryingDriver``, so swiftclient must not retry too
        (it still re-authenticates once on a 401, when it has credentials)."""
        return dict(self.kwargs, retries=0, timeout=REQUEST_TIMEOUT)


def resolve(conf, environ: Mapping[str, str] | None = None) -> SwiftAuth:
    """The connection settings ``conf`` and ``environ`` (default ``os.environ``) describe.
    Raises one-line ``ConfigError`` naming the missing setting; never includes a secret."""
    environ = os.environ if environ is None else environ
    tls = {"insecure": conf.backup_swift_auth_insecure, "cacert": conf.backup_swift_ca_cert_file}
    if conf.backup_swift_auth == "single_user":
        return _single_user(conf, tls)
    return _per_user(conf, environ, tls)


def _single_user(conf, tls) -> SwiftAuth:
    if not conf.backup_swift_user:
        raise errors.ConfigError(
            "backup_swift_auth = single_user needs backup_swift_user (and backup_swift_key) "
            "in [DEFAULT]")
    if not conf.backup_swift_auth_url:
        raise errors.ConfigError(
            "backup_swift_auth = single_user needs backup_swift_auth_url in [DEFAULT] "
            "(Ember has no service catalog to find it in)")
    version = str(conf.backup_swift_auth_version)
    if version not in ("1", "1.0", "2", "2.0", "3", "3.0"):
        raise errors.ConfigError(
            "backup_swift_auth_version = %s is not one of 1, 2, 3" % version)
    os_options = {}
    for option, key in (("backup_swift_user_domain", "user_domain_name"),
                        ("backup_swift_project_domain", "project_domain_name"),
                        ("backup_swift_project", "project_name")):
        if getattr(conf, option) is not None:
            os_options[key] = getattr(conf, option)
    kwargs = dict(authurl=conf.backup_swift_auth_url, auth_version=version,
                  user=conf.backup_swift_user, key=conf.backup_swift_key,
                  tenant_name=conf.backup_swift_tenant, os_options=os_options, **tls)
    return SwiftAuth("single_user", conf.backup_swift_auth_url, conf.backup_swift_user, kwargs)


def _per_user(conf, environ, tls) -> SwiftAuth:
    token = environ.get("OS_AUTH_TOKEN")
    url = environ.get("OS_STORAGE_URL")
    if not url and conf.backup_swift_url and environ.get("OS_PROJECT_ID"):
        url = conf.backup_swift_url + environ["OS_PROJECT_ID"]
    if not token or not url:
        missing = " and ".join(name for name, value in
                               (("a token", token), ("a storage URL", url)) if not value)
        raise errors.ConfigError(
            "backup_swift_auth = per_user needs %s: %s" % (missing, PER_USER_HELP))
    kwargs = dict(preauthurl=url, preauthtoken=token, **tls)
    return SwiftAuth("per_user", url, None, kwargs)
