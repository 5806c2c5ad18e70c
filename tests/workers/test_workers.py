"""``ember-backup`` workers on the real RabbitMQ and PostgreSQL: two workers with their own
host names, backups begun at once from several clients, one worker SIGKILLed mid-way,
RabbitMQ's connections cut mid-run, a worker started later.

Whatever happens, every backup ends ``available`` (and verifies) or ``error`` (and
deletes to nothing); no row is left busy, no volume ``backing-up``, no object without
a live backup, and no work is run twice (each worker logs every piece it takes).
"""

import concurrent.futures
import os
import re
import subprocess
import time

import pytest
from ember.context import RequestContext

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not hasattr(__import__("ember.service").service.Ember, "begin_create_backup"),
    reason="needs the service's begin/run split (being landed)")]

ADMIN = RequestContext.default()
BUSY = {"creating", "restoring", "deleting"}
MiB = 1 << 20


def make_volumes(cluster, count: int, size: int = 8 * MiB) -> list[str]:
    ids = []
    for n in range(count):
        path = os.path.join(cluster.shared, "vol-%d.img" % n)
        with open(path, "wb") as f:
            f.write(os.urandom(size))
        ids.append(cluster.service.create_volume(ADMIN, "vol-%d" % n, path=path)["id"])
    return ids


def begin_backups(cluster, volumes, clients: int = 4) -> list[str]:
    """Begin one backup per volume from ``clients`` threads at once, each handed to the
    workers as ember-api does; returns the backup ids."""
    def one(volume_id):
        backup = cluster.service.begin_create_backup(ADMIN, volume_id, name="b-" + volume_id)
        cluster.dispatcher.dispatch(ADMIN, "create", {"backup_id": backup["id"]})
        return backup["id"]

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, volumes))


def backups(cluster) -> list[dict]:
    return cluster.service.list_backups(ADMIN, all_projects=True)


def wait_settled(cluster, ids, timeout: float = 150) -> dict:
    """Wait until none of ``ids`` is busy; returns {id: backup}."""
    deadline = time.monotonic() + timeout
    while True:
        rows = {b["id"]: b for b in backups(cluster) if b["id"] in ids}
        busy = [b for b in rows.values() if b["status"] in BUSY]
        if not busy and len(rows) == len(ids):
            return rows
        if time.monotonic() > deadline:
            pytest.fail("still busy after %ds: %s\n%s" % (timeout, busy, "\n".join(
                cluster.log(h)[-3000:] for h in cluster.workers)))
        time.sleep(0.5)


def taken(cluster) -> dict[str, list[str]]:
    """{backup id: [host, ...]} of every create a worker took, from the workers' logs."""
    runs: dict[str, list[str]] = {}
    for host in cluster.workers:
        for backup_id in re.findall(r"Took create of backup (\S+) ", cluster.log(host)):
            runs.setdefault(backup_id, []).append(host)
    return runs


def check_outcome(cluster, rows: dict) -> None:
    """available backups verify; error ones delete to nothing; nothing else is left."""
    for backup in rows.values():
        assert backup["status"] in ("available", "error"), backup
        if backup["status"] == "available":
            report = cluster.service.verify_backup(ADMIN, backup["id"])
            assert report["status"] == "ok", report
    for backup in rows.values():
        if backup["status"] == "error":
            cluster.service.delete_backup(ADMIN, backup["id"])
    assert not [b for b in backups(cluster) if b["status"] != "available"]
    live_prefixes = {b["id"] for b in backups(cluster)}
    for dirpath, _dirs, files in os.walk(cluster.repo):
        for name in files:
            assert any(p in os.path.join(dirpath, name) for p in live_prefixes), (
                "object %s belongs to no live backup" % os.path.join(dirpath, name))
    volumes = cluster.service.list_volumes(ADMIN, all_projects=True)
    assert {v["status"] for v in volumes} == {"available"}, volumes


def test_twenty_backups_two_workers_one_killed(cluster):
    """20 backups from 4 clients on two workers; one worker SIGKILLed while it runs some:
    its rows are repaired by the other (error, deletable), the rest end available."""
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    volumes = make_volumes(cluster, 20)
    ids = begin_backups(cluster, volumes)
    w1 = cluster.host("w1")
    deadline = time.monotonic() + 60
    while not [b for b in backups(cluster) if b["status"] == "creating"
               and b["host"] == w1]:
        assert time.monotonic() < deadline, "w1 never ran a backup"
        time.sleep(0.05)
    cluster.kill(w1)
    rows = wait_settled(cluster, ids)
    runs = taken(cluster)
    assert sorted(runs) == sorted(ids), "every backup was taken by a worker"
    assert all(len(hosts) == 1 for hosts in runs.values()), runs
    killed = [b for b in rows.values() if runs[b["id"]] == [w1] and b["status"] == "error"]
    assert killed, "the killed worker left rows for the other to repair"
    assert all("gone" in b["fail_reason"] for b in killed), killed
    assert cluster.state_of(w1) == "down" and cluster.state_of(cluster.host("w2")) == "up"
    check_outcome(cluster, rows)


def test_rabbitmq_connections_cut_mid_run(cluster):
    """RabbitMQ drops every connection while backups run and more are handed out: the
    workers and the dispatcher reconnect, nothing is lost or run twice."""
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    volumes = make_volumes(cluster, 12)
    ids = begin_backups(cluster, volumes[:6])
    subprocess.run(["rabbitmqctl", "close_all_connections", "ember worker test"],
                   check=True, capture_output=True, timeout=60)
    ids += begin_backups(cluster, volumes[6:])
    rows = wait_settled(cluster, ids)
    runs = taken(cluster)
    assert sorted(runs) == sorted(ids)
    assert all(len(hosts) == 1 for hosts in runs.values()), runs
    assert {b["status"] for b in rows.values()} == {"available"}, rows
    check_outcome(cluster, rows)


def test_worker_started_later_takes_new_work(cluster):
    """A worker started after work began takes the new work while the first is full."""
    cluster.write_config(backup_max_operations=1)
    cluster.start_worker("w1")
    volumes = make_volumes(cluster, 6)
    first = begin_backups(cluster, volumes[:3], clients=1)
    cluster.start_worker("late")
    later = begin_backups(cluster, volumes[3:], clients=1)
    rows = wait_settled(cluster, first + later)
    runs = taken(cluster)
    assert cluster.host("late") in {h for hosts in runs.values() for h in hosts}, runs
    check_outcome(cluster, rows)
