"""``[database] connection`` as users write it: a plain ``postgresql://`` or
``mysql://`` URL works with the DB-API module Ember's extras install
(``ember-backup[postgresql]``: psycopg 3; ``ember-backup[mysql]``: PyMySQL). The error
for a missing driver, which names the extra, is checked in a clean install by
``tests/install/test_wheels.py`` (no driver there)."""

import pytest
import sqlalchemy as sa
from ember.catalog import Catalog
from ember.testing.services import scratch_database

SERVERS = {  # as tests/catalog/conftest.py (not importable in importlib mode)
    "postgresql": ("postgresql+psycopg2://postgres@127.0.0.1:5432/test",
                   "service postgresql start (trust auth for postgres on 127.0.0.1:5432)"),
    "mysql": ("mysql+pymysql://root@127.0.0.1:3306/test",
              "service mariadb start (root without password on 127.0.0.1:3306)"),
}


@pytest.mark.parametrize("backend,plain,driver", [
    ("postgresql", "postgresql", "psycopg"),
    ("mysql", "mysql", None),  # MySQLdb if installed, else PyMySQL from the extra
])
def test_a_plain_url_opens_the_catalogue(backend, plain, driver):
    with scratch_database(*SERVERS[backend]) as url:
        url = sa.engine.make_url(url).set(drivername=plain)
        catalog = Catalog(url.render_as_string(hide_password=False))
        try:
            catalog.migrate()
            with catalog.session() as session:
                assert session.execute(sa.text("SELECT 1")).scalar() == 1
            used = catalog.engine.dialect.driver
            assert used == driver if driver else used in ("mysqldb", "pymysql")
        finally:
            catalog.close()
