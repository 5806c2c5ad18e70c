"""``GET /metrics``: the catalogue's view of every volume, the work and the workers, in
Prometheus text format (``docs/monitoring.md`` lists each metric).

Every value is computed from the catalogue at scrape time by a custom collector, so the
answer is the same from any gunicorn worker process, any ``ember-api`` host and after a
restart: nothing is counted in process memory, and prometheus_client's multiprocess mode
is not needed. Counters are counts of ``backup_operations`` rows, so they only grow.
Labels are ids (volume, project), kinds, statuses, hosts and containers: no free text.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import CollectorRegistry
from prometheus_client.utils import floatToGoString

from ember.service.monitoring import epoch

#: (name after ``ember_volume_``, help, VolumeSummary attribute, a time: its epoch)
VOLUME_GAUGES = (
    ("last_backup_success_timestamp_seconds", "Data time of the volume's newest available "
                                              "backup.", "last_success", True),
    ("last_verify_success_timestamp_seconds", "When a verify of one of the volume's backups "
                                              "last found it intact.", "last_verify", True),
    ("chain_length", "Backups in the volume's newest chain (its newest available full and "
                     "the available backups after it).", "chain_length", False),
    ("backups", "Available backups of the volume.", "backups", False),
    ("stored_bytes", "Bytes the volume's live backups put into the repository.",
     "stored_bytes", False),
    ("damaged_backups", "Live backups of the volume whose newest verification found damage.",
     "damaged", False),
)


def _help(text: str) -> str:
    """Help text as the text format escapes it (backslash, newline)."""
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _label(value: str) -> str:
    """A label value as the text format quotes it (backslash, newline, double quote)."""
    return _help(value).replace('"', r'\"')


def volume_text(volumes) -> str:
    """The per-volume gauges (``VOLUME_GAUGES``) in Prometheus text format, byte for byte
    what ``generate_latest`` writes for them (``tests/api/test_metrics.py`` compares), but
    written directly: a thousand volumes make some 6,000 samples, and prometheus_client's
    per-sample objects, validation and sorting of labels cost most of a scrape."""
    labels = ['{project_id="%s",volume_id="%s"} ' % (_label(v.project_id or ""),
                                                     _label(v.volume_id)) for v in volumes]
    numbers: dict = {}  # value → its text (few distinct counts among many volumes)
    out = []
    for key, doc, attribute, when in VOLUME_GAUGES:
        name = "ember_volume_" + key
        out.append("# HELP %s %s\n# TYPE %s gauge\n" % (name, _help(doc), name))
        for label, volume in zip(labels, volumes):
            value = getattr(volume, attribute)
            if when:
                if value is None:
                    continue
                value = epoch(value)
            text = numbers.get(value)
            if text is None:
                text = numbers[value] = floatToGoString(value)
            out.append(name + label + text + "\n")
    return "".join(out)


class CatalogCollector:
    """Yields the metric families of one ``Monitoring.metrics`` answer."""

    def __init__(self, metrics):
        self.m = metrics

    def collect(self):
        yield from self._backups()
        yield from self._operations()
        yield from self._work()
        yield from self._workers()
        yield from self._repository()

    def _backups(self):
        """(The per-volume gauges come before these, from ``volume_text``.)"""
        by_status = GaugeMetricFamily("ember_backups", "Live backups by status.",
                                      labels=["status"])
        for status, count in sorted(self.m.backups_by_status.items()):
            by_status.add_metric([status], count)
        yield by_status

    def _operations(self):
        for outcome in ("started", "succeeded", "failed", "cancelled"):
            family = CounterMetricFamily(
                "ember_operations_" + outcome,
                "Runs of each kind of operation %s." % (
                    "begun" if outcome == "started" else "that ended " + outcome),
                labels=["kind"])
            for kind in self.m.kinds:
                runs = self.m.operations
                value = (sum(n for (k, _), n in runs.items() if k == kind)
                         if outcome == "started" else runs.get((kind, outcome), 0))
                family.add_metric([kind], value)
            yield family
        for index, (name, doc) in enumerate((
                ("ember_operation_duration_seconds", "Duration of succeeded runs."),
                ("ember_operation_bytes", "Volume bytes covered by succeeded runs."))):
            family = HistogramMetricFamily(name, doc, labels=["kind"])
            for kind in self.m.kinds:
                pair = self.m.histograms.get(kind)
                buckets = [(floatToGoString(b), 0) for b in
                           (self.m.duration_buckets, self.m.bytes_buckets)[index]]
                count, total = 0, 0.0
                if pair is not None:
                    hist = pair[index]
                    buckets = [(floatToGoString(b), n) for b, n in hist.buckets]
                    count, total = hist.count, hist.total
                family.add_metric([kind], buckets + [("+Inf", count)], total)
            yield family

    def _work(self):
        for name, doc, values in (
                ("ember_operations_in_flight", "Runs going on now.", self.m.in_flight),
                ("ember_operations_waiting", "Backups claimed for work whose run has not "
                                             "started.", self.m.waiting)):
            family = GaugeMetricFamily(name, doc, labels=["kind"])
            for kind in self.m.kinds:
                family.add_metric([kind], values.get(kind, 0))
            yield family

    def _workers(self):
        up = GaugeMetricFamily("ember_worker_up", "1 when the ember-backup worker "
                               "heartbeats within service_down_time.", labels=["host"])
        beat = GaugeMetricFamily("ember_worker_last_heartbeat_timestamp_seconds",
                                 "The worker's last heartbeat.", labels=["host"])
        for host, last, alive in self.m.workers:
            up.add_metric([host or ""], 1 if alive else 0)
            if last is not None:
                beat.add_metric([host or ""], last)
        yield up
        yield beat

    def _repository(self):
        stored = GaugeMetricFamily("ember_repository_stored_bytes", "Bytes of live "
                                   "backups' data objects in each container.",
                                   labels=["container"])
        backups = GaugeMetricFamily("ember_repository_backups", "Live backups in each "
                                    "container.", labels=["container"])
        objects = GaugeMetricFamily("ember_repository_objects", "Data objects of live "
                                    "backups in each container.", labels=["container"])
        for container, size, count, object_count in self.m.containers:
            stored.add_metric([container], int(size or 0))
            backups.add_metric([container], int(count))
            objects.add_metric([container], int(object_count or 0))
        yield from (stored, backups, objects)


def render(metrics) -> bytes:
    """Prometheus text format of one ``Monitoring.metrics`` answer: the per-volume gauges
    first, then the collector's families."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CatalogCollector(metrics))
    return volume_text(metrics.volumes).encode("utf-8") + generate_latest(registry)


CONTENT_TYPE = CONTENT_TYPE_LATEST
