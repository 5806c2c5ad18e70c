"""Whether the process that owns a running operation is still alive (crash safety).

A row records ``owner_host``, ``owner_pid`` and ``heartbeat_at``. On the owner's own host
the pid is checked directly; from another host only the heartbeat can tell.
"""

from __future__ import annotations

import datetime
import os

from ember.catalog.models import utcnow

#: a heartbeat older than this means the owner on another host is gone
HEARTBEAT_TIMEOUT = datetime.timedelta(seconds=60)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def owner_alive(row, host: str) -> bool:
    """True when the row's owner may still be working on it (never guess "dead" for a
    live one: a false "alive" only delays a repair, a false "dead" corrupts state)."""
    if row.owner_pid is None:
        return False
    if row.owner_host == host:
        return pid_alive(row.owner_pid)
    beat = row.heartbeat_at or row.updated_at or row.created_at
    return beat is not None and utcnow() - beat < HEARTBEAT_TIMEOUT


def claim(host: str) -> dict:
    """Column values that mark the calling process as the owner."""
    return {"owner_host": host, "owner_pid": os.getpid(), "heartbeat_at": utcnow()}


RELEASE = {"owner_host": None, "owner_pid": None, "heartbeat_at": None}
