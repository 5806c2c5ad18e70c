"""Consolidate: a new full backup equal to a backup's restore point, made from the
repository alone (``ember.engine.consolidate``); the volume is not read, claimed or even
needed.

The new backup is an ordinary ``available`` full of the source's volume. Its
``data_timestamp`` is the source's (it holds the same point in time) and its
``created_at`` is now, so among backups of one point it is the newest: the next
incremental of the volume (latest by data_timestamp, then created_at) uses it as its
parent, and prune's ``--keep-last`` prefers it over the incremental it was made from.

While it runs the source is ``restoring`` (as for a restore: delete and prune leave it
and its chain alone); the new row is ``creating`` and owned by this process, so crash
repair ends it ``error`` and gives the source back.
"""

from __future__ import annotations

import datetime
import logging
import uuid

from ember import errors
from ember import policy as rules
from ember.catalog import ownership
from ember.catalog.models import Backup, utcnow
from ember.catalog.states import BackupStatus, conditional_update
from ember.catalog.tokens import StatusToken
from ember.service.base import Progress, Shared
from ember.service.restore import size_limit

LOG = logging.getLogger(__name__)


class Consolidation:
    """``consolidate_backup``."""

    def __init__(self, shared: Shared, quotas, queries):
        self.shared = shared
        self.catalog, self.conf, self.policy = shared.catalog, shared.conf, shared.policy
        self.quotas = quotas
        self.queries = queries

    def consolidate_backup(self, ctx, ref, *, name=None, description=None,
                           progress: Progress | None = None) -> dict:
        """Make a full backup equal to backup ``ref``'s restore point (needs
        ``backup:create`` and the backup quota); returns the new backup. On failure the
        new row is ``error`` (its objects removed) and the source is available again."""
        new_id, chain, plan = self._begin_consolidate(ctx, ref, name, description)
        return self.shared.observed("backup.consolidate", ctx, new_id, None,
                                    lambda report: self._run_consolidate(new_id, chain, plan,
                                                                         report), progress)

    def _begin_consolidate(self, ctx, ref, name, description):
        new_id = str(uuid.uuid4())
        self.shared.check_backup_target(self.shared.layout.default_container(new_id))
        with self.catalog.session() as session:
            src = self.shared.backup(session, ctx, ref)
            self.policy.enforce(ctx, rules.GET, src.project_id)
            self.policy.enforce(ctx, rules.CREATE, src.project_id)
            if src.status != BackupStatus.AVAILABLE:
                raise errors.InvalidState('Backup %s status must be available to consolidate '
                                          'it, but the current status is "%s".'
                                          % (src.id, src.status))
            self.queries.check_service(src)
            chain = self.queries.chain(session, src)
            # every document of the chain checked before a row is made
            plan = self.shared.engine().plan_restore(chain, size_limit(src))
            self.quotas.reserve_backup(session, src.project_id, src.size or 0)
            if not conditional_update(session, Backup, src.id, [BackupStatus.AVAILABLE],
                                      status=BackupStatus.RESTORING, **self.shared.owner()):
                raise errors.InvalidState("Backup %s changed status meanwhile; try again."
                                          % src.id)
            note = ("consolidated from backup %s (a chain of %d) without reading the volume"
                    % (src.id, len(chain)))
            session.add(Backup(
                id=new_id, user_id=ctx.user_id, project_id=src.project_id,
                volume_id=src.volume_id, display_name=name,
                display_description=description if description is not None
                else "Consolidated from backup %s" % src.id,
                status=BackupStatus.CREATING, size=src.size, size_bytes=src.size_bytes,
                host=self.conf.host, availability_zone=src.availability_zone,
                properties=dict(src.properties or {}), created_at=utcnow(),
                data_timestamp=src.data_timestamp, encryption_key_id=src.encryption_key_id,
                change_tracking=note[:255], **self.shared.owner()))
        return new_id, chain, plan

    def _run_consolidate(self, new_id: str, chain, plan, progress) -> dict:
        from ember.engine.consolidate import consolidate, staging_name
        from ember.engine.spec import BackupSpec
        from ember.engine import format as fmt

        source_id = chain[-1].backup_id
        with self.catalog.session() as session:
            row = session.get(Backup, new_id)
            container = self.shared.layout.default_container(new_id)
            prefix = self.shared.layout.object_prefix(row.volume_id, new_id, fmt.timestamp())
            conditional_update(session, Backup, new_id, [BackupStatus.CREATING],
                               container=container, service_metadata=prefix,
                               service=self.shared.layout.cinder_service)
            spec = BackupSpec(backup_id=new_id, volume_id=row.volume_id, source_path="",
                              container=container, prefix=prefix,
                              created_at=str(row.created_at.replace(
                                  tzinfo=datetime.timezone.utc)),
                              name=row.display_name, description=row.display_description)
        token = StatusToken(self.catalog, new_id, lambda s: s != BackupStatus.CREATING,
                            errors.BackupCancelled,
                            "Consolidation into backup %s was cancelled; its objects were "
                            "removed." % new_id)
        try:
            result = consolidate(self.shared.engine(), chain, spec,
                                 staging_name(self.shared.state_dir("consolidate"), new_id),
                                 plan=plan,
                                 cancel=token, progress=progress)
        except BaseException as exc:
            self._end_consolidate(new_id, source_id, exc, (container, prefix))
            if isinstance(exc, KeyboardInterrupt):
                raise errors.Interrupted(
                    "Interrupted: the consolidation of backup %s was stopped; the objects "
                    "and row of the new backup %s were removed." % (source_id, new_id)) \
                    from None
            raise
        with self.catalog.session() as session:
            done = conditional_update(session, Backup, new_id, [BackupStatus.CREATING],
                                      status=BackupStatus.AVAILABLE,
                                      object_count=result.object_count,
                                      stored_bytes=result.bytes_stored, **ownership.RELEASE)
            self._give_back_source(session, source_id)
        if not done:  # cancelled after the engine's last check
            self._end_consolidate(new_id, source_id, errors.BackupCancelled("cancelled"),
                                  (container, prefix))
            raise errors.BackupCancelled("Consolidation into backup %s was cancelled; its "
                                         "objects were removed." % new_id)
        return self.queries.get_backup_row(new_id)

    def _end_consolidate(self, new_id, source_id, exc, objects) -> None:
        """Remove what the new backup wrote; its row ends deleted (interrupted or
        cancelled) or ``error`` with the reason; the source is available again."""
        try:
            self.shared.delete_objects(new_id, *objects)
        except Exception as cleanup:  # the row stays error: delete it to finish
            LOG.warning("Backup %s: removing its objects failed: %s", new_id, cleanup)
            exc = cleanup
        gone = isinstance(exc, (KeyboardInterrupt, errors.Cancelled))
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:255]
        values = (dict(status=BackupStatus.DELETED, deleted=True, deleted_at=utcnow())
                  if gone else dict(status=BackupStatus.ERROR, fail_reason=reason))
        with self.catalog.session() as session:
            conditional_update(session, Backup, new_id, None, **values, **ownership.RELEASE)
            self._give_back_source(session, source_id)

    @staticmethod
    def _give_back_source(session, source_id: str) -> None:
        # Cinder's rule for a read: the backup ends available even if reset meanwhile
        conditional_update(session, Backup, source_id,
                           [BackupStatus.RESTORING, BackupStatus.ERROR],
                           status=BackupStatus.AVAILABLE, **ownership.RELEASE)

