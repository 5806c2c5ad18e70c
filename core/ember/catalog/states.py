"""Cinder's statuses and the conditional transitions between them (``docs/format.md``, Statuses).

Every transition is one ``UPDATE ... WHERE id = :id AND status IN (:expected)`` whose
row count says whether this caller won. Nothing reads a status and then writes it in a
separate step, so two processes (or two hosts on one PostgreSQL) racing for the same
row get exactly one winner.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ember.catalog.models import Backup, Volume, utcnow


class BackupStatus:
    CREATING = "creating"
    AVAILABLE = "available"
    DELETING = "deleting"
    DELETED = "deleted"
    ERROR = "error"
    ERROR_DELETING = "error_deleting"
    RESTORING = "restoring"
    #: the statuses reset-state may set
    RESETTABLE = ("available", "error")


class VolumeStatus:
    CREATING = "creating"
    AVAILABLE = "available"
    IN_USE = "in-use"
    BACKING_UP = "backing-up"
    ERROR_BACKING_UP = "error_backing-up"
    RESTORING_BACKUP = "restoring-backup"
    ERROR_RESTORING = "error_restoring"
    ERROR = "error"
    DELETING = "deleting"
    ALL = ("creating", "available", "in-use", "backing-up", "restoring-backup",
           "error_restoring", "error", "deleting", "error_deleting")


class SnapshotStatus:
    CREATING = "creating"
    AVAILABLE = "available"
    BACKING_UP = "backing-up"
    DELETING = "deleting"
    ERROR = "error"


def conditional_update(session: Session, model, row_id: str, expected: Iterable[str] | None,
                       *, where: tuple = (), **values) -> bool:
    """Set ``values`` on the live row ``row_id`` if its status is one of ``expected``
    (any status when ``expected`` is None) and the clauses ``where`` hold. True when
    this caller changed the row."""
    stmt = sa.update(model).where(model.id == row_id, model.deleted.is_(False), *where)
    if expected is not None:
        stmt = stmt.where(model.status.in_(list(expected)))
    values.setdefault("updated_at", utcnow())
    result = session.execute(stmt.values(**values),
                             execution_options={"synchronize_session": False})
    return result.rowcount == 1


def restore_volume_status(session: Session, volume_id: str, after: str) -> bool:
    """A volume leaving ``backing-up``: status ← previous_status, previous_status ←
    ``after`` (``backing-up`` on success, ``error_backing-up`` on failure; Cinder)."""
    stmt = (sa.update(Volume)
            .where(Volume.id == volume_id, Volume.status == VolumeStatus.BACKING_UP)
            .values(status=sa.func.coalesce(Volume.previous_status, VolumeStatus.AVAILABLE),
                    previous_status=after, updated_at=utcnow()))
    return session.execute(stmt, execution_options={"synchronize_session": False}
                           ).rowcount == 1


def add_dependent(session: Session, parent_id: str, delta: int) -> None:
    """Atomically add ``delta`` to the parent's num_dependent_backups (never below 0);
    Cinder's read-modify-write lost updates here (bug 2163042)."""
    count = Backup.num_dependent_backups
    new = count + delta if delta > 0 else sa.case((count + delta < 0, 0), else_=count + delta)
    session.execute(sa.update(Backup).where(Backup.id == parent_id).values(
        num_dependent_backups=new), execution_options={"synchronize_session": False})
