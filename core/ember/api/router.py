"""URL routing (the Routes library, as Cinder): every resource under
``/v3/{project_id}/...`` and, from microversion 3.67, under ``/v3/...`` too."""

from __future__ import annotations

import json
import logging

import routes
import webob
import webob.exc

from ember import errors
from ember.api import faults, microversion, validation
from ember.api.faults import ApiError
from ember.api.request import ApiRequest

LOG = logging.getLogger(__name__)

#: (method, path below the project, "module:function" of the handler)
ROUTES = [
    ("GET", "/backups", "backups:index"),
    ("GET", "/backups/detail", "backups:detail"),
    ("POST", "/backups", "backups:create"),
    ("POST", "/backups/import_record", "backups:import_record"),
    ("GET", "/backups/{id}", "backups:show"),
    ("PUT", "/backups/{id}", "backups:update"),
    ("DELETE", "/backups/{id}", "backups:delete"),
    ("POST", "/backups/{id}/action", "backups:action"),
    ("POST", "/backups/{id}/restore", "backups:restore"),
    ("GET", "/backups/{id}/export_record", "backups:export_record"),
    ("GET", "/volumes", "volumes:index"),
    ("GET", "/volumes/detail", "volumes:detail"),
    ("POST", "/volumes", "volumes:create"),
    ("GET", "/volumes/{id}", "volumes:show"),
    ("PUT", "/volumes/{id}", "volumes:update"),
    ("DELETE", "/volumes/{id}", "volumes:delete"),
    ("POST", "/volumes/{id}/action", "volumes:action"),
    ("GET", "/snapshots", "snapshots:index"),
    ("GET", "/snapshots/detail", "snapshots:detail"),
    ("POST", "/snapshots", "snapshots:create"),
    ("GET", "/snapshots/{id}", "snapshots:show"),
    ("DELETE", "/snapshots/{id}", "snapshots:delete"),
    ("POST", "/snapshots/{id}/action", "snapshots:action"),
    ("GET", "/os-quota-sets/{target}", "quotas:show"),
    ("GET", "/os-quota-sets/{target}/defaults", "quotas:defaults"),
    ("PUT", "/os-quota-sets/{target}", "quotas:update"),
    ("DELETE", "/os-quota-sets/{target}", "quotas:delete"),
    ("GET", "/os-services", "services:index"),
    ("GET", "/backup-policies", "policies:index"),
    ("POST", "/backup-policies", "policies:create"),
    ("GET", "/backup-policies/{id}", "policies:show"),
    ("PUT", "/backup-policies/{id}", "policies:update"),
    ("DELETE", "/backup-policies/{id}", "policies:delete"),
    ("POST", "/backup-policies/{id}/action", "policies:action"),
]


def _controllers() -> dict:
    from ember.api import backups, policies, quotas, services, snapshots, volumes

    return {"backups": backups, "volumes": volumes, "snapshots": snapshots,
            "quotas": quotas, "services": services, "policies": policies}


def _mapper() -> routes.Mapper:
    mapper = routes.Mapper()
    for prefix in ("/v3", "/v3/{project_id}"):
        for method, path, handler in ROUTES:
            mapper.connect(prefix + path, handler=handler, conditions={"method": [method]})
    return mapper


class Router:
    """The authenticated part of the API: finds the controller, negotiates the
    microversion, checks the URL's project, and renders results and faults as JSON."""

    def __init__(self, service, dispatcher):
        self.service = service
        self.dispatcher = dispatcher
        self.mapper = _mapper()
        self.controllers = _controllers()

    def __call__(self, environ, start_response):
        req = ApiRequest(environ)
        version = None
        try:
            version = microversion.negotiate(environ)
            resp = self._handle(req, version)
        except ApiError as exc:
            resp = faults.response(exc)
        except webob.exc.HTTPException as exc:  # a chunked body over the size limit
            resp = faults.response(_http_error(exc))
        except errors.EmberError as exc:
            resp = faults.response(faults.from_ember_error(exc))
        except Exception:  # a bug: logged with its traceback, a 500 without internals
            LOG.exception("%s %s failed", req.method, req.path)
            resp = faults.response(ApiError(500, "The server has either erred or is "
                                                 "incapable of performing the requested "
                                                 "operation."))
        if version is not None:
            resp.headers[microversion.HEADER] = "volume " + microversion.text(version)
            resp.headers["Vary"] = microversion.HEADER
        return resp(environ, start_response)

    def _handle(self, req: ApiRequest, version) -> webob.Response:
        _check_url(req)
        match = self.mapper.match(environ=req.environ)
        if match is None:
            if self.mapper.match(req.path_info) is not None:
                raise ApiError(405, "The method %s is not allowed for this resource."
                               % req.method)
            raise faults.not_found()
        args = dict(match)
        module_name, _, func_name = args.pop("handler").partition(":")
        project = args.pop("project_id", None)
        if project is None:
            if version < microversion.PROJECT_ID_OPTIONAL_IN_URL:
                raise faults.not_found()
        elif project != req.context.project_id:
            raise faults.bad_request("Malformed request url")
        req.environ.update({"ember.api_version": version, "ember.url_project": project,
                            "ember.service": self.service,
                            "ember.dispatcher": self.dispatcher})
        status, body = getattr(self.controllers[module_name], func_name)(req, **args)
        resp = webob.Response(status=status)
        if body is not None:
            resp.content_type = "application/json"
            resp.charset = "utf-8"
            resp.body = json.dumps(body).encode()
        else:
            resp.content_type = None
        return resp


def _check_url(req: ApiRequest) -> None:
    """A NUL names nothing (404); a query string must be UTF-8 text (400): neither may
    reach the catalogue, where PostgreSQL refuses NULs."""
    if "\x00" in req.environ.get("PATH_INFO", ""):
        raise faults.not_found()
    try:
        params = list(req.GET.items())
    except UnicodeDecodeError:
        raise faults.bad_request("The query string is not UTF-8: percent-encode UTF-8 "
                                 "text.") from None
    for key, value in params:
        problem = validation.bad_text(key) or validation.bad_text(value)
        if problem:
            raise faults.bad_request("Invalid query parameter %s: it %s."
                                     % (json.dumps(key), problem))


def _http_error(exc: webob.exc.HTTPException) -> ApiError:
    if exc.code == 413:
        return ApiError(413, "Request is too large.")
    return ApiError(exc.code, exc.title + ".")
