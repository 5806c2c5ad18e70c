"""A fresh catalogue database per test on SQLite, PostgreSQL and MariaDB/MySQL.

The servers are shared with other test runs, so each test gets its own database
``ember_test_<random>``, dropped afterwards. Without a server the test skips with a
reason (fails under CI=true). Override the servers with EMBER_TEST_PG_URL /
EMBER_TEST_MYSQL_URL (a URL whose database the test user may create siblings of).
"""

import os
import uuid

import pytest
import sqlalchemy as sa
from ember.testing.services import require, tcp_open

SERVERS = {
    "postgresql": (os.environ.get("EMBER_TEST_PG_URL",
                                  "postgresql+psycopg2://postgres@127.0.0.1:5432/test"),
                   "service postgresql start (trust auth for postgres on 127.0.0.1:5432)"),
    "mysql": (os.environ.get("EMBER_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
              "service mariadb start (root without password on 127.0.0.1:3306)"),
}
BACKENDS = ["sqlite", "postgresql", "mysql"]


def _server_db(backend: str):
    base = sa.engine.make_url(SERVERS[backend][0])
    require(tcp_open(base.host or "127.0.0.1", base.port), backend + " at %s:%s"
            % (base.host, base.port), SERVERS[backend][1])
    name = "ember_test_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE DATABASE " + name)
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        force = " WITH (FORCE)" if backend == "postgresql" else ""
        with admin.connect() as conn:
            conn.exec_driver_sql("DROP DATABASE IF EXISTS " + name + force)
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    """SQLAlchemy URL of an empty database on each backend."""
    if request.param == "sqlite":
        yield "sqlite:///" + str(tmp_path / "ember.sqlite")
    else:
        yield from _server_db(request.param)


@pytest.fixture
def catalog(db_url):
    from ember.catalog import Catalog

    cat = Catalog(db_url)
    cat.migrate()
    yield cat
    cat.close()
