"""Entry points by group, read from package metadata once and imported one at a time.

``importlib.metadata.entry_points(group=G)`` reads every installed distribution's
``entry_points.txt`` (about 130 of them here: 10-15 ms a call), and stevedore keeps a
cache of every group of every distribution and imports each entry point of a group it
lists. A command run by ``ember`` needs a few groups (its commands, their hooks, the
backup drivers, oslo.policy's checks) and imports only the entry points it uses, so the
metadata is read once per process here and kept while ``sys.path`` and the mtimes of
its directories stay the same (installing a distribution changes its directory's).
"""

from __future__ import annotations

import os
import sys
import threading
from importlib import metadata

_lock = threading.Lock()
_cached: tuple = (None, None)  # (key, EntryPoints of every group)


def _key() -> tuple:
    stamps = []
    for path in sys.path:
        try:
            stamps.append((path, os.stat(path or ".").st_mtime_ns))
        except OSError:
            stamps.append((path, None))
    return tuple(stamps)


def group(name: str) -> tuple:
    """The entry points of the group ``name`` (``importlib.metadata.EntryPoint``)."""
    global _cached
    key = _key()
    with _lock:
        cached_key, points = _cached
        if cached_key != key:
            points = metadata.entry_points()
            _cached = (key, points)
    return tuple(points.select(group=name))
