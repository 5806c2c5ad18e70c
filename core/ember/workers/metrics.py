"""An ``ember-backup`` worker's own metrics (``--metrics-port``): what this process runs
now, what it ran since it started, its capacity and its last heartbeat, plus the
process's CPU and memory. One process, one registry: no multiprocess mode needed.

The installation's view (every volume, every worker's heartbeat from the catalogue,
counters that survive restarts) is ``ember-api``'s ``GET /metrics``; a worker serves only
what no catalogue row says, so scraping both never counts anything twice.
"""

from __future__ import annotations

import contextlib
import time

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)

from ember import errors
from ember.service.monitoring import DURATION_BUCKETS


class WorkerMetrics:
    """The metrics of one worker process, in their own registry."""

    def __init__(self, capacity: int):
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        Gauge("ember_worker_process_up", "1 while this ember-backup process runs.",
              registry=registry).set(1)
        Gauge("ember_worker_capacity", "Creates and restores this worker runs at once "
              "(backup_max_operations; 0: no limit).", registry=registry).set(capacity)
        self.heartbeat = Gauge("ember_worker_heartbeat_timestamp_seconds",
                               "When this worker last wrote its heartbeat.", registry=registry)
        self.running = Gauge("ember_worker_running", "Runs going on in this worker.",
                             ["kind"], registry=registry)
        self.runs = Counter("ember_worker_runs", "Runs this worker ended since it started, "
                            "by outcome.", ["kind", "outcome"], registry=registry)
        self.duration = Histogram("ember_worker_run_duration_seconds", "Duration of this "
                                  "worker's runs.", ["kind"], buckets=DURATION_BUCKETS,
                                  registry=registry)
        self._server = None

    def serve(self, port: int, addr: str) -> None:
        """Answer ``GET /metrics`` on ``addr``:``port`` from a daemon thread."""
        self._server, _ = start_http_server(port, addr=addr, registry=self.registry)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def beat(self) -> None:
        self.heartbeat.set(time.time())

    @contextlib.contextmanager
    def run(self, kind: str):
        """Count and time one run of ``kind`` around the block."""
        started = time.monotonic()
        self.running.labels(kind).inc()
        outcome = "failed"
        try:
            yield
            outcome = "succeeded"
        except errors.Cancelled:
            outcome = "cancelled"
            raise
        finally:
            self.running.labels(kind).dec()
            self.runs.labels(kind, outcome).inc()
            if outcome == "succeeded":
                self.duration.labels(kind).observe(time.monotonic() - started)
