"""A policy with a one-minute schedule run by a real ``ember-scheduler`` against the
real RabbitMQ and PostgreSQL, its backups taken by an ``ember-backup`` worker: the
backups, prunes and verifications show in ``ember backup policy show``. Real minutes
pass; the test polls the policy's runs until they show it (no fixed sleeps)."""

import json
import os
import subprocess
import sys
import time

import pytest
from ember.testing.services import PATIENCE


def _runs(cluster) -> list[dict]:
    return json.loads(cluster.ember("backup", "policy", "show", "minutely", "--runs", "50",
                                    "-f", "json"))["runs"]


def _wait_for(cluster, scheduler, log, check, timeout=PATIENCE + 180):  # 2 minutes of runs
    deadline = time.monotonic() + timeout
    while True:
        runs = _runs(cluster)
        if check(runs):
            return runs
        assert scheduler.poll() is None, open(log).read()
        if time.monotonic() > deadline:
            pytest.fail("the runs never showed it: %s\n%s" % (runs, open(log).read()[-3000:]))
        time.sleep(1)


def test_a_minutely_policy_under_ember_scheduler(cluster):
    cluster.write_config(scheduler_interval=1, scheduler_lease_time=15)
    cluster.start_worker("w1")
    cluster.ember("volume", "create", "--size", "4M", "vol1")
    cluster.ember("backup", "policy", "create", "minutely", "--schedule", "* * * * *",
                  "--full-every", "1", "--keep-last", "1", "--verify-schedule", "* * * * *",
                  "--verify-percent", "100", "--volume", "vol1")
    log = os.path.join(cluster.root, "ember-scheduler.log")
    exe = os.path.join(os.path.dirname(sys.executable), "ember-scheduler")
    with open(log, "ab") as out:
        scheduler = subprocess.Popen([exe, "--config-file", cluster.config], stdout=out,
                                     stderr=subprocess.STDOUT,
                                     env={k: v for k, v in os.environ.items()
                                          if not k.startswith("OS_")})
    try:
        runs = _wait_for(cluster, scheduler, log, lambda runs: any(
            r["kind"] == "backup" and r["status"] == "done" and r["pruned"] for r in runs)
            and any(r["kind"] == "verify" and r["status"] == "done" and r["verified"]
                    for r in runs))
    finally:
        scheduler.terminate()
        scheduler.wait(timeout=PATIENCE)
    created = [i for r in runs if r["kind"] == "backup" for i in r["created"]]
    pruned = [i for r in runs for i in r["pruned"]]
    assert len(created) >= 2 and set(pruned) < set(created)
    taken = cluster.taken("create")
    assert set(created) <= set(taken), (created, taken)  # each went through RabbitMQ
    assert all(hosts == [cluster.host("w1")] for hosts in taken.values())
    # on a loaded machine a minute's backup may still run when the next one is due:
    # that volume is skipped (and the run says so); nothing else may fail
    busy = 'the current status is "backing-up".'
    assert [f for r in runs for f in r["failures"] if not f.endswith(busy)] == [], runs
    # the table writes each run as a line; a run that skipped a busy volume made its
    # successor prune two, so the counts are the runs' own
    shown = cluster.ember("backup", "policy", "show", "minutely", "--runs", "50")
    assert any("backup done: created %d, pruned %d" % (len(r["created"]), len(r["pruned"]))
               in shown for r in runs if r["kind"] == "backup" and r["status"] == "done"
               and r["pruned"]), shown
    assert "verify done: verified" in shown
