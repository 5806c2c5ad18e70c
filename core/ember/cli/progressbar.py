"""The terminal progress bar of ``volume backup create`` and ``volume backup restore``.

A built-in subscriber: the CLI hands :class:`TerminalProgress` to the service as the
operation's ``progress`` callback (the engine's rate, a few updates a second, not the
notification rate) and registers it for ``ember_operation_end``, so the bar is closed
before the command prints its result or its one-line error. Drawn with tqdm on stderr,
and only when stderr is a terminal: redirected or piped output never holds a bar.
"""

from __future__ import annotations

import os
import threading
from typing import Optional, TextIO

from tqdm import tqdm

from ember.hooks import hookimpl

#: the CLI's names for long operations and the hook operation each one is
OPERATIONS = {"backup": "backup.create", "restore": "backup.restore",
              "verify": "backup.verify"}
LABELS = {"backup": "Backing up", "restore": "Restoring", "verify": "Verifying"}


def for_terminal(operation: str, stream: TextIO) -> Optional["TerminalProgress"]:
    """A bar for ``operation`` ("backup" or "restore") when ``stream`` is a terminal,
    else None (nothing is drawn)."""
    isatty = getattr(stream, "isatty", None)
    if operation not in OPERATIONS or not (isatty and isatty()):
        return None
    return TerminalProgress(operation, stream)


def _size(stream: TextIO) -> dict:
    """tqdm's size arguments: follow the terminal, or 80x24 when it reports 0x0 (a fresh
    pseudo-terminal), where tqdm would otherwise draw nothing."""
    try:
        if os.get_terminal_size(stream.fileno()).columns > 0:
            return {"dynamic_ncols": True}
    except (OSError, ValueError, AttributeError):
        pass
    return {"ncols": 80, "nrows": 24}


class TerminalProgress:
    """A byte-count bar (KiB/MiB/GiB, rate, time left) opened at the first report."""

    def __init__(self, operation: str, stream: TextIO):
        self.operation = OPERATIONS[operation]
        self._label = LABELS[operation]
        self._stream = stream
        self._lock = threading.Lock()
        self._bar: Optional[tqdm] = None
        self._closed = False

    def __call__(self, done: int, total: int) -> None:
        with self._lock:
            if self._closed or total <= 0:
                return
            if self._bar is None:
                self._bar = tqdm(total=total, desc=self._label, unit="B", unit_scale=True,
                                 unit_divisor=1024, file=self._stream, leave=True,
                                 mininterval=0.2, **_size(self._stream))
            done = min(done, total)
            if done > self._bar.n:
                self._bar.update(done - self._bar.n)

    @hookimpl
    def ember_operation_end(self, operation, error):
        if operation == self.operation:
            self.close(failed=error is not None)

    def close(self, failed: bool = False) -> None:
        """End the line of the bar (kept on screen, where it stopped on a failure)."""
        with self._lock:
            if self._bar is not None and not self._closed:
                if failed:
                    self._bar.set_description_str(self._label + " (stopped)", refresh=False)
                self._bar.close()
            self._closed = True
