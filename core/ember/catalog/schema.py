"""Which schema a catalogue database holds, read cheaply and without changing it.

Opening the catalogue on every command must not cost an Alembic run: one query reads
``alembic_version`` and only a database that is not at :data:`HEAD` needs Alembic.
The same read guards against a database that is not Ember's: ``--config-file
cinder.conf`` brings Cinder's own ``[database] connection``, whose ``volumes`` and
``backups`` tables have Ember's names. Such a database is refused before anything is
written to it.
"""

from __future__ import annotations

import os
import pathlib
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: quickread reads HEAD without SQLAlchemy
    import sqlalchemy as sa

#: the newest revision under ``ember/catalog/migrations/versions`` (a test keeps them equal)
HEAD = "0007"
#: tables an Ember migration creates, or sqlalchemy-migrate's table of a pre-Alembic
#: Cinder: found without an ``alembic_version`` table, they belong to someone else
CLAIMED_TABLES = frozenset({"volumes", "snapshots", "backups", "migrate_version"})


@dataclass(frozen=True)
class SchemaState:
    """What a database holds: its table names, whether it has an ``alembic_version``
    table, and the revisions recorded there."""

    tables: frozenset[str]
    versioned: bool
    revisions: tuple[str, ...]

    @property
    def at_head(self) -> bool:
        return self.revisions == (HEAD,)


EMPTY = SchemaState(frozenset(), False, ())


def read_state(engine: sa.Engine) -> SchemaState:
    """The schema state of ``engine``'s database. On SQLite the file is opened read-only
    by the standard library (a missing file is an empty database), so neither Ember's
    WAL switch nor a lock touches a database that may be someone else's."""
    import sqlalchemy as sa

    if engine.url.get_backend_name() == "sqlite":
        return _read_sqlite(engine.url.database)
    with engine.connect() as conn:
        try:
            revisions = conn.exec_driver_sql("SELECT version_num FROM alembic_version")
            found = tuple(row[0] for row in revisions)
        except sa.exc.ProgrammingError:  # no such table (PostgreSQL, MySQL/MariaDB)
            conn.rollback()  # PostgreSQL aborts the transaction on a missing table
            return SchemaState(frozenset(sa.inspect(conn).get_table_names()), False, ())
        if found == (HEAD,):
            return SchemaState(frozenset(), True, found)  # tables not needed at head
        return SchemaState(frozenset(sa.inspect(conn).get_table_names()), True, found)


def _read_sqlite(path: str | None) -> SchemaState:
    """Raises ``sqlite3.Error`` for a file that cannot be read as a database (not one,
    unreadable, locked past the busy timeout): guessing "empty" could migrate it."""
    if not path or path == ":memory:" or not os.path.exists(path):
        return EMPTY
    uri = pathlib.Path(path).absolute().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=30)
    try:
        tables = frozenset(row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"))
        revisions = ()
        if "alembic_version" in tables:
            revisions = tuple(row[0] for row in conn.execute(
                "SELECT version_num FROM alembic_version"))
        return SchemaState(tables, "alembic_version" in tables, revisions)
    finally:
        conn.close()


def refusal(state: SchemaState, known_revisions, where: str) -> str | None:
    """The one-line reason to refuse a database in ``state`` (``known_revisions``:
    every revision Ember ships), or None when Ember may migrate it."""
    foreign = [r for r in state.revisions if r not in known_revisions]
    if foreign:
        what = "its alembic_version %r is not an Ember schema revision" % foreign[0]
    elif not state.versioned and state.tables & CLAIMED_TABLES:
        what = "it has %s table(s) but no Ember schema version" % ", ".join(
            sorted(state.tables & CLAIMED_TABLES))
    else:
        return None
    looks_like = " (it looks like Cinder's database)" if "backups" in state.tables else ""
    return ("The catalogue database %s is not Ember's: %s%s; set Ember's own "
            "[database] connection (e.g. in a --config-file given after cinder.conf)."
            % (where, what, looks_like))


def behind(state: SchemaState, where: str) -> str:
    """The one-line refusal of a database whose schema is older than this Ember's while
    ``[database] auto_migrate`` is off."""
    found = ("is empty" if not state.revisions
             else "is at schema revision %s" % ",".join(state.revisions))
    return ("The catalogue database %s %s and this Ember needs revision %s; run "
            "`ember-manage db sync` first (or set [database] auto_migrate = true)."
            % (where, found, HEAD))
