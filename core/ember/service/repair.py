"""Crash repair of volumes and snapshots left busy with no operation running on them.

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

import logging

import sqlalchemy as sa

from ember.catalog.models import Backup, Snapshot, Volume, utcnow
from ember.catalog.states import BackupStatus, SnapshotStatus, VolumeStatus
from ember.config import one_line

LOG = logging.getLogger(__name__)

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
