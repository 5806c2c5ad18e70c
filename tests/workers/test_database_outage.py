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
import json
import os
import time
import urllib.request

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
    Ember has tried to reconnect twice since (refused), then let it through again."""
    refused = proxy.refused  # the count is the proxy's whole life's; this cut's are new
    cut = proxy.when(statement, "cut")
    start()
    assert cut.wait(120), "the statement %r was never sent" % statement
    proxy.wait(lambda p: p.refused >= refused + 2)
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


#: the final write's tries: 1 + db_max_retries, 0.1 s apart (seconds, not the default 20)
SHORT_RETRIES = "db_max_retries = 2\ndb_retry_interval = 0.1\ndb_max_retry_interval = 0.1\n"


def logged(caplog, text: str) -> int:
    return sum(text in r.getMessage() for r in list(caplog.records))


def outlast_the_retries(proxy, caplog, statement: bytes, backup_id: str, start) -> None:
    """``start()`` the work, cut the catalogue when ``statement`` (a final write) is
    sent, and keep it cut until the write's retries are spent and the row handed to
    repair, which the database still refuses (twice); then let it through again."""
    cut = proxy.when(statement, "cut")
    start()
    assert cut.wait(120), "the statement %r was never sent" % statement
    wait_for("the final write given up and the row handed to repair",
             lambda: logged(caplog, "Could not repair backup %s yet" % backup_id) >= 2)
    assert logged(caplog, "(2 of 2)") >= 1  # every retry was spent first
    proxy.set("pass")


def test_final_write_outlasting_its_retries_hands_the_row_to_repair(proxied, caplog):
    """Item 1's bound: the database cut at a backup's final write for longer than
    ``db_max_retries`` x ``db_retry_interval`` (then at a restore's). The write is given
    up, the row handed to repair, and once the database answers the repair ends it
    final by recovery's rules: the backup ``error`` with its reason (the API process
    starts no dead work again), its objects all its own (none orphaned), the volume
    usable; the restored-to volume ``error_restoring``, its backup ``available``; and
    ``ember-api`` on the same catalogue answers throughout."""
    cluster, proxy = proxied
    cluster.write_config(transport_url="")  # the API runs its work in its own threads
    with open(cluster.config, "a") as f:
        f.write(SHORT_RETRIES)  # the file ends in [database]
    url = cluster.start_api()
    wait_for("ember-api answering", lambda: api_backups(url) == {})
    service = cluster.service
    assert service.conf.database.db_max_retries == 2
    dispatcher = ThreadPoolDispatcher(service, 2)
    try:
        path = os.path.join(cluster.shared, "vol.img")
        with open(path, "wb") as f:
            f.write(os.urandom(6 * MiB))
        volume = service.create_volume(ADMIN, "vol", path=path)
        backup = service.begin_create_backup(ADMIN, volume["id"], name="b")
        outlast_the_retries(proxy, caplog, BACKUP_END, backup["id"], lambda: dispatcher.dispatch(
            ADMIN, "create", {"backup_id": backup["id"]}))
        done = wait_for("backup final", lambda: (backup_row(service, backup["id"]) or {}).get(
            "status") not in (None, "creating") and backup_row(service, backup["id"]))
        assert done["status"] == "error", done
        assert done["fail_reason"] == "incomplete backup reset: the process running it is " \
            "gone", done
        assert service.get_volume(ADMIN, volume["id"])["status"] == "available"
        objects = [f for _d, _s, files in os.walk(cluster.repo) for f in files]
        assert objects and all(backup["id"] in name for name in objects), objects

        # a restore's final write, the same way (from a backup that finished)
        good = service.begin_create_backup(ADMIN, volume["id"], name="good")
        dispatcher.dispatch(ADMIN, "create", {"backup_id": good["id"]})
        wait_for("backup available", lambda: backup_row(service, good["id"])["status"]
                 == "available")
        begun = service.begin_restore_backup(ADMIN, good["id"], name="restored")
        outlast_the_retries(proxy, caplog, RESTORE_END, good["id"], lambda: dispatcher.dispatch(
            ADMIN, "restore", {"backup_id": good["id"], "target_is_new": True}))
        wait_for("restore final", lambda: backup_row(service, good["id"])["status"]
                 == "available")
        assert service.get_volume(ADMIN, begun["volume_id"])["status"] == "error_restoring"
        assert service.get_volume(ADMIN, volume["id"])["status"] == "available"
    finally:
        dispatcher.shutdown()
    listed = api_backups(url)
    assert listed == {backup["id"]: "error", good["id"]: "available"}, listed


def api_backups(url: str) -> dict | None:
    """{id: status} of every backup, as ``ember-api`` lists them (None: no answer)."""
    request = urllib.request.Request(url + "/v3/default/backups/detail",
                                     headers={"X-Auth-Token": "admin:default"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return {b["id"]: b["status"] for b in json.loads(answer.read())["backups"]}
    except OSError:
        return None
