"""Map what boto3/botocore raise onto ``ember.errors``.

Transient (the retry wrapper tries again): connection errors, timeouts, a body cut
short, throttling (SlowDown and kin, HTTP 429/503), HTTP 5xx, RequestTimeout, and
BadDigest (the server got other bytes than the Content-MD5 says). Refused credentials
and denied access: ``AccessDenied``. A missing bucket: ``ContainerNotFound``; a missing
object: ``ObjectNotFound``. Everything else: ``PermanentDriverError``.

Messages are one line naming the endpoint and bucket (and object). They are built from
the error code and the first line of the server's message, never from botocore's own
text, and every configured secret (access key, secret key, SSE-C key) is blanked out of
them in case a server echoes one.
"""

from __future__ import annotations

import re
from typing import Iterable, Optional

from ember import errors

CREDENTIAL_CODES = frozenset((
    "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
    "InvalidSecurity", "AuthorizationHeaderMalformed", "InvalidClientTokenId"))
THROTTLING_CODES = frozenset((
    "SlowDown", "Throttling", "ThrottlingException", "ThrottledException",
    "RequestThrottled", "RequestThrottledException", "TooManyRequestsException",
    "RequestLimitExceeded", "ProvisionedThroughputExceededException",
    "BandwidthLimitExceeded", "EC2ThrottledException"))
TRANSIENT_CODES = frozenset((
    "RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete",
    "InternalError", "ServiceUnavailable", "BadDigest", "OperationAborted"))
#: what S3 answers a read of an SSE-C object without the key (AWS, SeaweedFS, MinIO)
_SSE_C_NEEDED = re.compile(r"server side encryption|customer (provided )?key|sse-?c",
                           re.IGNORECASE)


def _first_line(text: str, limit: int = 200) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _network_reason(exc: BaseException) -> str:
    """The OS-level cause (``[Errno 111] Connection refused``) out of urllib3's long
    wrapped messages, else what kind of failure it was."""
    inner = getattr(exc, "kwargs", {}).get("error")  # botocore keeps urllib3's error here
    found = re.search(r"\[Errno -?\d+\][^'\")]*", "%s %s" % (exc, inner or ""))
    if found:
        return found.group(0).strip()
    name = type(exc).__name__
    if "Timeout" in name:
        return "timed out"
    if name in ("IncompleteReadError", "ResponseStreamingError"):
        return "the answer was cut short"
    return name


def redact(message: str, secrets: Iterable[Optional[str]]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            message = message.replace(secret, "***")
    return message


def translate(exc: BaseException, *, where: str, bucket: str, name: Optional[str] = None,
              missing: str = "object", sse_c: bool = False) -> errors.EmberError:
    """The ``DriverError`` for ``exc`` raised while working on ``bucket``/``name`` at
    ``where``. ``missing`` says what a 404 means here: ``"object"`` or ``"bucket"``;
    ``sse_c`` that the request carried an SSE-C key."""
    from botocore import exceptions as boto

    target = "s3://%s/%s" % (bucket, name) if name else "bucket %s" % bucket
    subject = "S3 %s at %s" % (target, where)

    if isinstance(exc, errors.DriverError):
        return exc
    if not isinstance(exc, boto.ClientError):
        return _translate_unanswered(exc, subject)
    return _translate_answer(exc, subject, where=where, bucket=bucket, name=name,
                             missing=missing, sse_c=sse_c)


def _translate_unanswered(exc: BaseException, subject: str) -> errors.EmberError:
    """``translate`` of an error without an S3 answer: credentials, TLS, the network."""
    from botocore import exceptions as boto

    if isinstance(exc, boto.NoCredentialsError):
        return errors.ConfigError("%s: no credentials; set backup_s3_store_access_key and "
                                  "backup_s3_store_secret_key" % subject)
    if isinstance(exc, boto.SSLError):
        inner = str(getattr(exc, "kwargs", {}).get("error") or "")
        reason = re.sub(r"^\[SSL[^]]*\]\s*|\s*\(_ssl\.c:\d+\)$", "", inner) or "SSLError"
        return errors.PermanentDriverError(
            "%s: the TLS handshake failed (%s); check backup_s3_ca_cert_file or "
            "backup_s3_verify_ssl" % (subject, _first_line(reason)))
    if isinstance(exc, (boto.ConnectionError, boto.HTTPClientError, boto.IncompleteReadError,
                        boto.ResponseStreamingError, ConnectionError, TimeoutError)):
        return errors.TransientDriverError(
            "%s: cannot reach the server (%s)" % (subject, _network_reason(exc)))
    reason = _first_line(str(exc))
    return errors.PermanentDriverError("%s: %s: %s" % (subject, type(exc).__name__, reason))


def _translate_answer(exc, subject: str, *, where: str, bucket: str, name: Optional[str],
                      missing: str, sse_c: bool) -> errors.EmberError:
    """``translate`` of an error S3 answered (a ``ClientError``), by status and code."""
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = str(error.get("Code") or status or "")
    message = _first_line(error.get("Message") or "")
    said = "HTTP %s" % status + (" %s" % code if code != str(status) else "") \
        + (": %s" % message if message else "")

    if code in CREDENTIAL_CODES:
        return errors.AccessDenied(
            "%s: the credentials were refused (%s); check backup_s3_store_access_key and "
            "backup_s3_store_secret_key" % (subject, said))
    if status == 403 or code == "AccessDenied":
        if sse_c and name:
            return errors.AccessDenied(
                "%s: access denied (%s); the object was stored with another SSE-C key "
                "than backup_s3_sse_customer_key, or these credentials may not read it"
                % (subject, said))
        return errors.AccessDenied(
            "%s: access denied (%s); check the permissions of backup_s3_store_access_key "
            "on the bucket" % (subject, said))
    if status == 404 and missing == "bucket":
        return errors.ContainerNotFound(
            "S3 bucket %s does not exist at %s; create it or set backup_create_containers "
            "= True" % (bucket, where))
    if status == 404:  # NoSuchKey, or NoSuchBucket where an object was asked for
        return errors.ObjectNotFound("%s does not exist" % subject)
    if status == 400 and name and not sse_c and _SSE_C_NEEDED.search(message):
        return errors.PermanentDriverError(
            "%s: the object is encrypted with a customer key (%s); set "
            "backup_s3_sse_customer_key and backup_s3_sse_customer_algorithm to the key "
            "it was written with" % (subject, said))
    if code in THROTTLING_CODES or status in (429, 503):
        return errors.TransientDriverError(
            "%s: the server is throttling requests (%s)" % (subject, said))
    if code == "BadDigest":
        return errors.TransientDriverError(
            "%s: the server received other bytes than were sent (%s)" % (subject, said))
    if code in TRANSIENT_CODES or (status is not None and status >= 500):
        return errors.TransientDriverError("%s: %s" % (subject, said))
    return errors.PermanentDriverError("%s: %s" % (subject, said))
