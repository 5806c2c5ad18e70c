"""The repository operations behind the service door: ``verify_backup`` (read every
object of a chain, change nothing) and ``scan_repository`` (import the backups a
repository holds that the catalogue does not know). The reading is done by
``ember.repository``; the rows are written here.
"""

from __future__ import annotations

import sqlalchemy as sa

from ember import errors
from ember import policy as rules
from ember.catalog import tenancy
from ember.catalog.models import Backup, BackupVerification
from ember.catalog.states import BackupStatus
from ember.config import one_line
from ember.service.base import Progress, Shared


class Repository:
    """``verify_backup`` and ``scan_repository``."""

    def __init__(self, shared: Shared, queries):
        self.shared = shared
        self.catalog, self.conf, self.policy = shared.catalog, shared.conf, shared.policy
        self.queries = queries

    def verify_backup(self, ctx, ref, progress: Progress | None = None):
        """Read every object of backup ``ref``'s chain and check it (md5, decompression,
        the sha256 list); returns an ``ember.repository.verify.VerifyReport`` naming the
        missing, extra and corrupt objects. Needs ``backup:get``; a backup still being
        written or deleted is refused (``InvalidState``); writes nothing.
        ``progress(done, total)`` hears the bytes of objects checked so far."""
        from ember.repository.verify import verify_chain  # imported late: start-up stays light

        chain = self.queries.backup_chain(ctx, ref, purpose="verify")
        backup = self.shared.backup_dict(chain[-1].backup_id)
        log = self.shared.operation_log
        log.start("verify", backup)

        def report(done: int, total: int) -> None:
            log.progress("verify", backup["id"], done, total)
            if progress is not None:
                progress(done, total)

        try:
            result = verify_chain(self.shared.driver, chain, report, layout=self.shared.layout)
        except BaseException as exc:
            log.end("verify", backup["id"], exc)
            raise
        log.progress("verify", backup["id"], result.bytes_read, result.bytes_read, force=True)
        for member in result.chain:  # each member's own objects were read: as a policy's
            damage = [f for f in result.findings if f.backup_id == member]  # verify notes
            self.note_verified(member, result.summary() if damage else None)
        log.end("verify", backup["id"], None,
                reason=result.summary() if result.damaged else None)
        return result

    def scan_repository(self, ctx, *, container: str | None = None,
                        dry_run: bool = False) -> list[dict]:
        """Import every backup of the repository the catalogue does not know (admin:
        policy ``backup:backup-import``). Returns one dict per backup found, parents
        first, with ``action`` ``imported``, ``would import`` (``dry_run``) or ``skipped``
        and a ``note`` saying why. With ``dry_run`` nothing is written."""
        from ember.repository import scan  # imported late: start-up stays light

        self.policy.enforce(ctx, rules.IMPORT)
        found = scan.find_backups(self.shared.driver, container)
        with self.catalog.session() as session:
            known = {row.id: row for row in session.scalars(sa.select(Backup).where(
                Backup.id.in_({i for f in found for i in (f.backup_id, f.parent_id) if i})
            )).all()} if found else {}
        scan.plan_imports(found, known, lambda item, by_id, rows: self._scan_refusal(
            ctx, item, by_id, rows))
        if not dry_run:
            for item in found:
                if item.action == scan.WOULD_IMPORT:
                    self._import_found(ctx, item)
            self._recount_dependents({i for f in found if f.action == scan.IMPORTED
                                      for i in (f.parent_id, f.backup_id) if i})
        return [f.view() for f in found]

    def _scan_refusal(self, ctx, item, by_id: dict, known: dict) -> str:
        """Why a found backup must not be imported ("" when it may): another volume's
        parent, entries outside its volume, another project's parent, or objects
        another live row already owns."""
        from ember.repository.scan import entries_refusal

        parent = by_id.get(item.parent_id) or known.get(item.parent_id)
        if parent is not None and parent.volume_id != item.volume_id:
            return "its parent %s is a backup of another volume" % item.parent_id
        reason = entries_refusal(item)
        if reason:
            return reason
        with self.catalog.session() as session:
            try:
                tenancy.refuse_cross_project_chain(session, item.backup_id, item.parent_id,
                                                   ctx.project_id)
                tenancy.refuse_shared_objects(session, item.backup_id, item.container,
                                              item.prefix)
            except errors.InvalidInput as exc:
                return one_line(exc).replace("Invalid backup record: ", "")
        return ""

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
                service=self.shared.layout.cinder_service, parent_id=item.parent_id,
                status=BackupStatus.AVAILABLE, size=item.size, size_bytes=item.size_bytes,
                object_count=item.object_count, num_dependent_backups=0,
                created_at=item.created_at, data_timestamp=item.created_at, properties={}))
        item.action = IMPORTED

    def _recount_dependents(self, backup_ids: set) -> None:
        """num_dependent_backups of each row touched = its live children, counted afresh."""
        if not backup_ids:
            return
        with self.catalog.session() as session:
            for backup_id in sorted(backup_ids):
                tenancy.count_dependents(session, backup_id)

    def note_verified(self, backup_id: str, problem: str | None) -> None:
        """Record that ``backup_id`` was read now, and what was wrong (None: nothing)."""
        with self.catalog.session() as session:
            row = session.get(BackupVerification, backup_id) or BackupVerification(
                backup_id=backup_id)
            row.verified_at, row.damaged = self.shared.clock(), problem is not None
            row.detail = None if problem is None else problem[:255]
            session.merge(row)
