"""Hold a running ``ember`` process still while a test acts on it.

A test that interrupts or cancels an operation must not depend on the operation being
slower than the test: on a loaded machine either may stall. ``held`` stops the process
(SIGSTOP) at a moment it is observably under way and not finished, lets the test send
its signal or its cancel, and continues it (SIGCONT) on leaving: whatever the test did
is certainly seen by a process that still had work to do. Stopping is a real signal on a
real process, not a fake; nothing in Ember knows about it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from typing import Callable, Iterator

from ember.testing.services import PATIENCE


def state(pid: int) -> str:
    """The one-letter state of ``pid`` in /proc (R, S, T for stopped, Z, ...)."""
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rpartition(")")[2].split()[0]


def write_locks(pid: int) -> list[str]:
    """The POSIX (fcntl) write locks ``pid`` holds: SQLite's, which a stopped holder
    would keep from every other process's catalogue transaction."""
    with open("/proc/locks") as f:
        return [line for line in f if "->" not in line
                and line.split()[1:5] == ["POSIX", "ADVISORY", "WRITE", str(pid)]]


@contextlib.contextmanager
def held(proc: subprocess.Popen, under_way: Callable[[], bool],
         timeout: float = PATIENCE) -> Iterator[None]:
    """Stop ``proc`` once ``under_way()`` is true while it is stopped (checked again
    then, so what it says stays true) and it holds no write lock; continue it on
    leaving. ``under_way`` should say "started and not finished" (an object written,
    not the last one)."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, "the operation ended before it was seen under way: %r" % (
            proc.communicate(),)
        assert time.monotonic() < deadline, "the operation was never seen under way"
        if under_way():
            os.kill(proc.pid, signal.SIGSTOP)
            while state(proc.pid) not in "TZ":
                time.sleep(0.005)
            if state(proc.pid) == "T" and under_way() and not write_locks(proc.pid):
                break
            os.kill(proc.pid, signal.SIGCONT)
        time.sleep(0.02)
    try:
        yield
    finally:
        os.kill(proc.pid, signal.SIGCONT)
