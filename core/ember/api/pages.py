"""The two resources outside ``/v3``: ``GET /metrics`` and ``GET /dashboard``.

``Pages`` sits behind the authentication middleware, like the API: ``/metrics`` needs
policy ``ember:metrics`` (administrators), ``/dashboard`` policy ``ember:dashboard``
(a member sees its own project). ``MetricsListener`` serves ``/metrics`` without a token,
and nothing else, to connections that arrive on ``metrics_listen_port`` (gunicorn tells
the port a connection came in on; another WSGI server never gets this door).
"""

from __future__ import annotations

import logging

import webob

from ember import errors
from ember.api import dashboard, metrics
from ember.context import RequestContext

LOG = logging.getLogger(__name__)
#: who reads /metrics on the unauthenticated listener (it can only read metrics)
SCRAPER = RequestContext(user_id="metrics-listener", project_id="metrics-listener",
                         roles=("admin",))


def _text(status: int, message: str) -> webob.Response:
    return webob.Response(status=status, content_type="text/plain", charset="utf-8",
                          body=(message + "\n").encode("utf-8"))


def metrics_response(service, ctx) -> webob.Response:
    return webob.Response(status=200, body=metrics.render(service.monitoring.metrics(ctx)),
                          content_type=metrics.CONTENT_TYPE.split(";")[0],
                          charset="utf-8")


def _answer(handler, service, ctx) -> webob.Response:
    try:
        return handler(service, ctx)
    except errors.PolicyNotAuthorized as exc:
        return _text(403, str(exc))
    except Exception:  # a bug or the catalogue away: logged, a 500 without internals
        LOG.exception("monitoring page failed")
        return _text(500, "The page could not be made; see the ember-api log.")


class Pages:
    """``/metrics`` and ``/dashboard`` for authenticated callers; the rest to ``app``."""

    def __init__(self, app, service):
        self.app = app
        self.service = service

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        handler = {"/metrics": metrics_response, "/dashboard": dashboard.page,
                   "/dashboard/": dashboard.page}.get(path)
        if handler is None:
            return self.app(environ, start_response)
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            resp = _text(405, "Only GET is allowed here.")
            resp.allow = "GET, HEAD"
        else:
            resp = _answer(handler, self.service, environ["ember.context"])
        return resp(environ, start_response)


def local_port(environ) -> int | None:
    """The port of this server the connection arrived on (gunicorn only)."""
    sock = environ.get("gunicorn.socket")
    try:
        return sock.getsockname()[1] if sock is not None else None
    except (OSError, IndexError, TypeError):
        return None


class MetricsListener:
    """Connections on ``port`` get ``GET /metrics`` without authentication and nothing else."""

    def __init__(self, app, service, port: int | None):
        self.app = app
        self.service = service
        self.port = port

    def __call__(self, environ, start_response):
        if not self.port or local_port(environ) != self.port:
            return self.app(environ, start_response)
        if environ.get("PATH_INFO") != "/metrics":
            resp = _text(404, "Only /metrics is served on this port.")
        elif environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            resp = _text(405, "Only GET is allowed here.")
        else:
            resp = _answer(metrics_response, self.service, SCRAPER)
        return resp(environ, start_response)
