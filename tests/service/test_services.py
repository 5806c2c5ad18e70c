"""The services table: a registered service heartbeats, lists up, and goes down when its
heartbeats stop."""

import datetime

import pytest
import sqlalchemy as sa
from ember import errors
from ember.catalog.models import Service, utcnow
from ember.context import RequestContext

ADMIN = RequestContext.default()
MEMBER = RequestContext(user_id="u1", project_id="p1", roles=("member", "reader"))


def test_register_heartbeat_and_list(service, conf):
    sid = service.register_service()
    assert service.register_service() == sid  # the same host and binary: one row
    service.service_heartbeat(sid)
    [entry] = service.list_services(ADMIN)
    assert {k: entry[k] for k in ("binary", "host", "zone", "status", "state")} == {
        "binary": "cinder-backup", "host": conf.host, "zone": "nova", "status": "enabled",
        "state": "up"}
    with service.catalog.session() as session:
        assert session.get(Service, sid).report_count == 1
        session.execute(sa.update(Service).values(
            updated_at=utcnow() - datetime.timedelta(seconds=conf.service_down_time + 1)))
    assert service.list_services(ADMIN)[0]["state"] == "down"
    assert service.list_services(ADMIN, binary="cinder-volume") == []


def test_only_admins_list_services(service):
    with pytest.raises(errors.PolicyNotAuthorized):
        service.list_services(MEMBER)
