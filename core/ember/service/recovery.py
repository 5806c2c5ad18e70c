"""Crash safety: Cinder's start-up cleanup of rows whose owning process is gone.

``Ember.__init__`` runs ``repair`` unless told not to; it uses the create and delete
helpers (``_release_source``, ``_delete_objects_and_row``) of the composed ``Ember``.
"""

from __future__ import annotations

import logging
import os

import sqlalchemy as sa

from ember import errors
from ember import volumes as vols
from ember.catalog import ownership
from ember.catalog.models import Backup, Volume, utcnow
from ember.catalog.states import (
    BackupStatus,
    VolumeStatus,
    conditional_update,
)
from ember.service.base import ServiceBase

LOG = logging.getLogger(__name__)


class RecoveryMixin(ServiceBase):
    """``repair``: finish or undo what crashed processes left busy."""

    def repair(self) -> list[str]:
        """Cinder's start-up cleanup, for rows whose owning process is gone (a live
        owner's rows are never touched): ``creating`` → ``error`` with the source back
        in its previous status; ``restoring`` → ``available`` with the target volume
        ``error_restoring``; ``deleting`` → the delete is resumed. Then volumes and
        snapshots left busy with no busy backup using them get their status back
        (``ember.service.repair``). Returns the ids repaired; a repair that fails is left for
        the next run."""
        busy = (BackupStatus.CREATING, BackupStatus.RESTORING, BackupStatus.DELETING)
        with self.catalog.session() as session:
            rows = session.scalars(sa.select(Backup).where(
                Backup.deleted.is_(False), Backup.status.in_(busy))).all()
        repaired = []
        for row in rows:
            if self._owner_alive(row):
                continue
            try:
                if self._repair(row):
                    repaired.append(row.id)
            except errors.EmberError as exc:
                LOG.warning("Could not repair backup %s: %s", row.id, exc)
        from ember.service.repair import release_stuck_sources  # volumes/snapshots nothing uses

        return repaired + release_stuck_sources(self.catalog)

    def _repair(self, row: Backup) -> bool:
        # the owner columns in the WHERE make two repairing processes pick one winner
        same_owner = (Backup.id == row.id, Backup.status == row.status,
                      Backup.owner_pid.is_(None) if row.owner_pid is None
                      else Backup.owner_pid == row.owner_pid)
        with self.catalog.session() as session:
            if row.status == BackupStatus.CREATING:
                values = dict(status=BackupStatus.ERROR, fail_reason="incomplete backup "
                              "reset: the process running it is gone", **ownership.RELEASE)
            else:
                values = dict(ownership.claim(self.conf.host))
                if row.status == BackupStatus.RESTORING:
                    values = dict(status=BackupStatus.AVAILABLE, **ownership.RELEASE)
            won = session.execute(sa.update(Backup).where(*same_owner).values(
                updated_at=utcnow(), **values),
                execution_options={"synchronize_session": False}).rowcount == 1
            if not won:
                return False
            self._release_unfinished(session, row)
        if row.status == BackupStatus.CREATING and row.temp_snapshot_id:
            vols.remove(os.path.join(self._dir("snapshots"), "snapshot-%s"
                                     % row.temp_snapshot_id))
        if row.status == BackupStatus.DELETING:
            # no object_count: it never finished, so it was force-deleted while creating
            was = BackupStatus.CREATING if row.object_count is None else BackupStatus.DELETING
            self._delete_objects_and_row(row.id, was)
        return True

    def _release_unfinished(self, session, row: Backup) -> None:
        """What an operation ended unfinished leaves busy: a backup's source goes back
        to its previous status (the volume's previous_status ``error_backing-up``), a
        restore's target volume ends ``error_restoring``."""
        if row.status == BackupStatus.CREATING:
            self._release_source(session, row, failed=True)
        elif row.status == BackupStatus.RESTORING and row.restore_volume_id:
            conditional_update(session, Volume, row.restore_volume_id,
                               [VolumeStatus.RESTORING_BACKUP],
                               status=VolumeStatus.ERROR_RESTORING)
