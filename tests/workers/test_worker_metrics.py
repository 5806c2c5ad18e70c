"""``ember-backup --metrics-port``: a worker on the real RabbitMQ and PostgreSQL serves its
own metrics (runs it ended, its heartbeat, its capacity), parsed with
``prometheus_client.parser``; the API's catalogue view (``ember.service`` monitoring)
counts the same runs and sees the worker up."""

import os
import time
import urllib.request

import pytest
from ember.context import RequestContext
from ember.testing.services import PATIENCE
from harness.listen import free_port
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow
ADMIN = RequestContext.default()


def scrape(port: int) -> dict:
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=PATIENCE) as resp:
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_worker_serves_its_own_metrics(cluster):
    port = free_port()
    cluster.start_worker("w1", "--metrics-port", str(port))
    host = cluster.host("w1")
    volumes = []
    for n in range(2):
        path = os.path.join(cluster.shared, "vol-%d.img" % n)
        with open(path, "wb") as f:
            f.write(os.urandom(3 << 20))
        volumes.append(cluster.service.create_volume(ADMIN, "vol-%d" % n, path=path)["id"])
    ids = cluster.begin_backups(volumes, clients=2)
    rows = cluster.wait_settled(ids)
    assert {b["status"] for b in rows.values()} == {"available"}
    # the run's end is counted just after its row is final: wait for the counter
    deadline = time.monotonic() + PATIENCE
    while True:
        m = scrape(port)
        done = m.get(("ember_worker_runs_total",
                      (("kind", "create"), ("outcome", "succeeded"))), 0)
        if done == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert done == 2
    assert m[("ember_worker_run_duration_seconds_count", (("kind", "create"),))] == 2
    assert m[("ember_worker_running", (("kind", "create"),))] == 0
    assert m[("ember_worker_capacity", ())] == 4
    assert m[("ember_worker_heartbeat_timestamp_seconds", ())] > time.time() - 60
    assert m[("process_resident_memory_bytes", ())] > 0

    view = cluster.service.monitoring.metrics(ADMIN)
    assert [(h, up) for h, _, up in view.workers if h == host] == [(host, True)]
    assert view.operations[("create", "succeeded")] == 2
    assert {v.volume_id: v.backups for v in view.volumes} == {v: 1 for v in volumes}


def test_a_taken_port_is_a_one_line_error(cluster, tmp_path):
    import socket
    import subprocess

    from harness.cluster import _exe

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([_exe("ember-backup"), "--config-file", cluster.config,
                               "--host", cluster.host("dup"), "--metrics-port", str(port)],
                              capture_output=True, text=True, timeout=PATIENCE)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "ember-backup: cannot serve metrics on 127.0.0.1:%d: " % port)
    assert proc.stderr.strip().endswith("choose another --metrics-port")
