"""``/snapshots``: create (for ``backup create --snapshot``), list, show, delete and
reset-status, with Cinder's snapshot shapes."""

from __future__ import annotations

from http import HTTPStatus

from ember.api import validation as v
from ember.api.faults import bad_request

ACCEPTED, OK = HTTPStatus.ACCEPTED, HTTPStatus.OK

CREATE = v.wrapped("snapshot", v.obj({"volume_id": v.UUID, "name": v.NAME,
                                      "description": v.NAME, "force": v.BOOLEAN,
                                      "metadata": v.METADATA, "display_name": v.NAME,
                                      "display_description": v.NAME}, ["volume_id"]))


def detail_view(req, snap: dict) -> dict:
    return {"id": snap["id"], "name": snap["name"], "description": snap["description"],
            "status": snap["status"], "size": snap["size"], "volume_id": snap["volume_id"],
            "created_at": snap["created_at"], "updated_at": snap.get("updated_at"),
            "metadata": {}, "os-extended-snapshot-attributes:project_id": snap["project_id"],
            "os-extended-snapshot-attributes:progress": "100%",
            "links": req.link("snapshots", snap["id"])}


def show(req, id):
    return OK, {"snapshot": detail_view(req, req.service.get_snapshot(req.context, id))}


def _list(req):
    params = req.params
    snaps = req.service.list_snapshots(req.context, volume=params.get("volume_id"),
                                       all_projects=v.query_bool(params, "all_tenants"))
    if "name" in params:
        snaps = [s for s in snaps if s["name"] == params["name"]]
    if "status" in params:
        snaps = [s for s in snaps if s["status"] == params["status"]]
    return [detail_view(req, s) for s in snaps][:v.query_int(params, "limit")]


def index(req):
    return OK, {"snapshots": [{key: s[key] for key in ("id", "name", "status", "volume_id",
                                                       "size", "links")}
                              for s in _list(req)]}


def detail(req):
    return OK, {"snapshots": _list(req)}


def create(req):
    body = req.body_checked(CREATE)["snapshot"]
    snap = req.service.create_snapshot(
        req.context, body["volume_id"], body.get("name") or body.get("display_name"),
        description=body.get("description") or body.get("display_description"),
        force=v.as_bool(body.get("force", False)))
    return ACCEPTED, {"snapshot": detail_view(req, snap)}


def delete(req, id):
    req.service.delete_snapshot(req.context, id)
    return ACCEPTED, None


RESET = v.obj({"os-reset_status": v.obj({"status": {"type": "string", "maxLength": 255}},
                                        ["status"])}, ["os-reset_status"])


def action(req, id):
    body = v.parse_json(req.body)
    if isinstance(body, dict) and "os-reset_status" in body:
        status = v.check(RESET, body)["os-reset_status"]["status"]
        req.service.reset_snapshot_status(req.context, id, status)
        return ACCEPTED, None
    raise bad_request("There is no such action: %s. Verify the request body and "
                      "Content-Type header and try again."
                      % (", ".join(body) if isinstance(body, dict) and body else body))
