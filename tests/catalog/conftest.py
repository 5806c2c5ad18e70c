"""A fresh catalogue database per test on SQLite, PostgreSQL and MariaDB/MySQL.

The servers are shared with other test runs, so each test gets its own database
``ember_test_<random>``, dropped afterwards. Without a server the test skips with a
reason (fails under CI=true). Override the servers with EMBER_TEST_PG_URL /
EMBER_TEST_MYSQL_URL (a URL whose database the test user may create siblings of).
"""

import os

import pytest
from ember.testing.services import scratch_database

SERVERS = {
    "postgresql": (os.environ.get("EMBER_TEST_PG_URL",
                                  "postgresql+psycopg2://postgres@127.0.0.1:5432/test"),
                   "service postgresql start (trust auth for postgres on 127.0.0.1:5432)"),
    "mysql": (os.environ.get("EMBER_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
              "service mariadb start (root without password on 127.0.0.1:3306)"),
}
BACKENDS = ["sqlite", "postgresql", "mysql"]


def _server_db(backend: str):
    with scratch_database(*SERVERS[backend]) as url:
        yield url


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
