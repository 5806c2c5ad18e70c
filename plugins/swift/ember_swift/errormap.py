"""Translate python-swiftclient and requests failures into ``ember.errors``.

Messages are one line, name the endpoint and the container (and object), and are
built here from the status and reason only: swiftclient's own messages quote response
bodies and URLs with query strings, and no header (so no token) is ever included.
"""

from __future__ import annotations

import socket

import requests
import urllib3.exceptions
from swiftclient.exceptions import ClientException

from ember import errors

#: statuses that say "try again later" rather than "this request is wrong"
_TRANSIENT_STATUSES = {408, 425, 429, 498}


def _where(endpoint: str, container: str | None, name: str | None) -> str:
    if container is None:
        return endpoint
    if name is None:
        return "container %s at %s" % (container, endpoint)
    return "object %s in container %s at %s" % (name, container, endpoint)


def _network_reason(exc: BaseException) -> str:
    """The innermost OS-level reason (``Connection refused``), not urllib3's retry prose."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.strerror:
            return exc.strerror
        if isinstance(exc, (urllib3.exceptions.ProtocolError,
                            requests.exceptions.ChunkedEncodingError)):
            return "the answer was cut short"  # fewer bytes than its Content-Length
        inner = exc.__cause__ or exc.__context__
        if inner is None and exc.args and isinstance(exc.args[0], BaseException):
            inner = exc.args[0]
        if inner is None and exc.args and hasattr(exc.args[0], "reason"):
            inner = exc.args[0].reason
        exc = inner
    return "no answer"


def is_network_error(exc: BaseException) -> bool:
    # urllib3's own errors reach us from a streamed body (swiftclient reads it raw)
    return isinstance(exc, (requests.RequestException, urllib3.exceptions.HTTPError,
                            socket.error, TimeoutError))


def translate(exc: BaseException, *, endpoint: str, container: str | None,
              name: str | None = None,
              action: str, user: str | None = None) -> errors.DriverError:
    """The ``DriverError`` for ``exc`` raised while doing ``action`` ("put", "list", ...)
    on ``container`` and object ``name`` (both None for authentication). ``user`` names
    the single_user identity in an authentication failure."""
    where = _where(endpoint, container, name)
    if is_network_error(exc):
        kind = "timed out" if isinstance(exc, (requests.Timeout, TimeoutError, socket.timeout)) \
            else "failed (%s)" % _network_reason(exc)
        return errors.TransientDriverError("Swift %s of %s %s" % (action, where, kind))
    if not isinstance(exc, ClientException):
        return errors.PermanentDriverError(
            "Swift %s of %s failed: %s" % (action, where, type(exc).__name__))
    status = exc.http_status
    reason = exc.http_reason or ""
    if status in (401, 403):
        who = " for user %s" % user if user else ""
        hint = ("check backup_swift_user and backup_swift_key" if user else
                "the token (OS_AUTH_TOKEN) is invalid, expired or lacks access")
        return errors.AccessDenied("Swift refused %s of %s%s (HTTP %s %s); %s"
                                   % (action, where, who, status, reason, hint))
    if status == 404 and container is not None:
        if name is None or action == "put":
            return errors.ContainerNotFound(
                "Swift container %s does not exist at %s" % (container, endpoint))
        return errors.ObjectNotFound("Swift %s not found" % where)
    if status is None:  # raised by swiftclient itself (bad auth_version, no keystoneclient)
        detail = " ".join(str(exc.msg).split())
        return errors.PermanentDriverError("Swift %s of %s failed: %s" % (action, where, detail))
    if (status >= 500 and status != 507) or status in _TRANSIENT_STATUSES:
        return errors.TransientDriverError(
            "Swift %s of %s failed (HTTP %s %s)" % (action, where, status, reason))
    return errors.PermanentDriverError(
        "Swift %s of %s failed (HTTP %s %s)" % (action, where, status, reason))
