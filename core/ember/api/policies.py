"""``/backup-policies``: backup policies, an Ember extension (Cinder has none). The
same policy checks and project isolation as backups; the backups a policy makes count
against the project's backup quotas. Bodies are checked for shape here and for values
(cron, counts, percentages, durations, names) by the service, with one-line 400s."""

from __future__ import annotations

from http import HTTPStatus

from ember.api import validation as v
from ember.api.faults import bad_request

OK, CREATED, ACCEPTED = HTTPStatus.OK, HTTPStatus.CREATED, HTTPStatus.ACCEPTED
COUNT = {"type": ["integer", "string", "null"]}
CRON = {"type": ["string", "null"], "maxLength": 255}
VOLUMES = {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 255},
           "maxItems": 1000}
RETENTION = v.obj({key: ({"type": ["string", "null"], "maxLength": 64}
                         if key == "keep_within" else COUNT)
                   for key in ("keep_last", "keep_hourly", "keep_daily", "keep_weekly",
                               "keep_monthly", "keep_yearly", "keep_within")})
_FIELDS = {"name": v.NON_EMPTY_NAME, "description": v.NAME, "schedule": CRON,
           "full_every": COUNT, "max_chain": COUNT, "retention": RETENTION,
           "consolidate": v.BOOLEAN, "verify_schedule": CRON,
           "verify_percent": {"type": ["integer", "string", "null"]},
           "force": v.BOOLEAN, "project_default": v.BOOLEAN, "enabled": v.BOOLEAN}
CREATE = v.wrapped("backup_policy", v.obj(dict(_FIELDS, volumes=VOLUMES),
                                          ["name", "schedule"]))
UPDATE = v.wrapped("backup_policy", v.obj(_FIELDS))
ACTION = v.obj({"apply": v.obj({"volumes": VOLUMES}, ["volumes"]),
                "remove": v.obj({"volumes": VOLUMES}, ["volumes"])})
BOOLEANS = ("consolidate", "force", "project_default", "enabled")


def _view(req, policy: dict) -> dict:
    return dict(policy, links=req.link("backup-policies", policy["id"]))


def _fields(body: dict) -> dict:
    return {k: (v.as_bool(val) if k in BOOLEANS else val) for k, val in body.items()}


def index(req):
    policies = req.service.list_policies(
        req.context, all_projects=v.query_bool(req.params, "all_tenants"))
    return OK, {"backup_policies": [_view(req, p) for p in policies]}


def show(req, id):
    runs = v.query_int(req.params, "runs")
    policy = req.service.get_policy(req.context, id, runs=10 if runs is None else min(
        runs, 1000))
    return OK, {"backup_policy": _view(req, policy)}


def create(req):
    body = _fields(req.body_checked(CREATE)["backup_policy"])
    policy = req.service.create_policy(req.context, body.pop("name"),
                                       schedule=body.pop("schedule"),
                                       volumes=body.pop("volumes", []), **body)
    return CREATED, {"backup_policy": _view(req, policy)}


def update(req, id):
    body = _fields(req.body_checked(UPDATE)["backup_policy"])
    return OK, {"backup_policy": _view(req, req.service.update_policy(req.context, id,
                                                                      **body))}


def delete(req, id):
    req.service.delete_policy(req.context, id)
    return HTTPStatus.NO_CONTENT, None


def action(req, id):
    body = req.body_checked(ACTION)
    if len(body) != 1:
        raise bad_request("Give exactly one action: apply or remove.")
    name, args = next(iter(body.items()))
    operation = (req.service.apply_policy if name == "apply"
                 else req.service.remove_policy)
    return OK, {"backup_policy": _view(req, operation(req.context, id, args["volumes"]))}
