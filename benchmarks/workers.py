#!/usr/bin/env python3
"""ember-backup figures on this machine's RabbitMQ and PostgreSQL (``harness.cluster``):

1. throughput of ``--count`` concurrent backups of ``--size`` each: in-process (the
   embedded default, no RabbitMQ: the baseline of this run), then one worker, then two;
2. the time from a worker's SIGKILL to the repair of its rows by the other, with
   ``report_interval`` / ``service_down_time`` as given (Cinder's 10 / 60 by default);
3. backups begun before, during and after a real RabbitMQ restart (``rabbitmqctl
   stop_app`` / ``start_app``): how many were lost (never ended available) and how many
   were run twice (taken by two workers). RabbitMQ is started again whatever happens.

Every volume is one seeded image (``benchmarks/volume.py``: random, text, zeros, hole)
shared by all the volume rows, so the reads come from the page cache and what is
measured is the work, not the disk.

    .venv/bin/python benchmarks/workers.py [--size 256M] [--count 20] [--skip-restart]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import volume as seeded  # noqa: E402  (benchmarks/volume.py)
from ember.context import RequestContext  # noqa: E402
from harness.cluster import PG_URL, Cluster  # noqa: E402
from ember.testing.services import scratch_database  # noqa: E402

ADMIN = RequestContext.default()
MiB = 1 << 20


def _size(text: str) -> int:
    units = {"K": 1 << 10, "M": MiB, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1].upper()] if text[-1].upper() in units else int(text)


def _volumes(cluster, image: str, count: int) -> list[str]:
    return [cluster.service.create_volume(ADMIN, "vol-%d" % n, path=image)["id"]
            for n in range(count)]


def _cluster(root, db_url, image: str, **options) -> Cluster:
    # the image's directory stands for storage every host mounts: any worker may read it
    options.setdefault("backup_shared_volume_paths", os.path.dirname(image))
    options.setdefault("backup_compression_algorithm", "zlib")
    options.setdefault("backup_file_size", 64 * MiB)
    options.setdefault("backup_engine_threads", 0)
    options.setdefault("backup_max_operations", 15)
    options.setdefault("report_interval", 10)  # Cinder's defaults: a busy worker on two
    options.setdefault("service_down_time", 60)  # loaded cores may beat a few seconds late
    return Cluster(root, db_url, **options)


def throughput(image: str, size: int, count: int, workers: int) -> float:
    """Seconds for ``count`` backups begun at once; ``workers`` 0 runs them in-process."""
    with tempfile.TemporaryDirectory(prefix="ember-wb-") as root, \
            scratch_database(PG_URL, "bash scripts/servers/databases.sh start") as db_url:
        cluster = _cluster(root, db_url, image)
        try:
            for n in range(workers):
                cluster.start_worker("w%d" % (n + 1))
            volumes = _volumes(cluster, image, count)
            if workers == 0:
                from ember.service.dispatch import ThreadPoolDispatcher

                cluster._dispatcher = ThreadPoolDispatcher(cluster.service, 15)
            start = time.monotonic()
            ids = cluster.begin_backups(volumes)
            rows = cluster.wait_settled(ids, timeout=3600)
            took = time.monotonic() - start
            failed = [b for b in rows.values() if b["status"] != "available"]
            assert not failed, failed
            return took
        finally:
            cluster.close()


def death_to_repair(image: str, report_interval: int, down_time: int) -> float:
    """Seconds from a worker's SIGKILL to the moment its last busy row was repaired."""
    with tempfile.TemporaryDirectory(prefix="ember-wb-") as root, \
            scratch_database(PG_URL, "bash scripts/servers/databases.sh start") as db_url:
        cluster = _cluster(root, db_url, image, report_interval=report_interval,
                           service_down_time=down_time)
        try:
            cluster.start_worker("w1")
            cluster.start_worker("w2")
            ids = cluster.begin_backups(_volumes(cluster, image, 6))
            w1 = cluster.host("w1")
            while not [b for b in cluster.backups() if b["status"] == "creating"
                       and b["host"] == w1]:
                time.sleep(0.02)
            cluster.kill(w1)
            killed = time.monotonic()
            mine = {b["id"] for b in cluster.backups() if b["status"] == "creating"
                    and b["host"] == w1}
            while [b for b in cluster.backups() if b["id"] in mine
                   and b["status"] == "creating"]:
                time.sleep(0.1)
            repaired = time.monotonic() - killed
            cluster.wait_settled(ids, timeout=600)
            return repaired
        finally:
            cluster.close()


def rabbitmq_restart(image: str, count: int) -> tuple[int, int, int]:
    """(begun, lost, run twice) across a RabbitMQ restart in the middle of the work."""
    with tempfile.TemporaryDirectory(prefix="ember-wb-") as root, \
            scratch_database(PG_URL, "bash scripts/servers/databases.sh start") as db_url:
        cluster = _cluster(root, db_url, image)
        try:
            cluster.start_worker("w1")
            cluster.start_worker("w2")
            volumes = _volumes(cluster, image, count)
            ids = cluster.begin_backups(volumes[:count // 2])
            try:
                subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True,
                               timeout=120)
                ids += cluster.begin_backups(volumes[count // 2:])  # while it is down
            finally:
                subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True,
                               timeout=120)
            rows = cluster.wait_settled(ids, timeout=1800)
            runs = cluster.taken()
            lost = sum(1 for b in rows.values() if b["status"] != "available")
            twice = sum(1 for hosts in runs.values() if len(hosts) > 1)
            return len(ids), lost, twice
        finally:
            cluster.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="256M", help="size of each volume (default 256M)")
    parser.add_argument("--count", type=int, default=20, help="backups at once (default 20)")
    parser.add_argument("--report-interval", type=int, default=10)
    parser.add_argument("--service-down-time", type=int, default=60)
    parser.add_argument("--skip-restart", action="store_true",
                        help="leave RabbitMQ alone (no restart figure)")
    args = parser.parse_args(argv)
    size = _size(args.size)
    with tempfile.TemporaryDirectory(prefix="ember-wb-image-") as work:
        image = os.path.join(work, "volume.img")
        seeded.build(image, size)
        seeded.warm(image)
        total = size * args.count / MiB
        base = throughput(image, size, args.count, 0)
        print("%d backups of %s at once, in-process (baseline): %.1f s, %.1f MiB/s"
              % (args.count, args.size, base, total / base), flush=True)
        for workers in (1, 2):
            took = throughput(image, size, args.count, workers)
            print("  with %d ember-backup worker%s: %.1f s, %.1f MiB/s, %.2fx the baseline"
                  % (workers, "s" if workers > 1 else "", took, total / took, base / took),
                  flush=True)
        repaired = death_to_repair(image, args.report_interval, args.service_down_time)
        print("worker SIGKILLed: its rows repaired by the other after %.1f s "
              "(report_interval %d, service_down_time %d)"
              % (repaired, args.report_interval, args.service_down_time), flush=True)
        if not args.skip_restart:
            begun, lost, twice = rabbitmq_restart(image, args.count)
            print("RabbitMQ restarted mid-run: %d backups begun, %d lost, %d run twice"
                  % (begun, lost, twice), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
