"""Progress of a running create or restore, as ``ember_progress`` subscribers see it.

The engine calls ``progress(done_bytes, total_bytes)`` often (a few times a second). A
:class:`ProgressReporter` turns that into ``ember_progress`` hook calls at Cinder's
rate: every ``backup_object_number_per_notification`` objects' worth of bytes and,
when both ``backup_enable_progress_timer`` and the driver's own timer option are on,
every ``backup_timer_interval`` seconds; then exactly once at 100 percent, and only
when the operation succeeded. Unlike Cinder's (which can pass 100), the percentage is
the true fraction of the volume done, it never goes down, and the ``backup``
argument is the same small dict each time (it does not grow with the object list).
The service creates one reporter per operation and calls :meth:`finish` on success.
"""

from __future__ import annotations

import threading
import time
from typing import Optional

from ember.engine.spec import Progress  # ``progress(done_bytes, total_bytes)``


class ProgressReporter:
    """Rate-limits the engine's progress callback into ``ember_progress`` calls.

    Guarantees: ``done_bytes`` strictly rises from one call to the next and stays
    below ``total_bytes`` until :meth:`finish`, which reports 100 percent once; a
    failed or cancelled operation therefore never reports 100. ``forward`` (the
    caller's own callback, e.g. a terminal bar) gets every engine call unthrottled.
    """

    def __init__(self, hooks, operation: str, backup, *, object_size: int,
                 every_objects: int, timer_interval: Optional[float],
                 forward: Optional[Progress] = None, clock=time.monotonic):
        # a dict, or a callable giving it at the engine's first call (when the row has
        # its container and prefix); then the same dict every time
        self._hooks, self._operation, self._backup = hooks, operation, backup
        self._object_size = max(1, int(object_size))
        self._every = max(1, int(every_objects))
        self._interval = timer_interval
        self._forward, self._clock = forward, clock
        self._lock = threading.Lock()
        self._total = 0
        self._last_done = 0
        self._next_objects = self._every
        self._next_time = None if timer_interval is None else clock() + timer_interval
        self._finished = False

    @classmethod
    def for_layout(cls, hooks, operation: str, backup, conf, layout,
                   forward: Optional[Progress] = None, clock=time.monotonic
                   ) -> "ProgressReporter":
        """A reporter with the rates of ``conf`` and the driver's ``layout`` (an
        ``ember.layout.Layout``: object size, the driver's timer option)."""
        timer = bool(conf.backup_enable_progress_timer) and bool(layout.progress_timer)
        return cls(hooks, operation, backup, object_size=layout.object_size,
                   every_objects=conf.backup_object_number_per_notification,
                   timer_interval=float(conf.backup_timer_interval) if timer else None,
                   forward=forward, clock=clock)

    def __call__(self, done: int, total: int) -> None:
        if self._forward is not None:
            self._forward(done, total)
        if callable(self._backup):  # resolved while the operation runs, not at its end
            self._backup = self._backup()
        if total <= 0:
            return
        with self._lock:
            self._total = total
            done = min(done, total)
            # 100 percent is said by finish() alone: the engine may have read every byte
            # and still fail or be cancelled while it writes _sha256file and _metadata
            if self._finished or done <= self._last_done or done >= total:
                return
            objects = done // self._object_size
            now = self._clock()
            by_count = objects >= self._next_objects
            by_timer = self._next_time is not None and now >= self._next_time
            if not (by_count or by_timer):
                return
            self._next_objects = (objects // self._every + 1) * self._every
            if self._interval is not None:
                self._next_time = now + self._interval
            self._last_done = done
        self._emit(done, total)

    def finish(self) -> None:
        """Report 100 percent (once); call only when the operation succeeded."""
        with self._lock:
            if self._finished or self._total <= 0:
                return
            self._finished = True
            total = self._total
        self._emit(total, total)

    def _emit(self, done: int, total: int) -> None:
        self._hooks.call("ember_progress", operation=self._operation, backup=self._backup,
                         done_bytes=done, total_bytes=total, percent=100.0 * done / total)


#: the fields of a backup an ``ember_progress`` subscriber gets (fixed, small)
PROGRESS_FIELDS = ("id", "name", "status", "size", "volume_id", "snapshot_id", "parent_id",
                   "project_id", "user_id", "availability_zone", "host", "created_at",
                   "container", "service", "service_metadata", "fail_reason",
                   "num_dependent_backups")


def progress_view(backup: Optional[dict]) -> dict:
    """The fixed set of :data:`PROGRESS_FIELDS` of a backup dict."""
    return {k: (backup or {}).get(k) for k in PROGRESS_FIELDS}
