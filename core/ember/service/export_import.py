"""Backup records: export as Cinder does, and import records exported by Ember or Cinder.
"""

from __future__ import annotations

from ember import errors
from ember import policy as rules
from ember.catalog import records, tenancy, views
from ember.catalog.models import Backup, utcnow
from ember.catalog.states import (
    BackupStatus,
)
from ember.service.base import Shared


class Records:
    """``export_record`` and ``import_record``."""

    def __init__(self, shared: Shared, quotas):
        self.shared = shared
        self.catalog, self.conf, self.policy = shared.catalog, shared.conf, shared.policy
        self.quotas = quotas

    def export_record(self, ctx, ref) -> dict:
        """``{"backup_service", "backup_url"}`` exactly as Cinder exports it."""
        with self.catalog.session() as session:
            row = self.shared.backup(session, ctx, ref)
            self.policy.enforce(ctx, rules.EXPORT, row.project_id)
            if row.status != BackupStatus.AVAILABLE:
                raise errors.InvalidState('Backup %s status must be available to export it, '
                                          'but the current status is "%s".'
                                          % (row.id, row.status))
            return {"backup_service": row.service, "backup_url": records.encode(row)}

    def import_record(self, ctx, backup_service, backup_url) -> dict:
        """Import a record exported by Ember or Cinder; returns the backup (status
        ``available``, owned by the caller). Everything is checked first: a refused
        record changes nothing."""
        self.policy.enforce(ctx, rules.IMPORT)
        if not backup_service or len(str(backup_service)) > 255:
            raise errors.InvalidInput("Invalid backup record: backup_service must name the "
                                      "driver that wrote the backup.")
        values = records.decode(backup_url)
        from ember.loader import same_layout

        mine = self.shared.layout.cinder_service
        try:
            usable = backup_service == mine or same_layout(self.shared.conf, backup_service,
                                                           mine)
        except errors.DriverNotFound:
            usable = False
        if not usable:
            raise errors.InvalidInput("Invalid backup record: backup service %s cannot be "
                                      "read by the configured driver %s." % (backup_service,
                                                                             mine))
        with self.catalog.session() as session:
            old = session.get(Backup, values["id"])
            if old is not None and not (old.deleted or old.status == BackupStatus.DELETED):
                raise errors.InvalidState("Backup already exists in database.")
            tenancy.refuse_shared_objects(session, values["id"], values["container"],
                                          values["service_metadata"])
            tenancy.refuse_cross_project_chain(session, values["id"], values["parent_id"],
                                               ctx.project_id)
            if old is not None:
                session.delete(old)
                session.flush()
            self.quotas.reserve_backup(session, ctx.project_id, values.get("size") or 0)
            values["availability_zone"] = (values["availability_zone"]
                                           or self.conf.storage_availability_zone)
            row = Backup(user_id=ctx.user_id, project_id=ctx.project_id,
                         status=BackupStatus.AVAILABLE, service=mine, host=self.conf.host,
                         **values)
            if row.created_at is None:
                row.created_at = utcnow()
            if row.data_timestamp is None:
                row.data_timestamp = row.created_at
            session.add(row)
            session.flush()
            for counted in filter(None, (row.parent_id, row.id)):
                tenancy.count_dependents(session, counted)
            session.refresh(row)
            return views.backup_view(row)
