"""Map what google-cloud-storage, google-auth and requests raise onto ``ember.errors``.

Transient (the retry wrapper tries again): connection errors, timeouts, a body cut
short, HTTP 5xx, a status listed in ``backup_gcs_retry_error_codes`` (Cinder's default:
429), a download whose checksum did not match. Refused credentials: ``AccessDenied``.
Everything else: ``PermanentDriverError``. Messages are one line naming the endpoint and
bucket; they carry the server's reason, never a credential.
"""

from __future__ import annotations

import re
from typing import Collection, Optional

from ember import errors


def _first_line(text: str, limit: int = 200) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _refresh_reason(exc: BaseException) -> str:
    """What the token endpoint said: google-auth passes its decoded answer as args[1]."""
    answer = exc.args[1] if len(exc.args) > 1 else None
    if isinstance(answer, dict):
        error = answer.get("error")
        if isinstance(error, dict):  # {"error": {"code": 404, "message": "Not Found"}}
            return "HTTP %s: %s" % (error.get("code"), error.get("message"))
        if error:  # OAuth: {"error": "invalid_grant", "error_description": "..."}
            detail = answer.get("error_description")
            return "%s: %s" % (error, detail) if detail else str(error)
    return _first_line(str(exc.args[0] if exc.args else exc))


def _network_reason(exc: BaseException) -> str:
    """The OS-level cause (``[Errno 111] Connection refused``) out of urllib3's long
    wrapped messages, else the exception's class."""
    found = re.search(r"\[Errno -?\d+\][^'\")]*", str(exc))
    if found:
        return found.group(0).strip()
    if "timeout" in type(exc).__name__.lower():
        return "timed out"
    if type(exc).__name__ in ("ChunkedEncodingError", "ProtocolError", "IncompleteRead"):
        return "the answer was cut short"  # fewer bytes than its Content-Length
    return type(exc).__name__


def http_status(exc: BaseException) -> Optional[int]:
    """The HTTP status behind a library exception, if it has one."""
    from google.api_core import exceptions as api

    if isinstance(exc, api.GoogleAPICallError):
        return exc.code
    response = getattr(exc, "response", None)  # resumable-media InvalidResponse
    return getattr(response, "status_code", None)


def translate(exc: BaseException, *, where: str, bucket: str, name: Optional[str] = None,
              retry_codes: Collection[str] = ("429",), missing: str = "object"
              ) -> errors.DriverError:
    """The ``DriverError`` for ``exc`` raised while working on ``bucket``/``name`` at
    ``where``. ``missing`` says what a 404 means here: ``"object"`` or ``"bucket"``."""
    import http.client

    import requests
    import urllib3
    from google.auth import exceptions as auth
    from google.cloud.storage.exceptions import DataCorruption

    target = "gs://%s/%s" % (bucket, name) if name else "bucket %s" % bucket
    subject = "GCS %s at %s" % (target, where)

    if isinstance(exc, errors.DriverError):
        return exc
    if isinstance(exc, auth.RefreshError):
        return errors.AccessDenied(
            "%s: the credentials were refused (%s); check backup_gcs_credential_file"
            % (subject, _refresh_reason(exc)))
    # urllib3's and http.client's own errors reach here from a body read in one call
    # (driver.download), which requests does not wrap
    if isinstance(exc, (auth.TransportError, requests.exceptions.RequestException,
                        urllib3.exceptions.ProtocolError, urllib3.exceptions.TimeoutError,
                        http.client.IncompleteRead, ConnectionError, TimeoutError)):
        return errors.TransientDriverError(
            "%s: cannot reach the server (%s)" % (subject, _network_reason(exc)))
    if isinstance(exc, DataCorruption):
        return errors.TransientDriverError(
            "%s: the downloaded bytes do not match the object's checksum" % subject)

    status = http_status(exc)
    reason = _first_line(getattr(exc, "message", None) or str(exc))
    if status in (401, 403):
        return errors.AccessDenied(
            "%s: access denied (HTTP %d: %s); check backup_gcs_credential_file and the "
            "account's permissions on the bucket" % (subject, status, reason))
    if status == 404:
        if missing == "bucket":
            return errors.ContainerNotFound(
                "GCS bucket %s does not exist at %s; create it or set "
                "backup_create_containers = True" % (bucket, where))
        return errors.ObjectNotFound("%s does not exist" % subject)
    if status is not None and (status >= 500 or str(status) in retry_codes):
        return errors.TransientDriverError("%s: HTTP %d: %s" % (subject, status, reason))
    if status is not None:
        return errors.PermanentDriverError("%s: HTTP %d: %s" % (subject, status, reason))
    return errors.PermanentDriverError("%s: %s: %s" % (subject, type(exc).__name__, reason))
