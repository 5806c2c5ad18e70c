"""What metrics and the dashboard show, read from the catalogue through the service door:
``metrics`` (every project, administrators: policy ``ember:metrics``) and ``dashboard``
(the caller's project; every project for those ``ember:all_projects`` allows). Both
return plain values; ``ember.api`` renders them as Prometheus text or HTML.
"""

from __future__ import annotations

import collections
import datetime
from dataclasses import dataclass, field

from ember import policy as rules
from ember.catalog import monitoring as queries
from ember.catalog.models import utcnow
from ember.catalog.views import iso

#: (state, what the dashboard says) of a volume's protection
OK, LATE, STALE, FAILING, NEVER, DAMAGED = "ok", "late", "stale", "failing", "never", "damaged"
#: worst first: the order of the dashboard's table
SEVERITY = (DAMAGED, NEVER, FAILING, STALE, LATE, OK)
#: the dashboard lists this many volumes, worst first, and counts the rest
DASHBOARD_ROWS = 300
WORKER_BINARY = "cinder-backup"
DURATION_BUCKETS = queries.DURATION_BUCKETS


def epoch(value: datetime.datetime | None) -> float | None:
    """Seconds since 1970 of a naive UTC catalogue time."""
    if value is None:
        return None
    return value.replace(tzinfo=datetime.timezone.utc).timestamp()


@dataclass
class Metrics:
    """One scrape's values (see ``docs/monitoring.md`` for each metric)."""

    volumes: list
    backups_by_status: dict
    operations: dict  # (kind, status) → runs
    histograms: dict  # kind → (duration Histogram, bytes Histogram)
    in_flight: dict
    waiting: dict
    workers: list  # (host, last heartbeat epoch, up)
    containers: list  # (container, stored bytes, backups, objects)
    kinds: tuple = queries.KINDS
    duration_buckets: tuple = queries.DURATION_BUCKETS
    bytes_buckets: tuple = queries.BYTES_BUCKETS


@dataclass
class Dashboard:
    scope: str  # "all projects" or the project id
    now: datetime.datetime
    volumes: list = field(default_factory=list)  # the worst DASHBOARD_ROWS
    counts: dict = field(default_factory=dict)  # state → volumes, all of them
    total: int = 0
    running: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    workers: list | None = None  # None: not the caller's to see
    growth: list = field(default_factory=list)  # (epoch, stored bytes)
    durations: list = field(default_factory=list)  # (epoch, seconds)


class Monitoring:
    """Reads for metrics and the dashboard; writes nothing."""

    def __init__(self, catalog, policy, conf):
        self.catalog = catalog
        self.policy = policy
        self.conf = conf

    def _stale_before(self, now):
        return now - datetime.timedelta(seconds=self.conf.service_down_time)

    def _workers(self, session, now):
        down_after = datetime.timedelta(seconds=self.conf.service_down_time)
        return [(host, epoch(beat), bool(not disabled and beat and now - beat <= down_after))
                for host, binary, beat, disabled in queries.workers(session)
                if binary == WORKER_BINARY]

    def metrics(self, ctx) -> Metrics:
        """Every project's protection state, work and workers (policy ``ember:metrics``)."""
        self.policy.enforce(ctx, rules.METRICS)
        now = utcnow()
        with self.catalog.session() as session:
            return Metrics(
                volumes=queries.volume_summaries(session),
                backups_by_status=queries.backups_by_status(session),
                operations=queries.operation_counts(session),
                histograms=queries.operation_histograms(session),
                in_flight=queries.work_in_flight(session, self._stale_before(now)),
                waiting=queries.work_waiting(session),
                workers=self._workers(session, now),
                containers=queries.repository_by_container(session))

    def dashboard(self, ctx) -> Dashboard:
        """The page's content, inside the caller's project unless it may see all."""
        self.policy.enforce(ctx, rules.DASHBOARD)
        everything = self.policy.allowed(ctx, rules.ALL_PROJECTS)
        project = None if everything else ctx.project_id
        now = utcnow()
        with self.catalog.session() as session:
            page = Dashboard(scope="all projects" if everything else project, now=now)
            periods: dict = {}
            states = [self._volume_state(v, now, periods)
                      for v in queries.volume_summaries(session, project)]
            states.sort(key=lambda v: (SEVERITY.index(v["state"]), -(v["age"] or 0)))
            page.volumes, page.total = states[:DASHBOARD_ROWS], len(states)
            for row in page.volumes:  # times as text for the rows shown only
                row["last_success"], row["last_verify"] = (iso(row["last_success"]),
                                                           iso(row["last_verify"]))
            counted = collections.Counter(v["state"] for v in states)
            page.counts = {state: counted[state] for state in SEVERITY}
            page.running = [_running(r) for r in
                            queries.running_work(session, self._stale_before(now), project)]
            page.failures = [dict(zip(("when", "kind", "backup_id", "backup_name",
                                       "volume_id", "reason"), (iso(r[0]), *r[1:])))
                             for r in queries.recent_failures(session, project)]
            if self.policy.allowed(ctx, rules.SERVICE_LIST):
                page.workers = [{"host": h, "heartbeat": _ago(now, b), "up": up}
                                for h, b, up in self._workers(session, now)]
            page.growth = [(epoch(t), size) for t, size
                           in queries.repository_growth(session, project)]
            page.durations = [(epoch(t), seconds) for t, seconds, _ in
                              queries.backup_durations(session, project) if t is not None]
        return page

    def _max_age(self, schedule: str | None, now, periods: dict) -> float:
        """Seconds after which a backup is late: 1.5 periods of the volume's policy
        schedule (the gap between its last two times before ``now``), else
        ``backup_max_age``; worked out once per schedule into ``periods``."""
        if schedule not in periods:
            periods[schedule] = self._period(schedule, now)
        return periods[schedule]

    def _period(self, schedule: str | None, now) -> float:
        if not schedule:
            return self.conf.backup_max_age
        from croniter import croniter  # imported late: only with policies

        try:
            times = croniter(schedule, now)
            last = times.get_prev(datetime.datetime)
            return 1.5 * (last - times.get_prev(datetime.datetime)).total_seconds()
        except (ValueError, KeyError):  # not a schedule croniter reads: the default
            return self.conf.backup_max_age

    def _volume_state(self, summary, now, periods: dict) -> dict:
        """A volume's row: its protection state against its policy's schedule, or
        ``backup_max_age`` when no policy applies (its times still datetimes: the
        caller writes them as text for the rows it keeps)."""
        max_age = self._max_age(summary.schedule, now, periods)
        age = None if summary.last_success is None else (
            now - summary.last_success).total_seconds()
        if summary.damaged:
            state = DAMAGED
        elif age is None:
            state = NEVER
        elif summary.last_failure and summary.last_failure > summary.last_success:
            state = FAILING
        elif age <= max_age:
            state = OK
        else:
            state = LATE if age <= 2 * max_age else STALE
        return {"id": summary.volume_id, "name": summary.name, "project_id": summary.project_id,
                "status": summary.status or "gone", "backups": summary.backups,
                "stored_bytes": summary.stored_bytes, "chain_length": summary.chain_length,
                "last_success": summary.last_success, "age": age,
                "last_verify": summary.last_verify, "state": state, "max_age": max_age,
                "policy": summary.policy, "schedule": summary.schedule,
                "damaged": summary.damaged}


def _ago(now, epoch_seconds) -> float | None:
    if epoch_seconds is None:
        return None
    return epoch(now) - epoch_seconds


def _running(row) -> dict:
    kind, backup_id, name, volume_id, host, started, done, total = row
    percent = 100.0 * done / total if done is not None and total else None
    return {"kind": kind, "backup_id": backup_id, "backup_name": name, "volume_id": volume_id,
            "host": host, "started": iso(started), "done": done, "total": total,
            "percent": percent}
