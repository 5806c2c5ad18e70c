"""``GET /dashboard``: one HTML page of every volume's protection state, the work going
on, recent failures with their reasons, the workers and two plots, rendered on the
server from ``ember/api/templates`` (Jinja2, autoescaped; no JavaScript, no build step,
nothing fetched from elsewhere: the stylesheet is inlined from the package).

A browser sends no ``X-Auth-Token`` header, so the page also takes the token from the
``ember_token`` cookie, which its sign-in form (``POST /dashboard/login``) sets:
HttpOnly, ``SameSite=Strict``, ``Path=/dashboard``, ``Secure`` under HTTPS. The cookie
is read for ``/dashboard`` only; the token is then checked exactly as the API checks
it (keystonemiddleware, or noauth).
"""

from __future__ import annotations

import functools
import time

import jinja2
import webob

from ember.api import svgplot

COOKIE = "ember_token"
PREFIX = "/dashboard"
#: a Keystone token is a few hundred bytes; refuse anything far larger
MAX_TOKEN = 8192


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("ember.api", "templates"),
                             autoescape=jinja2.select_autoescape(("html",)),
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["bytes"] = svgplot.human_bytes
    env.filters["age"] = _age
    env.filters["when"] = _when
    return env


def _when(iso: str | None) -> str:
    """``2026-12-05 08:22:00`` of a catalogue time (UTC, to the second)."""
    return "—" if not iso else iso.replace("T", " ")[:19]


def _age(seconds) -> str:
    if seconds is None:
        return "never"
    if seconds < 90:
        return "%d s" % seconds
    if seconds < 5400:
        return "%d min" % (seconds / 60)
    if seconds < 172800:
        return "%.1f h" % (seconds / 3600)
    return "%.1f days" % (seconds / 86400)


def _html(status: int, body: str) -> webob.Response:
    resp = webob.Response(status=status, content_type="text/html", charset="utf-8",
                          body=body.encode("utf-8"))
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Content-Security-Policy"] = ("default-src 'none'; style-src 'unsafe-inline'; "
                                               "img-src 'self'; form-action 'self'; "
                                               "frame-ancestors 'none'")
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


def page(service, ctx) -> webob.Response:
    """The dashboard for ``ctx``."""
    data = service.monitoring.dashboard(ctx)
    growth = svgplot.plot(data.growth, "repository size", svgplot.human_bytes, step=True)
    durations = svgplot.plot(data.durations, "backup duration", svgplot.human_seconds)
    body = _environment().get_template("dashboard.html").render(
        page=data, user=ctx.user_id, project=ctx.project_id, growth_svg=growth,
        duration_svg=durations, generated=time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                        time.gmtime()))
    return _html(200, body)


def sign_in_page(message: str | None = None) -> webob.Response:
    return _html(401, _environment().get_template("signin.html").render(message=message))


class SignIn:
    """In front of the authentication middleware: lets a browser hold its token in a
    cookie for ``/dashboard`` and asks for one when there is none."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            return self.app(environ, start_response)
        req = webob.Request(environ)
        if path == PREFIX + "/login" and req.method == "POST":
            return self._login(req)(environ, start_response)
        if path == PREFIX + "/logout":
            resp = webob.Response(status=303, location=PREFIX)
            resp.delete_cookie(COOKIE, path=PREFIX)
            return resp(environ, start_response)
        if "HTTP_X_AUTH_TOKEN" not in environ:
            token = req.cookies.get(COOKIE)
            if not token:
                return sign_in_page()(environ, start_response)
            environ["HTTP_X_AUTH_TOKEN"] = token
            resp = req.get_response(self.app)
            if resp.status_int == 401:  # expired or revoked: sign in again
                resp = sign_in_page("The token was refused; sign in again.")
                resp.delete_cookie(COOKIE, path=PREFIX)
            return resp(environ, start_response)
        return self.app(environ, start_response)

    @staticmethod
    def _login(req: webob.Request) -> webob.Response:
        origin = req.headers.get("Origin")
        if origin is not None and origin != req.host_url:  # another site's form
            return sign_in_page("Sign in from this page (the form came from %s)."
                                % origin[:100])
        token = req.POST.get("token", "").strip()
        if not token or len(token) > MAX_TOKEN or any(c in token for c in ";\r\n"):
            return sign_in_page("Paste a token (an X-Auth-Token value of at most %d "
                                "characters)." % MAX_TOKEN)
        resp = webob.Response(status=303, location=PREFIX)
        resp.set_cookie(COOKIE, token, path=PREFIX, httponly=True, samesite="strict",
                        secure=req.scheme == "https")
        return resp
