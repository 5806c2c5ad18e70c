"""The schema lock is the database's own: on MySQL / MariaDB, whose lock names are
server-wide, two catalogues on one server (two test runs, two deployments) never wait
for each other, while two processes on one catalogue do."""

import contextlib

import sqlalchemy as sa
from ember.catalog import schemalock
from ember.testing.services import scratch_database

from .conftest import SERVERS


def test_the_mysql_lock_name_is_per_database_short_and_plain():
    names = {schemalock.mysql_lock_name(db) for db in ("test", "ember", "x" * 64, "a'b")}
    assert len(names) == 4
    for name in names:
        assert len(name) <= 64 and "'" not in name
        assert name.startswith("ember_catalog_schema:")


def _engine(url):
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


def _free(url) -> int:
    """MySQL's IS_FREE_LOCK of the schema lock of ``url``'s database."""
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            name = schemalock.mysql_lock_name(sa.make_url(url).database)
            return conn.exec_driver_sql("SELECT IS_FREE_LOCK('%s')" % name).scalar()
    finally:
        engine.dispose()


def test_a_schema_lock_on_one_mysql_database_leaves_another_free():
    with contextlib.ExitStack() as stack:
        first, second = (stack.enter_context(scratch_database(*SERVERS["mysql"]))
                         for _ in range(2))
        held_first, held_second = _engine(first), _engine(second)
        stack.callback(held_first.dispose)
        stack.callback(held_second.dispose)
        with schemalock.held(held_first):
            assert (_free(first), _free(second)) == (0, 1)
            with schemalock.held(held_second):  # waited WAIT_SECONDS on a shared name
                assert (_free(first), _free(second)) == (0, 0)
        assert (_free(first), _free(second)) == (1, 1)
