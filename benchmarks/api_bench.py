#!/usr/bin/env python3
"""ember-api figures: requests per second of ``GET /v3/{project}/backups/detail`` with
1,000 backups in the catalogue (gunicorn, 2 workers), and the time from a backup
``create`` request to its 202.

Baselines measured in the same run, on the same server: ``GET /v3/`` (the version
document: HTTP, WSGI and gunicorn, no catalogue) for the listing, and ``GET
volumes/{id}`` (one catalogue row) for the create. The ratios are what to compare
across machines.

    .venv/bin/python benchmarks/api_bench.py [--backups 1000] [--seconds 10] [--clients 4]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

PROJECT = "bench"
HEADERS = {"X-Auth-Token": "bench:" + PROJECT, "OpenStack-API-Version": "volume 3.64",
           "Content-Type": "application/json"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed_catalogue(state: str, count: int) -> str:
    """A volume and ``count`` available backups of it in project ``bench``; returns the
    volume id."""
    from ember.catalog import Catalog
    from ember.catalog.models import Backup, Volume, utcnow
    from ember.testing.config import make_conf

    conf = make_conf(state_path=state)
    catalog = Catalog.open(conf)
    volume_id = str(uuid.uuid4())
    path = os.path.join(state, "vol")
    with open(path, "wb") as f:
        f.truncate(1 << 20)
    now = utcnow()
    with catalog.session() as session:
        session.add(Volume(id=volume_id, project_id=PROJECT, user_id="bench", size=1,
                           size_bytes=1 << 20, status="available", path=path,
                           owns_path=False, properties={}, display_name="vol"))
        for i in range(count):
            session.add(Backup(id=str(uuid.uuid4()), project_id=PROJECT, user_id="bench",
                               volume_id=volume_id, status="available", size=1,
                               display_name="b%04d" % i, container="c", service="posix",
                               service_metadata="p%d" % i, object_count=3, properties={},
                               created_at=now, data_timestamp=now))
    catalog.close()
    return volume_id


def start_server(state: str, port: int, workers: int, extra_env=None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(extra_env or {})
    env.update(OS_DEFAULT__STATE_PATH=state, OS_DEFAULT__AUTH_STRATEGY="noauth",
               OS_DEFAULT__OSAPI_VOLUME_LISTEN="127.0.0.1",
               OS_DEFAULT__OSAPI_VOLUME_LISTEN_PORT=str(port),
               OS_DEFAULT__OSAPI_VOLUME_WORKERS=str(workers),
               OS_DEFAULT__BACKUP_POSIX_PATH=os.path.join(state, "repo"),
               OS_DEFAULT__QUOTA_BACKUPS="-1", OS_DEFAULT__QUOTA_BACKUP_GIGABYTES="-1")
    exe = os.path.join(os.path.dirname(sys.executable), "ember-api")
    proc = subprocess.Popen([exe], env=env, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(state, "api.log"), "wb"),
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/v3/")
            conn.getresponse().read()
            time.sleep(1.0)  # every worker up
            return proc
        except OSError:
            time.sleep(0.2)
    raise SystemExit("ember-api did not start")


def hammer(port: int, path: str, seconds: float, clients: int) -> float:
    """Requests per second over ``clients`` keep-alive connections for ``seconds``."""
    counts = [0] * clients
    stop = time.monotonic() + seconds

    def client(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < stop:
            conn.request("GET", path, headers=HEADERS)
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200, resp.status
            counts[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.monotonic() - started)


def latencies(port: int, method: str, path: str, body, n: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    out = []
    for _ in range(n):
        started = time.perf_counter()
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers=HEADERS)
        resp = conn.getresponse()
        payload = resp.read()
        out.append(time.perf_counter() - started)
        assert resp.status in (200, 202), (resp.status, payload)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backups", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--creates", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ember-api-bench-") as state:
        volume_id = seed_catalogue(state, args.backups)
        port = free_port()
        proc = start_server(state, port, args.workers)
        try:
            base = "/v3/%s" % PROJECT
            versions = hammer(port, "/v3/", args.seconds, args.clients)
            detail = hammer(port, base + "/backups/detail", args.seconds, args.clients)
            print("GET backups/detail, %d backups, gunicorn %d workers, %d clients: "
                  "%.1f req/s" % (args.backups, args.workers, args.clients, detail))
            print("GET /v3/ (baseline, no catalogue): %.1f req/s; detail/baseline = %.3f"
                  % (versions, detail / versions))
            show = latencies(port, "GET", base + "/volumes/" + volume_id, None, args.creates)
            creates = latencies(port, "POST", base + "/backups",
                                {"backup": {"volume_id": volume_id, "force": True,
                                            "incremental": False}}, 1)
            # one backup at a time: wait for each to finish before the next create
            for _ in range(args.creates - 1):
                wait_idle(port, base, volume_id)
                creates += latencies(port, "POST", base + "/backups",
                                     {"backup": {"volume_id": volume_id}}, 1)
            print("POST backups -> 202: median %.1f ms (p90 %.1f ms) over %d creates"
                  % (1000 * statistics.median(creates),
                     1000 * sorted(creates)[int(0.9 * (len(creates) - 1))], len(creates)))
            print("GET volumes/{id} (baseline, one row): median %.1f ms; create/baseline = "
                  "%.2f" % (1000 * statistics.median(show),
                            statistics.median(creates) / statistics.median(show)))
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=30)
    return 0


def wait_idle(port: int, base: str, volume_id: str, timeout: float = 60.0) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn.request("GET", base + "/volumes/" + volume_id, headers=HEADERS)
        status = json.loads(conn.getresponse().read())["volume"]["status"]
        if status == "available":
            return
        time.sleep(0.02)
    raise SystemExit("the volume stayed busy")


if __name__ == "__main__":
    sys.exit(main())
