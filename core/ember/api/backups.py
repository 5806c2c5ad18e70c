"""``/backups``: Cinder's backup API. Create, restore and delete return 202 at once: each
is one ``submit_*`` call (``ember.service.submit``) given the API's dispatcher, which runs
the work in the background."""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import urlencode

from ember import policy as rules
from ember.api import microversion as mv
from ember.api import validation as v
from ember.api.faults import bad_request

ACCEPTED, OK, CREATED = HTTPStatus.ACCEPTED, HTTPStatus.OK, HTTPStatus.CREATED

_CREATE = {"volume_id": v.UUID, "container": v.NAME, "description": v.NAME,
           "incremental": v.BOOLEAN, "force": v.BOOLEAN, "name": v.NAME,
           "snapshot_id": v.NULLABLE_UUID}
CREATE = {mv.MIN: v.wrapped("backup", v.obj(_CREATE, ["volume_id"])),
          mv.BACKUP_METADATA: v.wrapped("backup", v.obj(
              dict(_CREATE, metadata=v.METADATA), ["volume_id"])),
          mv.BACKUP_AZ: v.wrapped("backup", v.obj(
              dict(_CREATE, metadata=v.METADATA, availability_zone=v.NAME), ["volume_id"]))}
#: Ember's extension attribute (Cinder has no such field): a protected backup cannot be
#: deleted and survives prune; shown in the detail view, set through update
PROTECTED = "ember:protected"
UPDATE = {mv.BACKUP_UPDATE: v.wrapped("backup", v.obj({"name": v.NAME, "description": v.NAME,
                                                       PROTECTED: v.BOOLEAN})),
          mv.BACKUP_METADATA: v.wrapped("backup", v.obj({"name": v.NAME, "description": v.NAME,
                                                         "metadata": v.METADATA,
                                                         PROTECTED: v.BOOLEAN}))}
RESTORE = v.wrapped("restore", v.obj({"volume_id": v.NULLABLE_UUID, "name": v.NAME}))
IMPORT = v.wrapped("backup-record", v.obj({"backup_service": v.NON_EMPTY_NAME,
                                           "backup_url": {"type": "string", "minLength": 1,
                                                          "maxLength": 65535}},
                                          ["backup_service", "backup_url"]))
RESET = v.obj({"os-reset_status": v.obj({"status": {
    "type": "string", "enum": ["available", "error", "AVAILABLE", "ERROR", "Available",
                               "Error"]}}, ["status"])}, ["os-reset_status"])
FORCE_DELETE = v.obj({"os-force_delete": {"type": ["object", "null"], "properties": {},
                                          "additionalProperties": False}},
                     ["os-force_delete"])
SORT_KEYS = ("created_at", "updated_at", "name", "status", "size", "id",
             "data_timestamp", "volume_id")


def for_version(req, schemas: dict) -> dict:
    """The schema of the newest microversion in ``schemas`` the request reaches."""
    return schemas[max(k for k in schemas if req.matches(k))]


# --- views ------------------------------------------------------------------------------------
def summary_view(req, backup: dict) -> dict:
    return {"id": backup["id"], "name": backup["name"],
            "links": req.link("backups", backup["id"])}


def detail_view(req, backup: dict, *, attributes: bool) -> dict:
    """Cinder's detail view at the request's microversion; ``attributes``: the caller
    may see project and user (``backup:backup_project_attribute``)."""
    view = {key: backup[key] for key in (
        "id", "status", "size", "object_count", "availability_zone", "container",
        "created_at", "updated_at", "name", "description", "fail_reason", "volume_id",
        "is_incremental", "has_dependent_backups", "snapshot_id", "data_timestamp")}
    view["links"] = req.link("backups", backup["id"])
    view[PROTECTED] = backup["protected"]
    if req.matches(mv.BACKUP_METADATA):
        view["metadata"] = backup["metadata"]
    if req.matches(mv.ENCRYPTION_KEY_ID_IN_DETAILS) and backup["encryption_key_id"]:
        view["encryption_key_id"] = backup["encryption_key_id"]
    if attributes and req.matches(mv.BACKUP_PROJECT):
        view["os-backup-project-attr:project_id"] = backup["project_id"]
    if attributes and req.matches(mv.BACKUP_PROJECT_USER_ID):
        view["user_id"] = backup["user_id"]
    return view


def _attributes(req) -> bool:
    return req.service.policy.allowed(req.context, rules.PROJECT_ATTRIBUTE)


# --- reads ------------------------------------------------------------------------------------
def show(req, id):
    backup = req.service.get_backup(req.context, id)
    return OK, {"backup": detail_view(req, backup, attributes=_attributes(req))}


def index(req):
    return _list(req, lambda b: summary_view(req, b), "backups")


def detail(req):
    attributes = _attributes(req)
    return _list(req, lambda b: detail_view(req, b, attributes=attributes), "backups/detail")


def _sort(params):
    """Cinder's ``sort=key[:dir],...`` or legacy ``sort_key``/``sort_dir``."""
    if "sort" in params:
        sort = params["sort"]
    elif "sort_key" in params or "sort_dir" in params:
        sort = "%s:%s" % (params.get("sort_key", "created_at"), params.get("sort_dir", "desc"))
    else:
        return None
    parts = []
    for part in sort.split(","):
        key, _, direction = part.strip().partition(":")
        key = "name" if key == "display_name" else key
        if key not in SORT_KEYS or direction.lower() not in ("", "asc", "desc"):
            raise bad_request("Invalid sort key or direction '%s': use key[:asc|desc] with "
                              "key one of %s." % (part, ", ".join(SORT_KEYS)))
        parts.append(key + (":" + direction.lower() if direction else ""))
    return ",".join(parts)


def _list(req, view, collection: str):
    params = req.params
    max_limit = req.service.conf.osapi_max_limit
    limit = v.query_int(params, "limit")
    limit = max_limit if limit is None else min(limit, max_limit)
    all_projects = v.query_bool(params, "all_tenants")
    backups = req.service.list_backups(
        req.context, name=params.get("name"), status=params.get("status"),
        volume=params.get("volume_id"), all_projects=all_projects,
        marker=params.get("marker"), limit=limit, sort=_sort(params))
    body = {"backups": [view(b) for b in backups]}
    if backups and len(backups) == limit:
        query = [(k, val) for k, val in params.items() if k != "marker"]
        query.append(("marker", backups[-1]["id"]))
        body["backups_links"] = [{"rel": "next", "href": "%s/%s?%s" % (
            req.base(), collection, urlencode(query))}]
    if req.matches((3, 45)) and v.query_bool(params, "with_count"):
        body["count"] = len(req.service.list_backups(
            req.context, name=params.get("name"), status=params.get("status"),
            volume=params.get("volume_id"), all_projects=all_projects))
    return OK, body


# --- writes -----------------------------------------------------------------------------------
def create(req):
    body = req.body_checked(for_version(req, CREATE))["backup"]
    backup = req.service.submit_create_backup(
        req.context, body["volume_id"], dispatcher=req.dispatcher, name=body.get("name"),
        description=body.get("description"), container=body.get("container"),
        incremental=v.as_bool(body.get("incremental", False)),
        force=v.as_bool(body.get("force", False)), snapshot=body.get("snapshot_id"),
        metadata=body.get("metadata"), availability_zone=body.get("availability_zone"))
    return ACCEPTED, {"backup": summary_view(req, backup)}


def update(req, id):
    if not req.matches(mv.BACKUP_UPDATE):
        raise bad_request("Updating a backup needs microversion 3.9 or later.")
    body = req.body_checked(for_version(req, UPDATE))["backup"]
    backup = req.service.update_backup(
        req.context, id, name=body.get("name"), description=body.get("description"),
        properties=body.get("metadata"), no_property="metadata" in body,
        protected=v.as_bool(body[PROTECTED]) if PROTECTED in body else None)
    return OK, {"backup": summary_view(req, backup)}


def delete(req, id):
    _delete(req, id, force=False)
    return ACCEPTED, None


def _delete(req, ref, *, force: bool) -> None:
    req.service.submit_delete(req.context, ref, dispatcher=req.dispatcher, force=force)


def action(req, id):
    body = v.parse_json(req.body)
    if isinstance(body, dict) and "os-force_delete" in body:
        v.check(FORCE_DELETE, body)
        _delete(req, id, force=True)
        return ACCEPTED, None
    if isinstance(body, dict) and "os-reset_status" in body:
        status = v.check(RESET, body)["os-reset_status"]["status"]
        req.service.reset_backup_status(req.context, id, status.lower())
        return ACCEPTED, None
    raise bad_request("There is no such action: %s. Verify the request body and "
                      "Content-Type header and try again."
                      % (", ".join(body) if isinstance(body, dict) and body else body))


def restore(req, id):
    body = req.body_checked(RESTORE)["restore"]
    result = req.service.submit_restore(req.context, id, body.get("volume_id"),
                                        dispatcher=req.dispatcher, name=body.get("name"))
    return ACCEPTED, {"restore": {key: result[key] for key in
                                  ("backup_id", "volume_id", "volume_name")}}


def export_record(req, id):
    return OK, {"backup-record": req.service.export_record(req.context, id)}


def import_record(req):
    record = req.body_checked(IMPORT)["backup-record"]
    backup = req.service.import_record(req.context, record["backup_service"],
                                       record["backup_url"])
    return CREATED, {"backup": summary_view(req, backup)}
