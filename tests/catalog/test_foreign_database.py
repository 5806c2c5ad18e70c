"""A ``[database] connection`` that is not Ember's is refused before anything is written.

``--config-file /etc/cinder/cinder.conf`` brings Cinder's own database, whose ``volumes``
and ``backups`` tables have Ember's names. Cinder's schema is made here by hand (a
``backups`` table with Cinder's columns, and Cinder's first Alembic revision or, for a
pre-Alembic Cinder, sqlalchemy-migrate's ``migrate_version``), on every backend.
"""

import hashlib
import os

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory
from ember import errors
from ember.catalog import Catalog, schema
from ember.testing.config import make_conf

CINDER_REVISION = "921e1a36b076"  # cinder/db/migrations/versions/921e1a36b076_initial.py
_S = sa.String(255)
_ID = sa.String(36)
#: Cinder's ``backups`` columns (cinder/db/sqlalchemy/models.py), portable types
CINDER_BACKUPS = sa.Table(
    "backups", sa.MetaData(),
    *(sa.Column(name, sa.DateTime) for name in ("created_at", "updated_at", "deleted_at")),
    sa.Column("deleted", sa.Boolean), sa.Column("id", _ID, primary_key=True),
    sa.Column("volume_id", _ID, nullable=False),
    *(sa.Column(name, _S) for name in (
        "user_id", "project_id", "host", "availability_zone", "display_name",
        "display_description", "container", "status", "fail_reason", "service_metadata",
        "service")),
    sa.Column("size", sa.Integer), sa.Column("object_count", sa.Integer),
    *(sa.Column(name, _ID) for name in ("parent_id", "temp_volume_id", "temp_snapshot_id")),
    sa.Column("num_dependent_backups", sa.Integer), sa.Column("snapshot_id", _ID),
    sa.Column("data_timestamp", sa.DateTime), sa.Column("restore_volume_id", _ID),
    sa.Column("encryption_key_id", _ID),
)
CINDER_ROW = dict(id="b1", volume_id="v1", status="available", container="volumebackups",
                  service="cinder.backup.drivers.swift.SwiftBackupDriver", deleted=False)


def _make_cinder_database(url: str, *, alembic: bool) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        CINDER_BACKUPS.create(conn)
        conn.execute(CINDER_BACKUPS.insert().values(**CINDER_ROW))
        if alembic:
            conn.exec_driver_sql("CREATE TABLE alembic_version "
                                 "(version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
            conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('%s')" % CINDER_REVISION)
        else:
            conn.exec_driver_sql("CREATE TABLE migrate_version (repository_id VARCHAR(250) "
                                 "NOT NULL PRIMARY KEY, repository_path TEXT, version INTEGER)")
            conn.exec_driver_sql("INSERT INTO migrate_version VALUES ('cinder', '/x', 145)")
    engine.dispose()


def _snapshot(url: str):
    """Every table's name and rows, to show a refused open changed nothing."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        names = sorted(sa.inspect(conn).get_table_names())
        rows = {n: sorted(map(tuple, conn.exec_driver_sql("SELECT * FROM " + n))) for n in names}
    engine.dispose()
    return rows


def _files(directory) -> dict:
    """Name -> sha256 of every file in ``directory`` (SQLite: the database and any
    -wal/-shm/-journal file an open would leave)."""
    return {name: hashlib.sha256((directory / name).read_bytes()).hexdigest()
            for name in sorted(os.listdir(directory))}


@pytest.mark.parametrize("alembic", [True, False], ids=["cinder-alembic", "cinder-legacy"])
def test_cinders_database_is_refused_unchanged_on_every_backend(db_url, alembic):
    _make_cinder_database(db_url, alembic=alembic)
    before = _snapshot(db_url)
    catalog = Catalog(db_url)
    with pytest.raises(errors.ConfigError) as info:
        catalog.migrate()
    catalog.close()
    where = sa.engine.make_url(db_url).render_as_string(hide_password=True)
    what = ("its alembic_version '%s' is not an Ember schema revision" % CINDER_REVISION
            if alembic else "it has backups, migrate_version table(s) but no Ember schema "
                            "version")
    assert str(info.value) == (
        "The catalogue database %s is not Ember's: %s (it looks like Cinder's database); "
        "set Ember's own [database] connection (e.g. in a --config-file given after "
        "cinder.conf)." % (where, what))
    assert _snapshot(db_url) == before


def test_cinder_sqlite_file_is_not_touched_at_all(tmp_path):
    """Not even switched to WAL or locked: the file and its directory stay byte-equal."""
    directory = tmp_path / "cinder"
    directory.mkdir()
    url = "sqlite:///" + str(directory / "cinder.sqlite")
    _make_cinder_database(url, alembic=True)
    before = _files(directory)
    conf = make_conf(state_path=str(tmp_path / "state"))
    conf.set_override("connection", url, group="database")
    with pytest.raises(errors.ConfigError, match="is not Ember's: its alembic_version "
                                                 "'921e1a36b076'"):
        Catalog.open(conf)
    assert _files(directory) == before


def test_a_foreign_alembic_revision_without_cinders_tables_is_refused(tmp_path):
    """Another application's Alembic history: Ember would overwrite its version row."""
    url = "sqlite:///" + str(tmp_path / "other.sqlite")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32))")
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('abc123')")
    engine.dispose()
    with pytest.raises(errors.ConfigError) as info:
        Catalog(url).migrate()
    assert str(info.value).startswith(
        "The catalogue database %s is not Ember's: its alembic_version 'abc123' is not an "
        "Ember schema revision; set Ember's own [database] connection" % url)


def test_unrelated_tables_do_not_stop_a_new_catalogue(tmp_path):
    url = "sqlite:///" + str(tmp_path / "shared.sqlite")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE notes (body TEXT)")
    engine.dispose()
    catalog = Catalog(url)
    catalog.migrate()
    assert schema.read_state(catalog.engine).at_head
    catalog.close()


def test_packaged_head_is_the_newest_migration():
    """``schema.HEAD`` lets an open skip Alembic; a new migration must move it."""
    cfg = Config()
    cfg.set_main_option("script_location", "ember.catalog:migrations")
    assert ScriptDirectory.from_config(cfg).get_heads() == [schema.HEAD]


def test_a_file_that_is_not_a_database_is_one_line_and_left_unchanged(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"not a database\n" * 100)
    url = "sqlite:///" + str(path)
    with pytest.raises(errors.ConfigError) as info:
        Catalog(url).migrate()
    assert str(info.value) == ("Cannot open the catalogue %s: file is not a database; "
                               "check [database] connection." % url)
    assert path.read_bytes() == b"not a database\n" * 100
