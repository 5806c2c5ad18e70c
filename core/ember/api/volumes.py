"""``/volumes``: what the clients call around backups (create, list/detail with name
lookups, show, update, delete, reset-status), with Cinder's volume shapes."""

from __future__ import annotations

from http import HTTPStatus

from ember.api import validation as v
from ember.api.faults import bad_request

ACCEPTED, OK = HTTPStatus.ACCEPTED, HTTPStatus.OK

#: sources Cinder can create a volume from and Ember cannot (refused when given)
UNSUPPORTED_SOURCES = ("snapshot_id", "source_volid", "imageRef", "backup_id",
                       "consistencygroup_id", "group_id")
CREATE = v.obj({"volume": v.obj(dict(
    {"size": v.SIZE, "name": v.NAME, "description": v.NAME, "metadata": v.METADATA,
     "availability_zone": v.NAME, "volume_type": v.NAME, "multiattach": v.BOOLEAN,
     "display_name": v.NAME, "display_description": v.NAME},
    **{key: {"type": ["string", "null"]} for key in UNSUPPORTED_SOURCES}), ["size"])},
    ["volume"], extra=True)  # OS-SCH-HNT:scheduler_hints may come along
UPDATE = v.wrapped("volume", v.obj({"name": v.NAME, "description": v.NAME,
                                    "metadata": v.METADATA, "display_name": v.NAME,
                                    "display_description": v.NAME}))
RESET = v.obj({"os-reset_status": v.obj({"status": {"type": "string", "maxLength": 255},
                                         "attach_status": {"type": ["string", "null"]},
                                         "migration_status": {"type": ["string", "null"]}})},
              ["os-reset_status"])


def detail_view(req, vol: dict, *, admin: bool) -> dict:
    view = {"id": vol["id"], "name": vol["name"], "description": vol["description"],
            "status": vol["status"], "size": vol["size"],
            "availability_zone": vol["availability_zone"], "created_at": vol["created_at"],
            "updated_at": vol["updated_at"],
            "attachments": [{"server_id": a["server_id"], "volume_id": vol["id"],
                             "attachment_id": vol["id"], "device": None}
                            for a in vol["attachments"]],
            "bootable": "true" if vol["bootable"] else "false",
            "encrypted": bool(vol["encryption_key_id"]), "metadata": vol["metadata"],
            "volume_type": vol["volume_type"], "snapshot_id": None, "source_volid": None,
            "user_id": vol["user_id"], "multiattach": False, "replication_status": None,
            "consistencygroup_id": None, "migration_status": None,
            "links": req.link("volumes", vol["id"])}
    if admin:
        view["os-vol-tenant-attr:tenant_id"] = vol["project_id"]
        view["os-vol-host-attr:host"] = req.service.conf.host
    return view


def summary_view(req, vol: dict) -> dict:
    return {"id": vol["id"], "name": vol["name"], "links": req.link("volumes", vol["id"])}


def _admin(req) -> bool:
    return req.service.policy.allowed(req.context, "admin_api")


def show(req, id):
    return OK, {"volume": detail_view(req, req.service.get_volume(req.context, id),
                                      admin=_admin(req))}


def _list(req, view):
    params = req.params
    vols = req.service.list_volumes(req.context, name=params.get("name"),
                                    status=params.get("status"),
                                    all_projects=v.query_bool(params, "all_tenants"))
    return OK, {"volumes": [view(vol) for vol in vols][:_limit(req)]}


def _limit(req) -> int:
    """``?limit=``, at most ``osapi_max_limit`` (also without one), as Cinder."""
    max_limit = req.service.conf.osapi_max_limit
    limit = v.query_int(req.params, "limit")
    return max_limit if limit is None else min(limit, max_limit)


def index(req):
    return _list(req, lambda vol: summary_view(req, vol))


def detail(req):
    admin = _admin(req)
    return _list(req, lambda vol: detail_view(req, vol, admin=admin))


def create(req):
    body = req.body_checked(CREATE)["volume"]
    for key in UNSUPPORTED_SOURCES:
        if body.get(key):
            raise bad_request("Ember creates empty volumes only; restore a backup to make "
                              "one with data (%s is not supported)." % key)
    vol = req.service.create_volume(
        req.context, body.get("name") or body.get("display_name"), size=int(body["size"]),
        description=body.get("description") or body.get("display_description"),
        metadata=body.get("metadata"))
    return ACCEPTED, {"volume": detail_view(req, vol, admin=_admin(req))}


def update(req, id):
    body = req.body_checked(UPDATE)["volume"]
    vol = req.service.update_volume(
        req.context, id, name=body.get("name", body.get("display_name")),
        description=body.get("description", body.get("display_description")),
        metadata=body.get("metadata"))
    return OK, {"volume": detail_view(req, vol, admin=_admin(req))}


def delete(req, id):
    force = v.query_bool(req.params, "force")
    req.service.delete_volume(req.context, id, force=force)
    return ACCEPTED, None


def action(req, id):
    body = v.parse_json(req.body)
    if isinstance(body, dict) and "os-reset_status" in body:
        status = v.check(RESET, body)["os-reset_status"].get("status")
        if status:
            req.service.update_volume(req.context, id, status=status)
        return ACCEPTED, None
    if isinstance(body, dict) and "os-force_delete" in body:
        req.service.delete_volume(req.context, id, force=True)
        return ACCEPTED, None
    raise bad_request("There is no such action: %s. Verify the request body and "
                      "Content-Type header and try again."
                      % (", ".join(body) if isinstance(body, dict) and body else body))
