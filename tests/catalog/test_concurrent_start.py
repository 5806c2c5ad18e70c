"""Any number of processes may open an empty or old catalogue at once: the first
migrates under the database's schema lock, the others wait and find the work done
(:mod:`ember.catalog.schemalock`). Without the lock, five of six processes died on an
empty PostgreSQL (duplicate ``alembic_version``) and on MariaDB ("Table 'backups'
already exists")."""

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
from ember.catalog import Catalog, schema

PROCESSES = 6
#: each process imports Ember, then waits for this file before it migrates, so all of
#: them migrate at the same moment however slowly the machine starts them
OPENER = r"""
import os, sys, time
from ember.catalog import Catalog
ready, go, url = sys.argv[1:]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.01)
Catalog(url).migrate()
"""


def _open_at_once(url: str, tmp_path, count: int = PROCESSES) -> list[tuple[int, str]]:
    """``count`` processes run ``Catalog(url).migrate()`` released together; returns
    (exit status, stderr) of each."""
    go = tmp_path / "go"
    procs, readies = [], []
    for n in range(count):
        ready = tmp_path / ("ready-%d" % n)
        readies.append(ready)
        procs.append(subprocess.Popen([sys.executable, "-c", OPENER, str(ready), str(go), url],
                                      stderr=subprocess.PIPE, text=True))
    for ready, proc in zip(readies, procs):
        while not ready.exists():  # an observable state: the process is at the gate
            assert proc.poll() is None, proc.stderr.read()
            _wait(proc, 0.05)
    go.touch()
    return [(proc.wait(timeout=300), proc.stderr.read()) for proc in procs]


def _wait(proc, seconds):
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        pass


def _revisions(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [row[0] for row in conn.exec_driver_sql("SELECT version_num FROM alembic_version")]
    finally:
        engine.dispose()


@pytest.mark.parametrize("round_", range(3))
def test_processes_opening_an_empty_catalogue_at_once_all_start(db_url, tmp_path, round_):
    results = _open_at_once(db_url, tmp_path)
    assert [status for status, _ in results] == [0] * PROCESSES, [e for _, e in results if e]
    assert _revisions(db_url) == [schema.HEAD]


def _migrate_to(url: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "ember.catalog:migrations")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()


def test_processes_opening_an_old_catalogue_at_once_upgrade_it_once(db_url, tmp_path):
    _migrate_to(db_url, "0002")
    results = _open_at_once(db_url, tmp_path)
    assert [status for status, _ in results] == [0] * PROCESSES, [e for _, e in results if e]
    assert _revisions(db_url) == [schema.HEAD]


def test_without_auto_migrate_an_old_catalogue_is_refused_unchanged(db_url):
    _migrate_to(db_url, "0002")
    catalog = Catalog(db_url)
    with pytest.raises(Exception) as refused:
        catalog.migrate(auto=False)
    assert str(refused.value) == (
        "The catalogue database %s is at schema revision 0002 and this Ember needs revision "
        "%s; run `ember-manage db sync` first (or set [database] auto_migrate = true)."
        % (catalog.where, schema.HEAD))
    assert _revisions(db_url) == ["0002"]
    catalog.migrate()  # what `ember-manage db sync` does
    assert _revisions(db_url) == [schema.HEAD]
    catalog.migrate(auto=False)  # at head: nothing to refuse
    catalog.close()


def test_a_killed_migration_does_not_leave_the_lock_held(db_url, tmp_path):
    """The lock dies with its holder (a server lock with its connection, a flock with
    its file descriptor): a process killed while holding it blocks nobody."""
    holder = subprocess.Popen([sys.executable, "-c", r"""
import sys, time
import sqlalchemy as sa
from ember.catalog import schemalock
engine = sa.create_engine(sys.argv[1])
with schemalock.held(engine):
    print("held", flush=True)
    time.sleep(600)
""", db_url], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "held\n"
    holder.kill()
    holder.wait()
    assert [status for status, _ in _open_at_once(db_url, tmp_path, 2)] == [0, 0]
    assert _revisions(db_url) == [schema.HEAD]
    if db_url.startswith("sqlite"):
        assert os.path.exists(db_url[len("sqlite:///"):] + ".schema-lock")
