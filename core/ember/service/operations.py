"""The operation log: each run of a create, restore, delete or verify becomes one
``backup_operations`` row (where and when it ran, its progress, how it ended), which
metrics and the dashboard read from any process on any host.

Creates, restores and deletes are recorded by :class:`OperationLog` as a subscriber of
the service's own hooks (``ember_operation_start``, ``ember_progress``,
``ember_operation_end``), so the operations themselves do not change; verify calls
:meth:`OperationLog.start` and :meth:`OperationLog.end` itself. Recording is an observer:
a failure to write a row is logged, never raised into the operation.
"""

from __future__ import annotations

import logging
import threading
import time

import sqlalchemy as sa

from ember import errors
from ember.catalog.models import BackupOperation, utcnow
from ember.hooks import hookimpl

LOG = logging.getLogger(__name__)

#: hook operation names → the kind recorded (reset_status is not work: not recorded)
KINDS = {"backup.create": "create", "backup.restore": "restore", "backup.delete": "delete"}
RUNNING, SUCCEEDED, FAILED, CANCELLED = "running", "succeeded", "failed", "cancelled"
#: at most one progress write per run this often (seconds); the hook's own rate is
#: every few objects, which on small objects is many times a second
PROGRESS_INTERVAL = 1.0


def outcome(error: BaseException | None) -> tuple[str, str | None]:
    """(status, fail reason) of a run that ended with ``error`` (None: success)."""
    if error is None:
        return SUCCEEDED, None
    reason = (str(error).splitlines() or [type(error).__name__])[0][:255]
    if isinstance(error, (errors.Cancelled, KeyboardInterrupt)):
        return CANCELLED, reason
    return FAILED, reason


class OperationLog:
    """Writes the ``backup_operations`` rows of the runs in this process."""

    def __init__(self, catalog, host: str | None, clock=time.monotonic):
        self._catalog = catalog
        self._host = host
        self._clock = clock
        self._lock = threading.Lock()
        self._open: dict[tuple[str, str], tuple[int, float]] = {}  # (kind, backup) → row

    def start(self, kind: str, backup: dict) -> int | None:
        """Insert the ``running`` row of a run on ``backup`` (a backup dict); its id."""
        try:
            with self._catalog.session() as session:
                row = BackupOperation(kind=kind, backup_id=backup["id"],
                                      volume_id=backup.get("volume_id"),
                                      project_id=backup.get("project_id"), host=self._host,
                                      status=RUNNING, started_at=utcnow())
                session.add(row)
                session.flush()
                op_id = row.id
        except Exception:  # noqa: BLE001 - an observer never fails the operation
            LOG.exception("could not record the start of %s of backup %s", kind, backup["id"])
            return None
        with self._lock:
            self._open[(kind, backup["id"])] = (op_id, self._clock())
        return op_id

    def progress(self, kind: str, backup_id: str, done: int, total: int,
                 force: bool = False) -> None:
        with self._lock:
            op_id, last = self._open.get((kind, backup_id), (None, 0.0))
            now = self._clock()
            if op_id is None or (not force and now - last < PROGRESS_INTERVAL):
                return
            self._open[(kind, backup_id)] = (op_id, now)
        self._update(op_id, done_bytes=done, total_bytes=total, updated_at=utcnow())

    def end(self, kind: str, backup_id: str, error: BaseException | None,
            reason: str | None = None) -> None:
        """Close the run's row: its outcome (``reason`` overrides the error's), end time
        and duration."""
        with self._lock:
            op_id, _ = self._open.pop((kind, backup_id), (None, 0.0))
        if op_id is None:
            return
        status, why = outcome(error)
        if reason is not None:
            status, why = FAILED, reason[:255]
        now = utcnow()
        try:
            with self._catalog.session() as session:
                started = session.scalar(sa.select(BackupOperation.started_at)
                                         .where(BackupOperation.id == op_id))
                session.execute(sa.update(BackupOperation).where(
                    BackupOperation.id == op_id).values(
                    status=status, fail_reason=why, finished_at=now, updated_at=now,
                    duration_seconds=(now - started).total_seconds() if started else None))
        except Exception:  # noqa: BLE001
            LOG.exception("could not record the end of %s of backup %s", kind, backup_id)

    def _update(self, op_id: int, **values) -> None:
        try:
            with self._catalog.session() as session:
                session.execute(sa.update(BackupOperation)
                                .where(BackupOperation.id == op_id).values(**values))
        except Exception:  # noqa: BLE001
            LOG.exception("could not record the progress of operation %s", op_id)

    # --- the service's hooks -----------------------------------------------------------
    @hookimpl
    def ember_operation_start(self, operation, backup):
        if operation in KINDS and backup:
            self.start(KINDS[operation], backup)

    @hookimpl
    def ember_progress(self, operation, backup, done_bytes, total_bytes):
        if operation in KINDS and backup and backup.get("id"):
            self.progress(KINDS[operation], backup["id"], done_bytes, total_bytes,
                          force=done_bytes >= total_bytes)

    @hookimpl
    def ember_operation_end(self, operation, backup, error):
        if operation in KINDS and backup:
            self.end(KINDS[operation], backup["id"], error)
