"""``ember-backup`` workers on the real RabbitMQ and PostgreSQL: two workers with their own
host names, backups begun at once from several clients, one worker SIGKILLed mid-way,
RabbitMQ's connections cut mid-run, a worker started later.

Whatever happens, every backup ends ``available`` (and verifies) or ``error`` (and
deletes to nothing); no row is left busy, no volume ``backing-up``, no object without
a live backup, and no work is run twice (each worker logs every piece it takes).
"""

import concurrent.futures
import json
import os
import re
import subprocess
import time

import pytest
from ember.context import RequestContext
from ember.service.handoff import GONE
from ember.testing.services import PATIENCE
from ember.workers import rpc
from harness.cluster import rabbit_vhost

pytestmark = pytest.mark.slow

ADMIN = RequestContext.default()
MiB = 1 << 20


def make_volumes(cluster, count: int, size: int = 8 * MiB) -> list[str]:
    ids = []
    for n in range(count):
        path = os.path.join(cluster.shared, "vol-%d.img" % n)
        with open(path, "wb") as f:
            f.write(os.urandom(size))
        ids.append(cluster.service.create_volume(ADMIN, "vol-%d" % n, path=path)["id"])
    return ids


def wait_gone(cluster, ids, timeout: float = PATIENCE) -> None:
    deadline = time.monotonic() + timeout
    while {b["id"] for b in cluster.backups()} & set(ids):
        assert time.monotonic() < deadline, "not deleted: %s" % ids
        time.sleep(0.2)


def check_outcome(cluster, rows: dict) -> None:
    """available backups verify; error ones delete to nothing; nothing else is left."""
    for backup in rows.values():
        assert backup["status"] in ("available", "error"), backup
        if backup["status"] == "available":
            report = cluster.service.verify_backup(ADMIN, backup["id"])
            assert not report.damaged, report.summary()
    for backup in rows.values():
        if backup["status"] == "error":
            cluster.service.delete_backup(ADMIN, backup["id"])
    assert not [b for b in cluster.backups() if b["status"] != "available"]
    live_prefixes = {b["id"] for b in cluster.backups()}
    for dirpath, _dirs, files in os.walk(cluster.repo):
        for name in files:
            assert any(p in os.path.join(dirpath, name) for p in live_prefixes), (
                "object %s belongs to no live backup" % os.path.join(dirpath, name))
    volumes = cluster.service.list_volumes(ADMIN, all_projects=True)
    assert {v["status"] for v in volumes} == {"available"}, volumes


def test_twenty_backups_from_openstack_clients_two_workers_one_killed(cluster):
    """ember-api with two workers; 20 backups started at once from four ``openstack``
    clients; one worker SIGKILLed while it runs some: the other starts each of them again
    from the beginning (issue 18, ``backup_retry_dead_work``), so all 20 end available,
    verify and restore bit-exact, no object of a dead attempt survives, and
    ``openstack volume service list`` shows the dead worker down."""
    cluster.require_openstack_client()
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    url = cluster.start_api()
    volumes = make_volumes(cluster, 20)
    sources = {v: _sha(cluster.service.get_volume(ADMIN, v)["path"]) for v in volumes}

    def create(names):
        made = []
        for name in names:
            result = cluster.openstack(url, "volume", "backup", "create", "--name",
                                       "b-" + name, name, "-f", "value", "-c", "id")
            assert result.returncode == 0, result.stderr
            made.append(result.stdout.strip())
        return made

    names = ["vol-%d" % n for n in range(len(volumes))]
    with concurrent.futures.ThreadPoolExecutor(4) as clients:
        started = [clients.submit(create, names[n::4]) for n in range(4)]
        w1, w2 = cluster.host("w1"), cluster.host("w2")
        deadline = time.monotonic() + PATIENCE
        while not [b for b in cluster.backups() if b["status"] == "creating"
                   and b["host"] == w1]:
            assert time.monotonic() < deadline, "w1 never ran a backup"
            time.sleep(0.05)
        cluster.kill(w1)
        ids = [i for future in started for i in future.result()]
    rows = cluster.wait_settled(ids)
    assert {b["status"] for b in rows.values()} == {"available"}, rows
    runs = cluster.taken()
    assert sorted(runs) == sorted(ids), "every backup was taken by a worker"
    again = {i for i, hosts in runs.items() if len(hosts) > 1}
    assert again, "the killed worker left backups for the other to start again"
    assert all(runs[i] == [w1, w2] for i in again), runs
    assert all(len(hosts) == 1 for i, hosts in runs.items() if i not in again), runs
    for backup_id in again:
        reason = rows[backup_id]["fail_reason"]
        assert reason.startswith("attempt 1 died unfinished with its process %s/" % w1), reason
        assert reason.endswith("; started again"), reason
    listed = cluster.openstack(url, "volume", "service", "list", "-f", "json")
    states = {s["Host"]: s["State"] for s in json.loads(listed.stdout)}
    assert states[w1] == "down" and states[w2] == "up", states
    check_outcome(cluster, rows)  # verified; no object of a dead attempt left
    for backup in rows.values():
        restored = cluster.service.restore_backup(ADMIN, backup["id"])
        path = cluster.service.get_volume(ADMIN, restored["volume_id"])["path"]
        assert _sha(path, 8 * MiB) == sources[backup["volume_id"]], backup


def test_rabbitmq_connections_cut_mid_run(cluster):
    """RabbitMQ drops every connection while backups run and more are handed out: the
    workers and the dispatcher reconnect, nothing is lost or run twice."""
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    volumes = make_volumes(cluster, 12)
    ids = cluster.begin_backups(volumes[:6])
    # this run's virtual host only: other runs on the same RabbitMQ keep their connections
    subprocess.run(["rabbitmqctl", "close_all_connections", "--vhost", rabbit_vhost(),
                    "ember worker test"], check=True, capture_output=True, timeout=PATIENCE)
    ids += cluster.begin_backups(volumes[6:])
    rows = cluster.wait_settled(ids)
    runs = cluster.taken()
    assert sorted(runs) == sorted(ids)
    assert all(len(hosts) == 1 for hosts in runs.values()), runs
    assert {b["status"] for b in rows.values()} == {"available"}, rows
    check_outcome(cluster, rows)


def test_worker_started_later_takes_new_work(cluster):
    """A worker started after work began takes new work: with one operation at a time
    each, backups begun at once go to both, the late one included."""
    cluster.write_config(backup_max_operations=1)
    cluster.start_worker("w1")
    volumes = make_volumes(cluster, 8)
    first = cluster.begin_backups(volumes[:2], clients=1)
    cluster.start_worker("late")
    later = cluster.begin_backups(volumes[2:], clients=6)
    rows = cluster.wait_settled(first + later)
    runs = cluster.taken()
    assert any(runs[b] == [cluster.host("late")] for b in later), runs
    assert all(len(hosts) == 1 for hosts in runs.values()), runs
    check_outcome(cluster, rows)


def _text(path: str, size: int) -> str:
    """A compressible image (bz2 takes a while to inflate it); returns its sha256."""
    line = b"%08d ember restore text, compressible but not trivially so\n"
    with open(path, "wb") as f:
        written, n = 0, 0
        while written < size:
            chunk = b"".join(line % (n + i) for i in range(4096))[:size - written]
            f.write(chunk)
            written, n = written + len(chunk), n + 4096
    return _sha(path)


def _sha(path: str, length: int | None = None) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        digest.update(f.read() if length is None else f.read(length))
    return digest.hexdigest()


def test_cli_async_and_a_worker_killed_mid_restore(cluster):
    """``ember … --async`` hands create, restore and delete to the workers and returns
    once one has it; a worker SIGKILLed mid-restore: the other starts the restore again
    (issue 18), so the volume ends available and bit-exact, the backup available."""
    cluster.write_config(backup_compression_algorithm="bz2")
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    size = 48 * MiB
    source = os.path.join(cluster.shared, "text.img")
    expected = _text(source, size)
    cluster.ember("volume", "create", "--path", source, "text")
    made = json.loads(cluster.ember("volume", "backup", "create", "--async", "--name", "b",
                                    "text", "-f", "json"))
    assert made["status"] in ("creating", "available"), made
    cluster.wait_settled([made["id"]])
    # the CLI returns once a worker has the restore; the kill must not wait for that
    restoring = cluster.start_ember("volume", "backup", "restore", "--async", "b", "first",
                                    "-f", "json")
    deadline = time.monotonic() + PATIENCE
    while not re.search(r"Took restore of backup %s" % made["id"], "".join(
            cluster.log(h) for h in cluster.workers)):
        assert time.monotonic() < deadline, "no worker took the restore"
        time.sleep(0.05)
    runner = next(h for h in cluster.workers
                  if "Took restore of backup %s" % made["id"] in cluster.log(h))
    cluster.kill(runner)
    restored = json.loads(cluster.finish(restoring))
    rows = cluster.wait_settled([made["id"]])
    assert rows[made["id"]]["status"] == "available", rows
    assert "attempt 1 died unfinished with its process %s/" % runner in \
        rows[made["id"]]["fail_reason"], rows
    assert len(cluster.taken("restore")[made["id"]]) == 2
    volume = cluster.service.get_volume(ADMIN, restored["volume_id"])
    assert volume["status"] == "available", volume
    assert _sha(volume["path"], size) == expected
    cluster.ember("volume", "backup", "delete", "--async", "b")
    wait_gone(cluster, [made["id"]])
    assert [f for _d, _s, files in os.walk(cluster.repo) for f in files] == []


def test_database_connections_cut_mid_run(cluster):
    """PostgreSQL drops every connection of the catalogue while backups run (the
    workers', the dispatcher's): they reconnect and go on; each backup ends available, or
    error (deletable to nothing) when the cut hit one of its own statements; none is left
    busy. A backup hit by the cut may be taken again (a claim whose answer was lost, or a
    run that died of the cut and is started again by ``backup_retry_dead_work``), never
    more than the attempts' bound; ``check_outcome`` shows none was recorded twice and
    nothing was left behind."""
    import sqlalchemy as sa

    cluster.start_worker("w1")
    cluster.start_worker("w2")
    volumes = make_volumes(cluster, 8)
    ids = cluster.begin_backups(volumes)
    url = sa.engine.make_url(cluster.db_url)
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            cut = conn.execute(sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": url.database})
            assert cut.scalar() > 0
    finally:
        admin.dispose()
    rows = cluster.wait_settled(ids)
    runs = cluster.taken()
    assert sorted(runs) == sorted(ids)
    assert all(len(hosts) <= 3 for hosts in runs.values()), runs  # the attempts' bound
    assert "available" in {b["status"] for b in rows.values()}, rows
    check_outcome(cluster, rows)


def test_connections_retired_under_an_offer_are_closed_by_the_last_offer_using_them(cluster):
    """An offer that fails on the bus reopens the dispatcher's RabbitMQ connections. Another
    offer still calling on the old ones must get its answer: closing them under it failed
    it ("'NoneType' object has no attribute 'unlisten'"). The last offer using them closes
    them; new offers use the new ones."""
    cluster.start_worker("w1")
    dispatcher, host = cluster.dispatcher, cluster.host("w1")
    ctx = rpc.context_to_dict(ADMIN)

    def probe(connections):  # work no worker runs: answered at once, nothing claimed
        return connections.client.prepare(server=host).call(
            ctx, "take", operation="probe", ids={}, owner_host="test", owner_pid=0)

    with dispatcher._borrowed() as mid_call:
        dispatcher._reopen(mid_call)  # what an offer that failed on the bus does
        assert dispatcher._connections is not mid_call
        assert (mid_call.retired, mid_call.users) == (True, 1)
        assert probe(mid_call) == GONE
        with dispatcher._borrowed() as new:
            assert new is dispatcher._connections
            assert probe(new) == GONE
        assert not new.retired and new.users == 0
    assert mid_call.users == 0
    assert probe(dispatcher._connections) == GONE
    # the old ones are closed now
    with pytest.raises(AttributeError):  # what a call on closed oslo.messaging connections raises
        probe(mid_call)
