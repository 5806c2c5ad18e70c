"""``/os-services``: the backup services with host, zone, state and last heartbeat."""

from __future__ import annotations

from http import HTTPStatus


def index(req):
    services = req.service.list_services(req.context, host=req.params.get("host"),
                                         binary=req.params.get("binary"))
    keep = ("binary", "host", "zone", "status", "state", "updated_at", "disabled_reason")
    if req.matches((3, 7)):
        keep += ("cluster",)
    return HTTPStatus.OK, {"services": [{k: s[k] for k in keep} for s in services]}
