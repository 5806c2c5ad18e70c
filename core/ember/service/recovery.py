"""Crash safety, in one place: Cinder's start-up cleanup of rows whose owning process is
gone, the work of a dead process started again, and volumes and snapshots left busy.

``Ember.__init__`` runs ``repair`` unless told not to. ``Recovery`` is given the parts it
calls: ``BackupQueries`` (``check_service``) and ``BackupLifecycle``
(``delete_objects_and_row``, to finish a dead process's delete); a source is released
with ``ember.service.base.release_source``.

Volumes and snapshots left busy (``release_stuck_sources``):

``Ember.repair`` (run by every ``ember`` command at start-up) first repairs the backup
rows whose owning process is gone, releasing their source or target in the same
transaction. What can still be left is a volume ``backing-up``/``restoring-backup`` or
a snapshot ``backing-up`` that no busy backup row refers to any more: for instance when
a crashed backup's row was reset by hand (``reset-state``, or an older Ember) before
anything repaired it. Cinder's start-up does the same for volumes (``docs/format.md``,
Crash repair).

* volume ``backing-up`` → its ``previous_status`` (``available`` if none), with
  ``previous_status`` ``error_backing-up``, as after a failed backup;
* volume ``restoring-backup`` → ``error_restoring``, as after a failed restore;
* snapshot ``backing-up`` → ``available``.

Each fix is one UPDATE whose WHERE re-checks, in the same statement, that the row is
still busy and that no busy backup refers to it, so a backup or restore starting
concurrently (it claims its volume and inserts its backup row in one transaction) is
never disturbed. When nothing is stuck the whole check is one query.
"""

from __future__ import annotations

import datetime
import logging
import os
import re

import sqlalchemy as sa

from ember import errors
from ember import volumes as vols
from ember.catalog import ownership
from ember.catalog.models import Backup, Snapshot, Volume, utcnow
from ember.context import RequestContext
from ember.catalog.states import (
    BackupStatus,
    SnapshotStatus,
    VolumeStatus,
    conditional_update,
)
from ember.config import one_line
from ember.service.base import Shared, release_source

LOG = logging.getLogger(__name__)

#: the note each attempt that died with its process leaves in ``fail_reason``
_DIED = re.compile(r"attempt (\d+) died")
_REASON_LENGTH = 255  # the column's


def dead_attempts(fail_reason: str | None) -> int:
    """How many attempts of the work died with their process, from its history."""
    return max((int(n) for n in _DIED.findall(fail_reason or "")), default=0)


def with_note(history: str | None, note: str) -> str:
    """``note`` after ``history``; the oldest of it dropped to fit the column."""
    text = "; ".join(part for part in (history, note) if part)
    return text if len(text) <= _REASON_LENGTH else "..." + text[3 - _REASON_LENGTH:]


class Recovery:
    """``repair``: finish, undo or start again what crashed processes left busy."""

    #: set by a process that hands work to ``ember-backup`` workers (a worker does):
    #: ``redo_dead_work(ctx, operation, ids)`` starts again, from the beginning, the
    #: backup or restore of a dead process (``backup_retry_dead_work``)
    redo_dead_work = None

    def __init__(self, shared: Shared, queries, lifecycle):
        self.shared = shared
        self.catalog, self.conf, self.policy = shared.catalog, shared.conf, shared.policy
        self.queries = queries
        self.lifecycle = lifecycle

    def repair(self) -> list[str]:
        """Cinder's start-up cleanup, for rows whose owning process is gone (a live
        owner's rows are never touched): ``creating`` → ``error`` with the source back
        in its previous status; ``restoring`` → ``available`` with the target volume
        ``error_restoring``; ``deleting`` → the delete is resumed. Then volumes and
        snapshots left busy with no busy backup using them get their status back
        (``release_stuck_sources``). Returns the ids repaired; a repair that fails is left for
        the next run."""
        busy = (BackupStatus.CREATING, BackupStatus.RESTORING, BackupStatus.DELETING)
        with self.catalog.session() as session:
            rows = session.scalars(sa.select(Backup).where(
                Backup.deleted.is_(False), Backup.status.in_(busy))).all()
        repaired = []
        for row in rows:
            if self.shared.owner_alive(row):
                continue
            try:
                if self.repair_row(row):
                    repaired.append(row.id)
            except errors.EmberError as exc:
                LOG.warning("Could not repair backup %s: %s", row.id, exc)
        return repaired + release_stuck_sources(self.catalog)

    def repair_row(self, row: Backup) -> bool:
        if self._redo_due(row):
            if self.redo_dead_work is not None:
                return self._redo(row)
            if self._live_workers():
                return False  # left for a worker's repair, which starts it again
        same_owner = self._same_owner(row)
        with self.catalog.session() as session:
            if row.status == BackupStatus.CREATING:
                values = dict(status=BackupStatus.ERROR, fail_reason=with_note(
                    row.fail_reason, "incomplete backup reset: the process running it is "
                    "gone"), **ownership.RELEASE)
            else:
                values = dict(ownership.claim(self.conf.host))
                if row.status == BackupStatus.RESTORING:
                    values = dict(status=BackupStatus.AVAILABLE, **ownership.RELEASE)
            won = session.execute(sa.update(Backup).where(*same_owner).values(
                updated_at=utcnow(), **values),
                execution_options={"synchronize_session": False}).rowcount == 1
            if not won:
                return False
            self.release_unfinished(session, row)
        if row.status == BackupStatus.CREATING and row.temp_snapshot_id:
            vols.remove(os.path.join(self.shared.state_dir("snapshots"), "snapshot-%s"
                                     % row.temp_snapshot_id))
        if row.status == BackupStatus.CREATING and row.service_metadata:
            self._sweep(row)
        if row.status == BackupStatus.DELETING:
            # no object_count: it never finished, so it was force-deleted while creating
            was = BackupStatus.CREATING if row.object_count is None else BackupStatus.DELETING
            self.lifecycle.delete_objects_and_row(row.id, was)
        return True

    def _sweep(self, row: Backup) -> None:
        """What the dead process's unfinished writes left besides objects (an object
        store's multipart uploads: invisible, yet stored and billed), removed now; its
        finished objects stay with the ``error`` row until it is deleted."""
        try:
            self.queries.check_service(row)
            self.shared.driver.sweep(row.container or self.shared.layout.default_container(row.id),
                                     row.service_metadata)
        except Exception as exc:  # noqa: BLE001 - its delete sweeps again
            LOG.warning("Could not sweep what backup %s left unfinished: %s", row.id, exc)

    @staticmethod
    def _same_owner(row: Backup) -> tuple:
        """WHERE clauses: ``row`` as read, owner included, so that of two repairing
        processes one wins."""
        return (Backup.id == row.id, Backup.status == row.status,
                Backup.owner_host.is_(None) if row.owner_host is None
                else Backup.owner_host == row.owner_host,
                Backup.owner_pid.is_(None) if row.owner_pid is None
                else Backup.owner_pid == row.owner_pid)

    def _redo_due(self, row: Backup) -> bool:
        """Whether the backup or restore of ``row``, whose process is gone, is to be
        started again rather than ended: ``backup_retry_dead_work`` is on, attempts are
        left, and workers exist to run it (``transport_url``)."""
        from ember.service.dispatch import transport_configured

        return (row.status in (BackupStatus.CREATING, BackupStatus.RESTORING)
                and self.conf.backup_retry_dead_work
                and dead_attempts(row.fail_reason) + 1 < self.conf.backup_retry_dead_work_attempts
                and transport_configured(self.conf))

    def _live_workers(self) -> bool:
        """Whether an ``ember-backup`` worker has reported within ``service_down_time``."""
        from ember.catalog.models import Service
        from ember.service.services import BACKUP_BINARY

        since = utcnow() - datetime.timedelta(seconds=self.conf.service_down_time)
        with self.catalog.session() as session:
            return bool(session.scalar(sa.select(sa.func.count()).select_from(Service).where(
                Service.binary == BACKUP_BINARY, Service.deleted.is_(False),
                Service.updated_at >= since)))

    def _redo(self, row: Backup) -> bool:
        """Claim the dead process's row, remove what its attempt wrote, note the attempt
        in ``fail_reason`` and hand the work to ``redo_dead_work``, which routes it to a
        live worker that can reach the volume (or ends it once none could for
        ``service_down_time``). A claimed row whose objects cannot be removed yet is
        released again for the next repair."""
        with self.catalog.session() as session:
            if session.execute(sa.update(Backup).where(*self._same_owner(row)).values(
                    updated_at=utcnow(), **ownership.claim(self.conf.host)),
                    execution_options={"synchronize_session": False}).rowcount != 1:
                return False
        try:
            reset = self._undo_attempt(row)
        except Exception:
            with self.catalog.session() as session:
                session.execute(sa.update(Backup).where(
                    Backup.id == row.id, *self.shared.owned()).values(**ownership.RELEASE),
                    execution_options={"synchronize_session": False})
            raise
        note = ("attempt %d died unfinished with its process %s/%s; started again"
                % (dead_attempts(row.fail_reason) + 1, row.owner_host, row.owner_pid))
        with self.catalog.session() as session:
            session.execute(sa.update(Backup).where(Backup.id == row.id, *self.shared.owned())
                            .values(fail_reason=with_note(row.fail_reason, note), **reset),
                            execution_options={"synchronize_session": False})
        LOG.warning("Backup %s: %s", row.id, note)
        operation, ids = (("create", {"backup_id": row.id})
                          if row.status == BackupStatus.CREATING else
                          ("restore", {"backup_id": row.id, "target_is_new": False}))
        self.redo_dead_work(RequestContext.default(), operation, ids)
        return True

    def _undo_attempt(self, row: Backup) -> dict:
        """Remove what a dead backup attempt wrote (objects, temporary snapshot); the
        row's values that make it runnable from the start. A restore is simply written
        again (every block, zeros too)."""
        if row.status != BackupStatus.CREATING:
            return {}
        if row.service_metadata:
            self.shared.delete_objects(
                row.id, row.container or self.shared.layout.default_container(row.id),
                row.service_metadata)
        if row.temp_snapshot_id:
            vols.remove(os.path.join(self.shared.state_dir("snapshots"), "snapshot-%s"
                                     % row.temp_snapshot_id))
        return dict(service_metadata=None, temp_snapshot_id=None)

    def release_unfinished(self, session, row: Backup) -> None:
        """What an operation ended unfinished leaves busy: a backup's source goes back
        to its previous status (the volume's previous_status ``error_backing-up``), a
        restore's target volume ends ``error_restoring``."""
        if row.status == BackupStatus.CREATING:
            release_source(session, row, failed=True)
        elif row.status == BackupStatus.RESTORING and row.restore_volume_id:
            conditional_update(session, Volume, row.restore_volume_id,
                               [VolumeStatus.RESTORING_BACKUP],
                               status=VolumeStatus.ERROR_RESTORING)


#: backup statuses in which a backup still uses its source volume or snapshot
_USING_SOURCE = (BackupStatus.CREATING, BackupStatus.DELETING)


def release_stuck_sources(catalog) -> list[str]:
    """Give back their status to volumes and snapshots no busy backup uses; returns the
    ids fixed."""
    busy = (VolumeStatus.BACKING_UP, VolumeStatus.RESTORING_BACKUP)
    with catalog.session() as session:
        stuck = session.execute(
            sa.select(sa.literal("volume"), Volume.id, Volume.status).where(
                Volume.deleted.is_(False), Volume.status.in_(busy))
            .union_all(sa.select(sa.literal("snapshot"), Snapshot.id, Snapshot.status).where(
                Snapshot.deleted.is_(False), Snapshot.status == SnapshotStatus.BACKING_UP))
        ).all()
    fixed = []
    for kind, row_id, status in stuck:
        try:
            with catalog.session() as session:
                released = session.execute(_release(kind, row_id, status), execution_options={
                    "synchronize_session": False}).rowcount == 1
        except sa.exc.SQLAlchemyError as exc:  # left for the next command
            LOG.warning("Could not release %s %s: %s", kind, row_id, one_line(exc))
            continue
        if released:
            LOG.warning("%s %s was %s with no operation running on it; released",
                        kind.capitalize(), row_id, status)
            fixed.append(row_id)
    return fixed


def _release(kind: str, row_id: str, status: str):
    """The one conditional UPDATE that releases ``row_id`` if nothing uses it."""
    live = Backup.deleted.is_(False)
    if kind == "snapshot":
        unused = ~sa.exists().where(live, Backup.snapshot_id == row_id,
                                    Backup.status.in_(_USING_SOURCE))
        return (sa.update(Snapshot).where(Snapshot.id == row_id, Snapshot.status == status,
                                          unused)
                .values(status=SnapshotStatus.AVAILABLE))
    if status == VolumeStatus.RESTORING_BACKUP:
        unused = ~sa.exists().where(live, Backup.restore_volume_id == row_id,
                                    Backup.status == BackupStatus.RESTORING)
        return (sa.update(Volume).where(Volume.id == row_id, Volume.status == status, unused)
                .values(status=VolumeStatus.ERROR_RESTORING, updated_at=utcnow()))
    unused = ~sa.exists().where(live, Backup.volume_id == row_id,
                                Backup.snapshot_id.is_(None),
                                Backup.status.in_(_USING_SOURCE))
    # status first: MySQL assigns SET items left to right, and status reads the old
    # previous_status
    return (sa.update(Volume).where(Volume.id == row_id, Volume.status == status, unused)
            .ordered_values(
                (Volume.status, sa.func.coalesce(Volume.previous_status,
                                                 VolumeStatus.AVAILABLE)),
                (Volume.previous_status, VolumeStatus.ERROR_BACKING_UP),
                (Volume.updated_at, utcnow())))
