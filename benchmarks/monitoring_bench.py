#!/usr/bin/env python3
"""ember-api's ``GET /metrics`` and ``GET /dashboard`` with many backups in the catalogue
(target: under 200 ms each at 10,000 backups).

Seeds the SQLite catalogue of a scratch state with ``--backups`` backups over
``--volumes`` volumes in two projects (chains of a full and incrementals, one backup in
fifty in ``error``, a verify of every tenth), each with its ``backup_operations`` row
as a real run leaves it; starts ``ember-api`` (noauth, one gunicorn worker) and times
sequential requests. Baseline in the same run, on the same server: ``GET /v3/`` (the
version document: HTTP, WSGI and gunicorn, no catalogue). Prints median and 95th
percentile of each, the server worker's CPU per request (from /proc: what the request
costs whatever else loads the machine) and the ratio of its median to the baseline's.

``--baseline REV`` also starts the ``ember-api`` of the tree at ``REV`` (``git archive``
of ``core`` and ``plugins`` under benchmarks/work, first on ``PYTHONPATH``) on a copy of
the same catalogue (the two trees must share its schema), and times the two servers
case by case, alternating in rounds, in the same invocation.

    .venv/bin/python benchmarks/monitoring_bench.py [--backups 10000] [--volumes 1000]
        [--requests 30] [--baseline REV]
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_bench import free_port, start_server  # noqa: E402
from cli_startup import baseline_tree  # noqa: E402

PROJECTS = ("bench", "other")


def _rows(backups: int, volumes: int, now: datetime.datetime):
    """(volume rows, backup rows, operation rows) as plain dicts, oldest first."""
    vols = [{"id": str(uuid.uuid4()), "project_id": PROJECTS[v % 2], "user_id": "bench",
             "display_name": "vol-%05d" % v, "size": 1, "size_bytes": 1 << 30,
             "status": "available", "path": "/nonexistent/vol-%05d" % v, "owns_path": False,
             "properties": {}, "deleted": False, "created_at": now}
            for v in range(volumes)]
    made, runs, parents = [], [], {}
    for i in range(backups):
        vol = vols[i % volumes]
        when = now - datetime.timedelta(hours=backups // volumes - i // volumes,
                                        seconds=i % volumes)
        status = "error" if i % 50 == 7 else "available"
        parent = parents.get(vol["id"]) if (i // volumes) % 8 else None
        bid = str(uuid.uuid4())
        made.append({"id": bid, "project_id": vol["project_id"], "user_id": "bench",
                     "volume_id": vol["id"], "status": status, "size": 1,
                     "size_bytes": 1 << 30, "display_name": "b-%06d" % i,
                     "container": "backups-%d" % (i % 3), "service": "posix",
                     "service_metadata": "p%d" % i, "object_count": 12,
                     "stored_bytes": 12 << 20, "parent_id": parent, "properties": {},
                     "deleted": False, "num_dependent_backups": 0,
                     "fail_reason": "cannot open volume source" if status == "error" else None,
                     "created_at": when, "data_timestamp": when})
        if status == "available":
            parents[vol["id"]] = bid
        done = when + datetime.timedelta(seconds=30 + i % 90)
        base = {"backup_id": bid, "volume_id": vol["id"], "project_id": vol["project_id"],
                "host": "bench", "started_at": when, "updated_at": done,
                "finished_at": done, "duration_seconds": 30.0 + i % 90,
                "done_bytes": 1 << 30, "total_bytes": 1 << 30}
        runs.append(dict(base, kind="create", status="failed" if status == "error"
                         else "succeeded",
                         fail_reason="cannot open volume source" if status == "error"
                         else None))
        if i % 10 == 3 and status == "available":
            runs.append(dict(base, kind="verify", status="succeeded", fail_reason=None))
    return vols, made, runs


def seed(state: str, backups: int, volumes: int) -> None:
    import sqlalchemy as sa
    from ember.catalog import Catalog
    from ember.catalog.models import Backup, BackupOperation, Volume, utcnow
    from ember.testing.config import make_conf

    catalog = Catalog.open(make_conf(state_path=state))
    vols, made, runs = _rows(backups, volumes, utcnow())
    with catalog.session() as session:
        for model, rows in ((Volume, vols), (Backup, made), (BackupOperation, runs)):
            for start in range(0, len(rows), 5000):
                session.execute(sa.insert(model), rows[start:start + 5000])
    catalog.close()


def worker_pid(master: int) -> int:
    """The pid of gunicorn's one worker under ``master``."""
    with open("/proc/%d/task/%d/children" % (master, master)) as f:
        return int(f.read().split()[0])


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used (its threads included)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(port: int, pid: int, path: str, token: str, count: int):
    """(wall seconds of each request, server CPU seconds per request)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    seconds, cpu = [], 0.0
    for i in range(count + 2):
        if i == 2:  # the first two warm the worker
            cpu = cpu_seconds(pid)
        started = time.perf_counter()
        conn.request("GET", path, headers={"X-Auth-Token": token})
        resp = conn.getresponse()
        body = resp.read()
        seconds.append(time.perf_counter() - started)
        assert resp.status in (200, 300), (path, resp.status, body[:300])
    conn.close()
    return seconds[2:], (cpu_seconds(pid) - cpu) / count


CASES = [("baseline GET /v3/", "/v3/", "admin:admin"),
         ("GET /metrics", "/metrics", "admin:admin"),
         ("GET /dashboard (every project)", "/dashboard", "admin:admin"),
         ("GET /dashboard (one project)", "/dashboard", "member:bench")]


def tree_env(rev: str) -> dict:
    """PYTHONPATH putting the tree at ``rev`` before the editable installs."""
    tree = baseline_tree(rev)
    plugins = os.path.join(tree, "plugins")
    path = [os.path.join(tree, "core")] + [os.path.join(plugins, d)
                                           for d in sorted(os.listdir(plugins))]
    return {"PYTHONPATH": os.pathsep.join(path)}


def measure(servers: dict, requests: int, rounds: int) -> dict:
    """{(tree, case label): (wall seconds, CPU seconds per request)}: each case on each
    server in turn, ``rounds`` times, ``requests`` requests in all per case and tree."""
    out: dict = {}
    for label, path, token in CASES:
        for r in range(rounds):
            count = requests // rounds + (r < requests % rounds)
            for tree, (port, pid) in servers.items():
                seconds, cpu = timed(port, pid, path, token, count)
                walls, cpus = out.setdefault((tree, label), ([], []))
                walls.extend(seconds)
                cpus.append((cpu, count))
    return {key: (sorted(walls), sum(c * n for c, n in cpus) / sum(n for _, n in cpus))
            for key, (walls, cpus) in out.items()}


def report(results: dict, trees) -> None:
    print("%-15s %-32s %10s %8s %13s %7s" % ("tree", "request", "median ms", "p95 ms",
                                           "server CPU ms", "ratio"))
    for tree in trees:
        base = statistics.median(results[(tree, CASES[0][0])][0])
        for label, _, _ in CASES:
            seconds, cpu = results[(tree, label)]
            median = statistics.median(seconds)
            p95 = seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))]
            print("%-15s %-32s %10.1f %8.1f %13.1f %7.0f" % (
                tree, label, median * 1000, p95 * 1000, cpu * 1000, median / base))
    if len(trees) == 2:
        before, after = trees[1], trees[0]
        for label, _, _ in CASES[1:]:
            (wb, cb), (wa, ca) = results[(before, label)], results[(after, label)]
            print("%-32s after/before: wall median %.2fx faster, CPU %.2fx less" % (
                label, statistics.median(wb) / statistics.median(wa), cb / ca))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backups", type=int, default=10_000)
    parser.add_argument("--volumes", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3,
                        help="with --baseline: alternate the servers this many times")
    parser.add_argument("--baseline", metavar="REV", help="also the tree at this revision")
    args = parser.parse_args()
    trees = {"after": {}}
    if args.baseline:
        trees["before@" + args.baseline] = tree_env(args.baseline)
    with tempfile.TemporaryDirectory(prefix="ember-monitoring-") as work:
        started = time.perf_counter()
        first = os.path.join(work, "after")
        os.mkdir(first)
        seed(first, args.backups, args.volumes)
        print("seeded %d backups over %d volumes in %.1f s (SQLite)"
              % (args.backups, args.volumes, time.perf_counter() - started))
        procs, servers = [], {}
        try:
            for n, (tree, env) in enumerate(trees.items()):
                state = first if n == 0 else os.path.join(work, "tree%d" % n)
                if n:  # the same rows
                    os.mkdir(state)
                    shutil.copy(os.path.join(first, "ember.sqlite"), state)
                port = free_port()
                procs.append(start_server(state, port, 1, env))
                servers[tree] = (port, worker_pid(procs[-1].pid))
            print("load average %.1f on %d CPUs" % (os.getloadavg()[0], os.cpu_count()))
            results = measure(servers, args.requests, args.rounds if args.baseline else 1)
            print("load average %.1f at the end" % os.getloadavg()[0])
            report(results, list(trees))
        finally:
            for proc in procs:
                os.killpg(proc.pid, signal.SIGTERM)  # gunicorn's master and its worker
                proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
