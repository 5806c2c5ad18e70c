"""The backup services of an installation (Cinder's ``services`` table): each running
service registers a row and refreshes ``updated_at`` as its heartbeat; a service whose
last heartbeat is older than ``service_down_time`` is shown ``down``.
"""

from __future__ import annotations

import datetime
import uuid

import sqlalchemy as sa

from ember import policy as rules
from ember.catalog.models import Service, utcnow
from ember.catalog.views import iso
from ember.service.base import Shared

BACKUP_BINARY = "cinder-backup"
BACKUP_TOPIC = "cinder-backup"


class Services:
    """Register, heartbeat and list services."""

    def __init__(self, shared: Shared):
        self.shared = shared
        self.catalog, self.conf, self.policy = shared.catalog, shared.conf, shared.policy

    def register_service(self, binary: str = BACKUP_BINARY, topic: str = BACKUP_TOPIC,
                         host: str | None = None) -> int:
        """The id of this host's ``binary`` row (made or revived), heartbeat now."""
        host = host or self.conf.host
        now = utcnow()
        with self.catalog.session() as session:
            row = session.scalar(sa.select(Service).where(
                Service.host == host, Service.binary == binary, Service.deleted.is_(False)))
            if row is None:
                row = Service(host=host, binary=binary, topic=topic, report_count=0,
                              disabled=False, frozen=False, uuid=str(uuid.uuid4()),
                              availability_zone=self.conf.storage_availability_zone,
                              created_at=now)
                session.add(row)
            row.updated_at = now
            row.availability_zone = self.conf.storage_availability_zone
            session.flush()
            return row.id

    def service_heartbeat(self, service_id: int) -> None:
        with self.catalog.session() as session:
            session.execute(sa.update(Service).where(Service.id == service_id).values(
                report_count=Service.report_count + 1, updated_at=utcnow()))

    def list_services(self, ctx, *, host=None, binary=None) -> list[dict]:
        """Cinder's ``os-services`` entries (admin)."""
        self.policy.enforce(ctx, rules.SERVICE_LIST)
        stmt = sa.select(Service).where(Service.deleted.is_(False)).order_by(Service.id)
        if host is not None:
            stmt = stmt.where(Service.host == host)
        if binary is not None:
            stmt = stmt.where(Service.binary == binary)
        down_after = datetime.timedelta(seconds=self.conf.service_down_time)
        now = utcnow()
        with self.catalog.session() as session:
            return [{"binary": row.binary, "host": row.host, "zone": row.availability_zone,
                     "status": "disabled" if row.disabled else "enabled",
                     "state": "up" if now - (row.updated_at or row.created_at) <= down_after
                     else "down",
                     "updated_at": iso(row.updated_at), "disabled_reason": row.disabled_reason,
                     "cluster": row.cluster_name, "replication_status": row.replication_status,
                     "active_backend_id": row.active_backend_id, "frozen": row.frozen}
                    for row in session.scalars(stmt)]
