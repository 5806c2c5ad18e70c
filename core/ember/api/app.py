"""The WSGI application: version documents without authentication (the clients discover
before they authenticate), everything else behind the configured auth middleware, all
behind oslo.middleware's request id, proxy headers and body size limit."""

from __future__ import annotations

import json

import webob
from oslo_middleware import http_proxy_to_wsgi, request_id, sizelimit

from ember.api import auth, dashboard, faults, pages, versions
from ember.api import opts as api_opts
from ember.api.router import Router


class Versions:
    """``/`` answers 300 with every version (as Cinder), ``/v3`` and ``/v3/`` 200 with
    v3's, a path that is not UTF-8 404; the rest goes on to ``app``."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "") or "/"
        try:  # WSGI hands the path over as latin-1; a URL that is not UTF-8 names nothing
            path.encode("latin-1").decode("utf-8")
        except UnicodeError:
            return faults.response(faults.not_found())(environ, start_response)
        if path not in ("/", "/v3", "/v3/") or environ["REQUEST_METHOD"] != "GET":
            return self.app(environ, start_response)
        req = webob.Request(environ)
        if path == "/":
            status, body = 300, versions.document(req.host_url)
        else:
            status, body = 200, {"versions": [versions.v3(req.host_url)]}
        resp = webob.Response(status=status, content_type="application/json",
                              charset="utf-8", body=json.dumps(body).encode())
        return resp(environ, start_response)


def make_app(conf, service=None, dispatcher=None):
    """The API for ``conf``: ``service`` (an ``ember.service.Ember``) and ``dispatcher``
    (where background work goes) are made from ``conf`` unless given."""
    api_opts.register(conf)
    if service is None:
        from ember.service import Ember

        service = Ember(conf)
    if dispatcher is None:
        from ember.workers.dispatcher import make_dispatcher

        dispatcher = make_dispatcher(conf, service, conf.backup_api_threads)
    app = pages.Pages(Router(service, dispatcher), service)
    if conf.auth_strategy == "noauth":
        app = auth.NoAuth(app)
    else:
        app = auth.keystone(app, conf)
    app = dashboard.SignIn(app)
    app = pages.MetricsListener(Versions(app), service, conf.metrics_listen_port)
    app = sizelimit.RequestBodySizeLimiter(app, conf)
    app = request_id.RequestId(app)
    return http_proxy_to_wsgi.HTTPProxyToWSGI(app, conf)
