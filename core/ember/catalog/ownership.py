"""Whether the process that owns a running operation is still alive (crash safety).

A row records ``owner_host``, ``owner_pid`` and ``heartbeat_at``. On the owner's own host
the pid is checked directly; from another host only the heartbeat can tell.

A pid can be reused after its process died. The owner was alive at each heartbeat it
wrote, so a process holding the pid that *started after* the row's last heartbeat
(its start time from ``/proc/<pid>/stat``) is someone else: the owner is gone. A zombie
(killed, not yet reaped by its parent) is gone too. Where ``/proc`` cannot tell, a live
pid counts as the owner (a false "alive" only delays a repair).
"""

from __future__ import annotations

import datetime
import os

from ember.catalog.models import utcnow

#: a heartbeat older than this means the owner on another host is gone (the default of
#: ``service_down_time``, which callers with a configuration pass instead)
HEARTBEAT_TIMEOUT = datetime.timedelta(seconds=60)
#: /proc/stat's boot time has whole seconds; a start this close to the heartbeat is
#: not taken as proof of pid reuse
START_SLACK = datetime.timedelta(seconds=2)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return _proc_stat(pid)[0] not in ("Z", "X")
    return _proc_stat(pid)[0] not in ("Z", "X")


def process_started_at(pid: int) -> datetime.datetime | None:
    """When process ``pid`` started, naive UTC (None where /proc cannot tell)."""
    _state, ticks = _proc_stat(pid)
    if ticks is None:
        return None
    try:
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
        hz = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, StopIteration):
        return None
    started = datetime.datetime.fromtimestamp(boot + ticks / hz, datetime.timezone.utc)
    return started.replace(tzinfo=None)


def _proc_stat(pid: int) -> tuple[str | None, int | None]:
    """(state letter, start time in clock ticks since boot) of ``pid``, or Nones."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rpartition(")")[2].split()  # the name may hold spaces
        return fields[0], int(fields[19])  # fields 3 and 22 of proc(5)
    except (OSError, ValueError, IndexError):
        return None, None


def pid_reused(row) -> bool:
    """True when ``row.owner_pid`` now belongs to a process that started after the
    row's last heartbeat, so it cannot be the owner."""
    started = process_started_at(row.owner_pid)
    return (started is not None and row.heartbeat_at is not None
            and started > row.heartbeat_at + START_SLACK)


def owner_alive(row, host: str, down_after: datetime.timedelta = HEARTBEAT_TIMEOUT) -> bool:
    """True when the row's owner may still be working on it (never guess "dead" for a
    live one: a false "alive" only delays a repair, a false "dead" corrupts state)."""
    if row.owner_pid is None:
        return False
    if row.owner_host == host:
        return pid_alive(row.owner_pid) and not pid_reused(row)
    beat = row.heartbeat_at or row.updated_at or row.created_at
    return beat is not None and utcnow() - beat < down_after


def claim(host: str) -> dict:
    """Column values that mark the calling process as the owner."""
    return {"owner_host": host, "owner_pid": os.getpid(), "heartbeat_at": utcnow()}


RELEASE = {"owner_host": None, "owner_pid": None, "heartbeat_at": None}
