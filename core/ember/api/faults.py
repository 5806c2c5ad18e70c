"""Errors as Cinder's API returns them: ``{"itemNotFound": {"code": 404, "message": ...}}``.

``ApiError`` is raised by the API layer itself; ``ember.errors`` raised by the service are
mapped by :func:`from_ember_error`.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus

import webob

from ember import errors

FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden",
               404: "itemNotFound", 405: "badMethod", 406: "notAcceptable",
               409: "conflictingRequest", 413: "overLimit", 415: "badMediaType",
               501: "notImplemented", 503: "serviceUnavailable"}


class ApiError(Exception):
    """An HTTP error with a one-line message, rendered in Cinder's fault shape."""

    def __init__(self, code: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}


def bad_request(message: str) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, message)


def not_found(message: str = "The resource could not be found.") -> ApiError:
    return ApiError(HTTPStatus.NOT_FOUND, message)


#: service errors → HTTP codes (the rest are 500s); InvalidState is Cinder's 400
_CODES = [(errors.NotFound, 404), (errors.PolicyNotAuthorized, 403),
          (errors.QuotaExceeded, 413), (errors.InvalidState, 400),
          (errors.InvalidInput, 400), (errors.InvalidBackup, 400),
          (errors.OutsideRepository, 400)]
#: an absolute file system path in a message (not a URL, not a ratio like 3/4)
_SERVER_PATH = re.compile(r"(?<![\w.:/%-])/[^\s'\",;:()]+")


def from_ember_error(exc: errors.EmberError) -> ApiError:
    """The API's answer to a service error: its code, and its one-line message with
    every server path left out (a tenant has no business knowing them)."""
    message = _SERVER_PATH.sub("(a path on the server)", " ".join(str(exc).split()))
    for kind, code in _CODES:
        if isinstance(exc, kind):
            headers = {"Retry-After": "0"} if code == 413 else None
            return ApiError(code, message, headers)
    return ApiError(500, message)


def response(error: ApiError) -> webob.Response:
    name = FAULT_NAMES.get(error.code, "computeFault")
    body = {name: {"code": int(error.code), "message": error.message}}
    resp = webob.Response(status=int(error.code), content_type="application/json",
                          charset="utf-8", body=json.dumps(body).encode())
    resp.headers.update(error.headers)
    return resp
