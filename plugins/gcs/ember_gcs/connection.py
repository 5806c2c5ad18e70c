"""Where the GCS driver connects and as whom: endpoint, credentials, one client per thread.

google-cloud-storage documents its ``Client`` as safe to share, but it rides on one
``requests.Session``, whose thread safety requests itself does not promise, and one
session's connection pool would make every worker thread queue for ten sockets. So each
thread gets its own ``Client`` and session; all of them share one credentials object
(google-auth refreshes tokens under its own lock).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from ember import errors
from ember.clients import PerThread

GOOGLE_ENDPOINT = "https://storage.googleapis.com"
EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
#: Cinder's scope: read and write objects and buckets, nothing else
SCOPES = ("https://www.googleapis.com/auth/devstorage.read_write",)


@dataclass(frozen=True)
class Settings:
    """The connection-relevant options, resolved once."""

    endpoint: Optional[str]  # None: Google's public endpoint
    credential_file: Optional[str]
    project: Optional[str]
    user_agent: str
    proxy_url: Optional[str]

    @property
    def anonymous(self) -> bool:
        """No credential file and an explicit endpoint (emulator or private endpoint)."""
        return self.endpoint is not None and not self.credential_file

    @property
    def where(self) -> str:
        """The endpoint for messages."""
        return self.endpoint or GOOGLE_ENDPOINT

    @classmethod
    def from_conf(cls, conf) -> "Settings":
        endpoint = conf.backup_gcs_endpoint_url or os.environ.get(EMULATOR_ENV) or None
        if endpoint and "://" not in endpoint:
            # STORAGE_EMULATOR_HOST is sometimes given as host:port
            endpoint = "http://" + endpoint
        return cls(endpoint=endpoint.rstrip("/") if endpoint else None,
                   credential_file=conf.backup_gcs_credential_file or None,
                   project=conf.backup_gcs_project_id or None,
                   user_agent=conf.backup_gcs_user_agent,
                   proxy_url=conf.backup_gcs_proxy_url or None)

    def check(self) -> None:
        """Raise ``ConfigError`` for what Cinder's setup check would refuse."""
        if self.endpoint is None:
            for option, value in (("backup_gcs_credential_file", self.credential_file),
                                  ("backup_gcs_project_id", self.project)):
                if not value:
                    raise errors.ConfigError(
                        "%s is not set; Google Cloud Storage at %s needs it (or set "
                        "backup_gcs_endpoint_url for an emulator)" % (option, GOOGLE_ENDPOINT))


def load_credentials(settings: Settings):
    """The credentials every client uses; ``ConfigError`` for an unusable key file."""
    from google.auth.credentials import AnonymousCredentials
    from google.oauth2 import service_account

    if settings.anonymous:
        return AnonymousCredentials()
    path = settings.credential_file
    if not path:
        raise errors.ConfigError("backup_gcs_credential_file is not set; point it at a "
                                 "service-account JSON key file")
    try:
        return service_account.Credentials.from_service_account_file(path, scopes=SCOPES)
    except FileNotFoundError:
        raise errors.ConfigError("backup_gcs_credential_file %s does not exist; point it at "
                                 "a service-account JSON key file" % path) from None
    except PermissionError:
        raise errors.ConfigError("backup_gcs_credential_file %s is not readable by this "
                                 "user" % path) from None
    except (ValueError, KeyError, TypeError) as exc:
        # ValueError covers bad JSON and a bad key; KeyError a missing field. The
        # exception text never holds the key itself, only which field is wrong.
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise errors.ConfigError("backup_gcs_credential_file %s is not a service-account "
                                 "JSON key file (%s)" % (path, reason)) from None


class ClientPool:
    """One ``google.cloud.storage.Client`` per thread, built on first use."""

    def __init__(self, settings: Settings, credentials):
        self.settings = settings
        self.credentials = credentials
        # a client's HTTP session is the one made for it in _build
        self._clients = PerThread(self._build, lambda client: client._http.close())

    def get(self):
        return self._clients.get()

    def _build(self):
        from google.api_core.client_info import ClientInfo
        from google.auth.transport.requests import AuthorizedSession
        from google.cloud import storage

        session = AuthorizedSession(self.credentials)
        if self.settings.proxy_url:
            # scoped to this session; Cinder set http_proxy for the whole process
            session.proxies = {"http": self.settings.proxy_url,
                               "https": self.settings.proxy_url}
        options = {"api_endpoint": self.settings.endpoint} if self.settings.endpoint else None
        return storage.Client(
            project=self.settings.project or "ember",
            credentials=self.credentials,
            _http=session,
            client_info=ClientInfo(user_agent=self.settings.user_agent),
            client_options=options,
        )

    def close(self) -> None:
        """Close every thread's session (threads that use the pool later get new ones)."""
        self._clients.close()
