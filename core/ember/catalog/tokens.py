"""Status-driven cancellation tokens (``docs/format.md``, Cancellation), polling the catalogue.

The engine calls ``raise_if_cancelled()`` often (between objects and inside large ones);
the token reads the row at most every ``interval`` seconds, so the database sees a few
small queries a second however fast the engine asks. Each poll also refreshes the row's
heartbeat, so a live owner is never mistaken for a crashed one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import sqlalchemy as sa

from ember.catalog.models import Backup, utcnow
from ember.catalog.retry import unreachable


class StatusToken:
    """Raises ``error(message)`` once ``cancelled(status)`` holds for the backup row
    (a missing row counts as status ``deleted``); keeps raising after that."""

    def __init__(self, catalog, backup_id: str, cancelled: Callable[[str], bool],
                 error: Callable[[str], Exception], message: str, interval: float = 0.5):
        self._catalog = catalog
        self._backup_id = backup_id
        self._cancelled = cancelled
        self._error, self._message = error, message
        self._interval = interval
        self._lock = threading.Lock()
        self._next_poll = 0.0
        self._tripped = False

    @property
    def tripped(self) -> bool:
        return self._tripped

    def raise_if_cancelled(self) -> None:
        with self._lock:
            if not self._tripped and time.monotonic() >= self._next_poll:
                try:
                    self._tripped = self._cancelled(self._poll())
                except sa.exc.DBAPIError as exc:
                    # the database away for a moment (a cut connection, a restart): the
                    # work goes on and the next poll asks again; the owner's heartbeat
                    # thread keeps its claim alive meanwhile
                    if not unreachable(exc):
                        raise
                self._next_poll = time.monotonic() + self._interval
            if self._tripped:
                raise self._error(self._message)

    def _poll(self) -> str:
        with self._catalog.session() as session:
            session.execute(sa.update(Backup).where(Backup.id == self._backup_id)
                            # updated_at kept: a heartbeat is not a change
                            .values(heartbeat_at=utcnow(), updated_at=Backup.updated_at),
                            execution_options={"synchronize_session": False})
            status = session.scalar(sa.select(Backup.status).where(
                Backup.id == self._backup_id))
        return status or "deleted"
