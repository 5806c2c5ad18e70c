"""The catalogue's database: open, migrate, transact (see :mod:`ember.catalog`)."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from ember import errors
from ember.catalog import schema, schemalock
from ember.catalog.quickread import default_url
from ember.catalog.models import Backup, Base, Snapshot, Volume, utcnow  # noqa: F401

# alembic >= 1.16 logs one INFO line per built-in plugin it sets up when it is imported:
# noise at every start-up of ember-api and the workers (its migration lines stay)
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

__all__ = ["Backup", "Catalog", "Snapshot", "Volume", "default_url", "utcnow"]


def _sqlite_setup(engine: sa.Engine) -> None:
    """WAL, a generous busy timeout, and BEGIN IMMEDIATE for every transaction: a
    deferred transaction that reads and then writes fails with SQLITE_BUSY instead of
    waiting when another process wrote meanwhile, which would break the race guarantees."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 30000")
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


#: database → (the DB-API module its extra installs, the URL driver name for it, the extra)
DB_EXTRAS = {
    "postgresql": ("psycopg", "postgresql+psycopg", "ember-backup[postgresql]"),
    "mysql": ("pymysql", "mysql+pymysql", "ember-backup[mysql]"),
    "mariadb": ("pymysql", "mariadb+pymysql", "ember-backup[mysql]"),
}


def _installed_driver(url: sa.URL) -> sa.URL:
    """A URL that names only the database (``postgresql://``, ``mysql://``) gets the
    DB-API module Ember's extra installs (psycopg 3, PyMySQL) when SQLAlchemy's own
    default for it is not installed; an explicit ``+driver`` is left alone."""
    extra = DB_EXTRAS.get(url.get_backend_name())
    if extra is None or "+" in url.drivername:
        return url
    try:
        url.get_dialect().import_dbapi()
        return url  # SQLAlchemy's default driver is there
    except ImportError:
        return url.set(drivername=extra[1])


def _missing_driver(url: sa.URL, exc: ImportError) -> str:
    extra = DB_EXTRAS.get(url.get_backend_name())
    if extra is not None and url.drivername in (url.get_backend_name(), extra[1]):
        hint = "pip install '%s'" % extra[2]
    else:
        hint = "install the DB-API module %s names" % url.drivername
    return ("[database] connection %s needs a database driver that is not installed (%s); "
            "%s" % (url.render_as_string(hide_password=True), exc, hint))


class Catalog:
    """A connection pool and session factory for one catalogue database."""

    def __init__(self, url: str):
        try:
            self.url = sa.engine.make_url(url)
        except Exception as exc:  # noqa: BLE001 - a malformed URL is a configuration error
            raise errors.ConfigError("[database] connection cannot be parsed: %s" % exc) from None
        self.url = _installed_driver(self.url)
        kwargs = {"future": True}
        if self.url.get_backend_name() == "sqlite":
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
            # as PostgreSQL: a statement sees what others committed before it (InnoDB's
            # REPEATABLE READ would show a stale status after losing a conditional update)
            kwargs["isolation_level"] = "READ COMMITTED"
        try:
            self.engine = sa.create_engine(self.url, **kwargs)
        except ImportError as exc:
            raise errors.ConfigError(_missing_driver(self.url, exc)) from exc
        except Exception as exc:  # bad URL
            raise errors.ConfigError("[database] connection %r cannot be used: %s"
                                     % (self.url.render_as_string(hide_password=True),
                                        exc)) from exc
        if self.url.get_backend_name() == "sqlite":
            _sqlite_setup(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def open(cls, conf) -> Catalog:
        """Connect to the configured catalogue and bring its schema to the newest
        revision, unless ``[database] auto_migrate`` is off (then an old schema is
        refused and ``ember-manage db sync`` upgrades it)."""
        catalog = cls(default_url(conf))
        catalog.migrate(auto=conf.database.auto_migrate)
        return catalog

    def migrate(self, auto: bool = True) -> None:
        """``alembic upgrade head``, programmatically, on this database, unless it is at
        head already (one query, Alembic not imported). Any number of processes may call
        it at once: the first migrates under the schema lock
        (:mod:`ember.catalog.schemalock`), the others wait and find the work done.
        Raises ConfigError, changing nothing, when the database is not Ember's (see
        :mod:`ember.catalog.schema`), or is behind and ``auto`` is off."""
        try:
            state = schema.read_state(self.engine)
            if state.at_head:
                return
            self._refuse_foreign(state)  # before the lock: someone else's file stays untouched
            with schemalock.held(self.engine):
                state = schema.read_state(self.engine)  # the lock's previous holder may
                if not state.at_head:                  # have done the work meanwhile
                    self._upgrade(state, auto)
        except (sa.exc.OperationalError, sqlite3.Error) as exc:
            cause = getattr(exc, "orig", exc)
            reason = (str(cause).strip().splitlines() or ["connection failed"])[0]
            raise errors.ConfigError(
                "Cannot open the catalogue %s: %s; check [database] connection."
                % (self.where, reason)) from exc

    @property
    def where(self) -> str:
        """The database's URL without its password, for messages."""
        return self.url.render_as_string(hide_password=True)

    def revision(self) -> str | None:
        """The schema revision the database is at (None for an empty database)."""
        revisions = schema.read_state(self.engine).revisions
        return ",".join(revisions) if revisions else None

    @staticmethod
    def _alembic_config():
        from alembic.config import Config  # imported late: most opens need no migration

        cfg = Config()
        cfg.set_main_option("script_location", "ember.catalog:migrations")
        return cfg

    def _refuse_foreign(self, state: schema.SchemaState) -> None:
        from alembic.script import ScriptDirectory

        known = {rev.revision for rev in
                 ScriptDirectory.from_config(self._alembic_config()).walk_revisions()}
        reason = schema.refusal(state, known, self.where)
        if reason:
            raise errors.ConfigError(reason)

    def _upgrade(self, state: schema.SchemaState, auto: bool) -> None:
        from alembic import command

        self._refuse_foreign(state)
        if not auto:
            raise errors.ConfigError(schema.behind(state, self.where))
        cfg = self._alembic_config()
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on normal exit, rolled back on an exception."""
        with self._sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()
