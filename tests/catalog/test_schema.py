"""The catalogue schema on every backend: migration, types, soft delete, transitions."""

import datetime

import pytest
import sqlalchemy as sa
from ember import errors
from ember.catalog import Backup, Catalog, Volume, default_url, schema, utcnow
from ember.catalog.states import add_dependent, conditional_update
from ember.testing.config import make_conf


def _volume(**kw):
    values = dict(id="11111111-1111-1111-1111-111111111111", project_id="p", size=1,
                  size_bytes=4 << 20, status="available", path="/x", properties={})
    values.update(kw)
    return Volume(**values)


def _backup(**kw):
    values = dict(id="22222222-2222-2222-2222-222222222222", project_id="p",
                  volume_id="11111111-1111-1111-1111-111111111111", status="available",
                  properties={})
    values.update(kw)
    return Backup(**values)


def test_migrate_creates_the_tables_at_head_and_is_idempotent(catalog):
    catalog.migrate()  # second run: nothing to do, no error
    inspector = sa.inspect(catalog.engine)
    assert {"volumes", "snapshots", "backups", "alembic_version", "quotas", "quota_classes",
            "quota_usages", "services"} <= set(
        inspector.get_table_names())
    backup_columns = {c["name"] for c in inspector.get_columns("backups")}
    assert {"owner_host", "owner_pid", "heartbeat_at", "num_dependent_backups",
            "service_metadata", "data_timestamp", "restore_volume_id", "encryption_key_id",
            "deleted", "deleted_at", "fail_reason", "temp_snapshot_id", "change_tracking"} <= backup_columns
    with catalog.session() as s:
        assert s.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == schema.HEAD


def test_models_match_the_migration(catalog):
    """A model change without a new migration fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from ember.catalog.models import Base

    with catalog.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_datetimes_keep_microseconds_and_json_round_trips(catalog):
    stamp = datetime.datetime(2025, 3, 18, 10, 0, 7, 123456)
    with catalog.session() as s:
        s.add(_volume(properties={"k": "v", "ü": "∂"}))
        s.add(_backup(data_timestamp=stamp, created_at=stamp, properties={"a": "1"}))
    with catalog.session() as s:
        row = s.get(Backup, "22222222-2222-2222-2222-222222222222")
        assert row.data_timestamp == stamp and row.created_at == stamp
        assert row.properties == {"a": "1"}
        assert s.get(Volume, "11111111-1111-1111-1111-111111111111").properties == {
            "k": "v", "ü": "∂"}


def test_conditional_update_has_one_winner_and_ignores_deleted_rows(catalog):
    with catalog.session() as s:
        s.add(_volume())
    vid = "11111111-1111-1111-1111-111111111111"
    with catalog.session() as s:
        assert conditional_update(s, Volume, vid, ["available"], status="backing-up")
    with catalog.session() as s:
        assert not conditional_update(s, Volume, vid, ["available"], status="backing-up")
        assert conditional_update(s, Volume, vid, None, deleted=True, status="deleted")
    with catalog.session() as s:
        assert not conditional_update(s, Volume, vid, None, status="available")
        row = s.get(Volume, vid)
        assert (row.status, row.deleted) == ("deleted", True)
        assert row.updated_at is not None and row.updated_at <= utcnow()


def test_dependent_counter_is_atomic_and_never_negative(catalog):
    with catalog.session() as s:
        s.add(_backup())
    bid = "22222222-2222-2222-2222-222222222222"
    for delta in (+1, +1, -1, -1, -1):
        with catalog.session() as s:
            add_dependent(s, bid, delta)
    with catalog.session() as s:
        assert s.get(Backup, bid).num_dependent_backups == 0
        add_dependent(s, bid, +1)
    with catalog.session() as s:
        assert s.get(Backup, bid).num_dependent_backups == 1


def test_default_catalogue_is_sqlite_in_wal_mode_under_state_path(tmp_path):
    conf = make_conf(state_path=str(tmp_path / "state"))
    assert default_url(conf) == "sqlite:///" + str(tmp_path / "state" / "ember.sqlite")
    cat = Catalog.open(conf)
    with cat.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert (tmp_path / "state" / "ember.sqlite").exists()
    cat.close()


def test_unreachable_database_is_one_config_error_line():
    cat = Catalog("postgresql+psycopg2://nobody@127.0.0.1:1/none")
    with pytest.raises(errors.ConfigError) as info:
        cat.migrate()
    message = str(info.value)
    assert message.startswith("Cannot open the catalogue postgresql+psycopg2://nobody@127.0.0.1:1/none")
    assert message.endswith("check [database] connection.")
    assert "\n" not in message.strip()
