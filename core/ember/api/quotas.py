"""``/os-quota-sets``: Cinder's quota sets (show with ``?usage=True``, defaults, update,
delete)."""

from __future__ import annotations

from http import HTTPStatus

from ember.api import validation as v

OK = HTTPStatus.OK
UPDATE = v.obj({"quota_set": {"type": "object"}}, ["quota_set"])
#: keys clients send along that are not limits
NON_QUOTA_KEYS = ("tenant_id", "id")


def _set(target: str, values: dict) -> dict:
    return {"quota_set": dict(values, id=target)}


def show(req, target):
    usage = v.query_bool(req.params, "usage")
    return OK, _set(target, req.service.get_quotas(req.context, target, usage=usage))


def defaults(req, target):
    return OK, _set(target, req.service.quota_defaults(req.context, target))


def update(req, target):
    values = {key: value for key, value in req.body_checked(UPDATE)["quota_set"].items()
              if key not in NON_QUOTA_KEYS}
    return OK, {"quota_set": req.service.update_quotas(req.context, target, values)}


def delete(req, target):
    req.service.delete_quotas(req.context, target)
    return OK, None
