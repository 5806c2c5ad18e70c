"""The repository operations behind the service door: ``verify_backup`` (read every
object of a chain, change nothing) and ``scan_repository`` (import the backups a
repository holds that the catalogue does not know). The reading is done by
``ember.repository``; the rows are written here.
"""

from __future__ import annotations

import sqlalchemy as sa

from ember import policy as rules
from ember.catalog.models import Backup
from ember.catalog.states import BackupStatus
from ember.service.base import Progress, ServiceBase


class RepositoryMixin(ServiceBase):
    """``verify_backup`` and ``scan_repository``."""

    def verify_backup(self, ctx, ref, progress: Progress | None = None):
        """Read every object of backup ``ref``'s chain and check it (md5, decompression,
        the sha256 list); returns an ``ember.repository.verify.VerifyReport`` naming the
        missing, extra and corrupt objects. Needs ``backup:get``; a backup still being
        written or deleted is refused (``InvalidState``); writes nothing.
        ``progress(done, total)`` hears the bytes of objects checked so far."""
        from ember.repository.verify import verify_chain  # imported late: start-up stays light

        return verify_chain(self.driver, self.backup_chain(ctx, ref, purpose="verify"),
                            progress)

    def scan_repository(self, ctx, *, container: str | None = None,
                        dry_run: bool = False) -> list[dict]:
        """Import every backup of the repository the catalogue does not know (admin:
        policy ``backup:backup-import``). Returns one dict per backup found, parents
        first, with ``action`` ``imported``, ``would import`` (``dry_run``) or ``skipped``
        and a ``note`` saying why. With ``dry_run`` nothing is written."""
        from ember.repository import scan  # imported late: start-up stays light

        self.policy.enforce(ctx, rules.IMPORT)
        found = scan.find_backups(self.driver, container)
        with self.catalog.session() as session:
            known = {row.id: row for row in session.scalars(sa.select(Backup).where(
                Backup.id.in_([f.backup_id for f in found]))).all()} if found else {}
        scan.plan_imports(found, known)
        if not dry_run:
            for item in found:
                if item.action == scan.WOULD_IMPORT:
                    self._import_found(ctx, item)
            self._recount_dependents({f.parent_id for f in found
                                      if f.action == scan.IMPORTED and f.parent_id})
        return [f.view() for f in found]

    def _import_found(self, ctx, item) -> None:
        """Insert the row of one found backup (``item.action`` says what happened)."""
        from ember.repository.scan import IMPORTED, SKIPPED

        conf = self.conf
        with self.catalog.session() as session:
            old = session.get(Backup, item.backup_id)
            if old is not None:
                if not old.deleted:  # imported meanwhile by someone else
                    item.note = "already in the catalogue (%s)" % old.status
                    item.action = SKIPPED
                    return
                session.delete(old)  # a deleted row is revived, as import-record does
                session.flush()
            session.add(Backup(
                id=item.backup_id, user_id=ctx.user_id, project_id=ctx.project_id,
                volume_id=item.volume_id, host=conf.host,
                availability_zone=conf.storage_availability_zone,
                display_name=item.name, display_description=item.description,
                container=item.container, service_metadata=item.prefix,
                service=self.driver.cinder_service, parent_id=item.parent_id,
                status=BackupStatus.AVAILABLE, size=item.size, size_bytes=item.size_bytes,
                object_count=item.object_count, num_dependent_backups=0,
                created_at=item.created_at, data_timestamp=item.created_at, properties={}))
        item.action = IMPORTED

    def _recount_dependents(self, parent_ids: set) -> None:
        """num_dependent_backups of each parent = its live children, counted afresh."""
        if not parent_ids:
            return
        with self.catalog.session() as session:
            for parent_id in sorted(parent_ids):
                count = session.scalar(sa.select(sa.func.count()).select_from(Backup).where(
                    Backup.parent_id == parent_id, Backup.deleted.is_(False)))
                session.execute(sa.update(Backup).where(Backup.id == parent_id)
                                .values(num_dependent_backups=count),
                                execution_options={"synchronize_session": False})
