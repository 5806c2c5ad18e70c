"""One process at a time changes the catalogue's schema.

An init system starts ``ember-api`` (with several gunicorn processes) and the workers
at once; on an empty or old database each would run the migrations, and the losers
crash on a duplicate ``alembic_version`` row or read a half-made schema. So a process
that finds the schema behind takes the database's own lock, reads the state again
(the process before it may have finished the work) and only then migrates:

- PostgreSQL: a session-level advisory lock (``pg_advisory_lock``);
- MySQL / MariaDB: a named lock (``GET_LOCK``), named after the database, since
  MySQL's lock names are server-wide and two catalogues on one server must not wait
  for each other (PostgreSQL's advisory locks are per database already);
- SQLite: an exclusive ``flock`` on ``<database file>.schema-lock`` beside the file.

A server-side lock dies with its connection, so a process killed mid-migration never
leaves the others waiting for ever.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator

import sqlalchemy as sa

from ember import errors

#: the advisory-lock key: "EMBR" (any constant shared by every Ember process works)
PG_KEY = 0x454D4252
MYSQL_NAME = "ember_catalog_schema"
#: how long a process waits for another one's migration before it gives up
WAIT_SECONDS = 600


@contextlib.contextmanager
def held(engine: sa.Engine) -> Iterator[None]:
    """Hold the schema lock of ``engine``'s database for the ``with`` block."""
    backend = engine.url.get_backend_name()
    if backend == "sqlite":
        with _file_lock(engine.url.database):
            yield
    elif backend == "postgresql":
        with _server_lock(engine, "SELECT pg_advisory_lock(%d)" % PG_KEY,
                          "SELECT pg_advisory_unlock(%d)" % PG_KEY):
            yield
    elif backend in ("mysql", "mariadb"):
        name = mysql_lock_name(engine.url.database)
        with _server_lock(engine, "SELECT GET_LOCK('%s', %d)" % (name, WAIT_SECONDS),
                          "SELECT RELEASE_LOCK('%s')" % name):
            yield
    else:  # a database Ember is not tested on: no lock, as before
        yield


def mysql_lock_name(database: str | None) -> str:
    """The MySQL lock name of ``database``'s schema: a digest of the name, which keeps
    it under MySQL's 64 characters and free of quotes (it is spliced into SQL)."""
    return "%s:%s" % (MYSQL_NAME, hashlib.sha256((database or "").encode()).hexdigest()[:40])


@contextlib.contextmanager
def _server_lock(engine: sa.Engine, take: str, release: str) -> Iterator[None]:
    with engine.connect() as conn:
        if conn.exec_driver_sql(take).scalar() in (0, None):  # GET_LOCK timed out
            raise errors.ConfigError(
                "Another process has held the catalogue's schema lock for %d s; check for "
                "a stuck `ember-manage db sync` and try again." % WAIT_SECONDS)
        conn.commit()  # the lock is the session's; the transaction must not idle open
        try:
            yield
        finally:
            conn.exec_driver_sql(release)
            conn.commit()


@contextlib.contextmanager
def _file_lock(path: str | None) -> Iterator[None]:
    if not path or path == ":memory:":
        yield  # a private database: no other process can see it
        return
    fd = os.open(path + ".schema-lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock
