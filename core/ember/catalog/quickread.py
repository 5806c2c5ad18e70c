"""Read-only listings of a SQLite catalogue with the standard library alone.

``ember volume list`` is a command people type often; importing SQLAlchemy's ORM to
answer it costs more than the rest of the command together. A SQLite catalogue at the
schema head with nothing for crash repair to do is read here with one ``sqlite3``
connection opened read-only; anything else (another database, an older or foreign
schema, rows a crashed process left busy) answers None and the caller opens the full
catalogue (:class:`ember.catalog.database.Catalog`), which migrates, refuses or repairs
exactly as before. The rows are passed to :mod:`ember.catalog.views`, so the fields are
the ORM path's.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import sqlite3
import types

from ember.catalog import schema, views

_PREFIX = "sqlite:///"
#: the statuses ``Ember.repair`` acts on (``ember.catalog.states`` imports SQLAlchemy;
#: a test keeps these equal to its names): with any of them the full service opens first
BUSY = {"backups": ("creating", "restoring", "deleting"),
        "volumes": ("backing-up", "restoring-backup"), "snapshots": ("backing-up",)}
_REPAIRABLE = (
    "SELECT 1 FROM backups WHERE deleted = 0 AND status IN (?, ?, ?) UNION ALL "
    "SELECT 1 FROM volumes WHERE deleted = 0 AND status IN (?, ?) UNION ALL "
    "SELECT 1 FROM snapshots WHERE deleted = 0 AND status = ? LIMIT 1")
_VOLUME_FIELDS = (
    "id", "user_id", "project_id", "display_name", "display_description", "size",
    "size_bytes", "status", "previous_status", "path", "instance_id", "properties",
    "encryption_key_id", "volume_type_id", "bootable", "availability_zone",
    "created_at", "updated_at")


def default_url(conf) -> str:
    """``[database] connection``, or SQLite at ``$state_path/ember.sqlite`` (dir created)."""
    if conf.database.connection:
        return conf.database.connection
    os.makedirs(conf.state_path, exist_ok=True)
    return "sqlite:///" + os.path.join(conf.state_path, "ember.sqlite")


def _sqlite_path(url: str) -> str | None:
    """The file of a plain ``sqlite:///PATH`` URL (relative or absolute, as SQLAlchemy
    reads it); None for any other URL, a driver, query options or memory."""
    if not url.startswith(_PREFIX) or "?" in url:
        return None
    path = url[len(_PREFIX):]
    return path if path and path != ":memory:" else None


class Reader:
    """One read-only connection to a catalogue that needs nothing done before reading."""

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn

    @classmethod
    def open(cls, conf) -> Reader | None:
        """A reader, or None when the full catalogue must open (see the module)."""
        path = _sqlite_path(default_url(conf))
        if path is None or not os.path.isfile(path):
            return None  # the full open creates it (or says why it cannot)
        uri = pathlib.Path(path).absolute().as_uri() + "?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=30)
            conn.execute("PRAGMA busy_timeout = 30000")
            ready = cls._ready(conn)
        except sqlite3.Error:
            return None  # the full open reports it in its own words
        if not ready:
            conn.close()
            return None
        return cls(conn)

    @staticmethod
    def _ready(conn: sqlite3.Connection) -> bool:
        """At the schema head, and nothing for ``Ember.repair`` to do."""
        revisions = tuple(row[0] for row in conn.execute(
            "SELECT version_num FROM alembic_version"))
        if revisions != (schema.HEAD,):
            return False
        busy = conn.execute(_REPAIRABLE, (*BUSY["backups"], *BUSY["volumes"],
                                          *BUSY["snapshots"])).fetchone()
        return busy is None

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc) -> None:
        self._conn.close()

    def volumes(self, project_id: str | None, *, name=None, status=None) -> list[dict]:
        """``Ember.list_volumes``'s answer: live volumes of ``project_id`` (None: every
        project), newest first, filtered by name and status if given."""
        where, args = ["deleted = 0"], []
        for column, value in (("project_id", project_id), ("display_name", name),
                              ("status", status)):
            if value is not None:
                where.append("%s = ?" % column)
                args.append(value)
        sql = "SELECT %s FROM volumes WHERE %s ORDER BY created_at DESC" % (
            ", ".join(_VOLUME_FIELDS), " AND ".join(where))
        return [views.volume_view(_volume_row(row)) for row in self._conn.execute(sql, args)]


def _when(text: str | None) -> datetime.datetime | None:
    return None if text is None else datetime.datetime.fromisoformat(text)


def _volume_row(values: tuple) -> types.SimpleNamespace:
    """The attributes ``views.volume_view`` reads, typed as the ORM gives them."""
    row = types.SimpleNamespace(**dict(zip(_VOLUME_FIELDS, values)))
    row.properties = json.loads(row.properties) if row.properties is not None else None
    row.bootable = bool(row.bootable) if row.bootable is not None else None
    row.created_at, row.updated_at = _when(row.created_at), _when(row.updated_at)
    return row
