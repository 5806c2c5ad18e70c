"""Who is calling: ``noauth`` (Cinder's NoAuthMiddleware semantics) or a context made
from the headers keystonemiddleware's ``auth_token`` sets after checking the token."""

from __future__ import annotations

import webob

from ember.api import faults
from ember.api.faults import ApiError
from ember.context import RequestContext

#: roles every noauth caller holds (Cinder's noauth makes every context an admin)
NOAUTH_ROLES = ("admin", "member", "reader")


def _url_project(path: str) -> str | None:
    parts = path.strip("/").split("/")
    return parts[1] if len(parts) > 1 and parts[0] == "v3" else None


class NoAuth:
    """``X-Auth-Token: user:project`` (project defaults to the user). OpenStackClient's
    ``--os-auth-type none`` sends ``notused``: a token without a project takes the URL's.
    Without a token, Cinder's fake-token reply (204 with ``X-Auth-Token``)."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        req = webob.Request(environ)
        token = req.headers.get("X-Auth-Token")
        if token is None:
            user = req.headers.get("X-Auth-User", "admin")
            project = req.headers.get("X-Auth-Project-Id", "admin")
            resp = webob.Response(status=204)
            resp.headers["X-Auth-Token"] = "%s:%s" % (user, project)
            resp.headers["X-Server-Management-Url"] = req.url.rstrip("/")
            resp.content_type = "text/plain"
            return resp(environ, start_response)
        user, sep, project = token.partition(":")
        if not sep:
            project = _url_project(req.path_info) or user
        if not user or len(user) > 255 or len(project or "") > 255:
            return faults.response(ApiError(401, "The X-Auth-Token must be user[:project] "
                                                 "with at most 255 characters each."))(
                environ, start_response)
        environ["ember.context"] = RequestContext(user_id=user, project_id=project or user,
                                                  roles=NOAUTH_ROLES)
        return self.app(environ, start_response)


class KeystoneContext:
    """The context from the identity headers ``auth_token`` set (X-User-Id,
    X-Project-Id, X-Roles); a request without them is refused."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        user = environ.get("HTTP_X_USER_ID") or environ.get("HTTP_X_USER")
        project = environ.get("HTTP_X_PROJECT_ID") or environ.get("HTTP_X_TENANT_ID")
        if not user or not project:
            return faults.response(ApiError(401, "Authentication required"))(
                environ, start_response)
        roles = tuple(r.strip().lower() for r in environ.get("HTTP_X_ROLES", "").split(",")
                      if r.strip())
        environ["ember.context"] = RequestContext(user_id=user, project_id=project,
                                                  roles=roles)
        return self.app(environ, start_response)


def keystone(app, conf):
    """``app`` behind keystonemiddleware's auth_token ([keystone_authtoken] options of
    ``conf``) and the context middleware."""
    from keystonemiddleware import auth_token

    return auth_token.AuthProtocol(KeystoneContext(app), {"oslo_config_config": conf})
