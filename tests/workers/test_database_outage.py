"""A catalogue outage of a few seconds, made for real with a TCP proxy between Ember and
PostgreSQL (``harness.faultproxy``), cut the moment a run step sends its last write: a
backup ending ``available``, a restore giving its backup back, a delete removing its row.

The write is tried again until the database answers, so once the proxy passes again
every row ends final (none left ``creating``/``restoring``/``deleting`` while its owner
lives), the volumes are usable, the restored data is the backed-up data and the deleted
backup's objects are gone. Run in the API process (``ThreadPoolDispatcher``, what
``ember-api`` uses without a message bus) and in an ``ember-backup`` worker.
"""

import hashlib
import os
import time

import pytest
import sqlalchemy as sa
from ember.context import RequestContext
from ember.service.dispatch import ThreadPoolDispatcher
from harness.cluster import PG_URL, Cluster, require_rabbitmq
from ember.testing.services import PATIENCE, scratch_database

pytestmark = pytest.mark.slow

ADMIN = RequestContext.default()
MiB = 1 << 20
#: the last write of each run step, as psycopg2 sends it (values inlined)
BACKUP_END = b"object_count="
RESTORE_END = b"owner_host=NULL"
DELETE_END = b"status='deleted'"


@pytest.fixture
def proxied(tmp_path, fault_proxy):
    """(cluster, proxy): the cluster's catalogue reached through a fault proxy."""
    with scratch_database(PG_URL, "bash scripts/servers/databases.sh start") as db_url:
        url = sa.engine.make_url(db_url)
        proxy = fault_proxy(url.port or 5432)
        cluster = Cluster(tmp_path, url.set(port=proxy.port).render_as_string(
            hide_password=False))
        try:
            yield cluster, proxy
        finally:
            proxy.set("pass")
            cluster.close()


def sha(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def cut_at_statement(proxy, statement: bytes, start) -> None:
    """``start()`` the work, cut the catalogue when ``statement`` is sent, wait until
    Ember has tried to reconnect twice (refused), then let it through again."""
    cut = proxy.when(statement, "cut")
    start()
    assert cut.wait(120), "the statement %r was never sent" % statement
    proxy.wait(lambda p: p.refused >= 2)
    proxy.set("pass")


def wait_for(what, check, timeout: float = PATIENCE):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "never: %s" % what
        time.sleep(0.2)


def backup_row(service, backup_id):
    rows = [b for b in service.list_backups(ADMIN, all_projects=True) if b["id"] == backup_id]
    return rows[0] if rows else None


def outage_at_each_last_write(cluster, proxy, dispatcher) -> None:
    service = cluster.service
    path = os.path.join(cluster.shared, "vol.img")
    with open(path, "wb") as f:
        f.write(os.urandom(6 * MiB))
    volume = service.create_volume(ADMIN, "vol", path=path)

    backup = service.begin_create_backup(ADMIN, volume["id"], name="b")
    cut_at_statement(proxy, BACKUP_END, lambda: dispatcher.dispatch(
        ADMIN, "create", {"backup_id": backup["id"]}))
    done = wait_for("backup final", lambda: (backup_row(service, backup["id"]) or {}).get(
        "status") not in (None, "creating") and backup_row(service, backup["id"]))
    assert done["status"] == "available", done
    assert service.get_volume(ADMIN, volume["id"])["status"] == "available"
    objects = [f for _d, _s, files in os.walk(cluster.repo) for f in files]
    # the data objects, _metadata and _sha256file, all of this backup
    assert len(objects) == done["object_count"] + 2, (objects, done)
    assert all(backup["id"] in name for name in objects), objects

    begun = service.begin_restore_backup(ADMIN, backup["id"], name="restored")
    cut_at_statement(proxy, RESTORE_END, lambda: dispatcher.dispatch(
        ADMIN, "restore", {"backup_id": backup["id"], "target_is_new": True}))
    wait_for("restore final", lambda: backup_row(service, backup["id"])["status"]
             == "available")
    restored = service.get_volume(ADMIN, begun["volume_id"])
    assert restored["status"] == "available", restored
    assert sha(restored["path"]) == sha(path)

    deleting = service.begin_delete_backup(ADMIN, backup["id"], force=True)
    cut_at_statement(proxy, DELETE_END, lambda: dispatcher.dispatch(
        ADMIN, "delete", deleting))
    wait_for("backup deleted", lambda: backup_row(service, backup["id"]) is None)
    assert [f for _d, _s, files in os.walk(cluster.repo) for f in files] == []
    assert {v["status"] for v in service.list_volumes(ADMIN, all_projects=True)} == {
        "available"}


def test_outage_at_the_last_writes_in_the_api_process(proxied):
    cluster, proxy = proxied
    dispatcher = ThreadPoolDispatcher(cluster.service, 2)
    try:
        outage_at_each_last_write(cluster, proxy, dispatcher)
    finally:
        dispatcher.shutdown()


def test_outage_at_the_last_writes_in_a_worker(proxied):
    require_rabbitmq()
    cluster, proxy = proxied
    cluster.start_worker("w1")
    outage_at_each_last_write(cluster, proxy, cluster.dispatcher)
