"""Catalogue queries behind metrics and the dashboard: each aggregates in SQL (one
GROUP BY, read from an index where one covers it), so a scrape costs a handful of
queries whatever the number of backups. ``project`` (when given) keeps every answer
inside one project.

A *protection point* of a volume is an ``available`` backup; its time is the backup's
``data_timestamp`` (when its data was read, as Cinder orders backups). The *chain* of a
volume is its newest available full and the available backups after it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import sqlalchemy as sa

from ember.catalog.models import (
    Backup,
    BackupOperation,
    BackupPolicy,
    BackupPolicyVolume,
    BackupVerification,
    Service,
    Volume,
)
from ember.catalog.states import BackupStatus

#: the backup status each kind of work holds while it waits or runs
WORKING = {"create": BackupStatus.CREATING, "restore": BackupStatus.RESTORING,
           "delete": BackupStatus.DELETING}
KINDS = ("create", "restore", "delete", "verify")
DURATION_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600)
BYTES_BUCKETS = tuple(1 << s for s in (20, 24, 28, 30, 32, 34, 36, 38, 40))


@dataclass
class VolumeSummary:
    volume_id: str
    project_id: str | None
    name: str | None = None
    status: str | None = None  # None: the volume is gone, its backups remain
    backups: int = 0  # available backups
    stored_bytes: int = 0  # bytes of every live backup's objects
    last_success: datetime.datetime | None = None
    last_failure: datetime.datetime | None = None  # newest backup in error
    last_verify: datetime.datetime | None = None
    damaged: int = 0  # live backups whose newest verification found damage
    chain_length: int = 0
    policy: str | None = None  # the name of the backup policy that applies to it
    schedule: str | None = None  # that policy's schedule (cron syntax)


def _run(session, stmt) -> list:
    """The rows of a Core select, run on the session's connection and fetched at once:
    past the ORM's result machinery and the row-by-row fetch of iterating a result,
    which cost more than SQLite's own work on thousands of rows."""
    return session.connection().execute(stmt).all()


def _in(stmt, column, project):
    return stmt if project is None else stmt.where(column == project)


def _new(found: dict, vid: str, pid: str | None) -> VolumeSummary:
    """A volume's summary, made (once: a thousand volumes' rows come two or three
    times each) and kept in ``found``."""
    summary = found[vid] = VolumeSummary(vid, pid)
    return summary


def volume_summaries(session, project: str | None = None) -> list[VolumeSummary]:
    """Every live volume and every volume with live backups, with its protection state."""
    per_status = _in(sa.select(
        Backup.volume_id, Backup.status, sa.func.max(Backup.project_id), sa.func.count(),
        sa.func.sum(Backup.stored_bytes), sa.func.max(Backup.data_timestamp),
        sa.func.max(Backup.created_at),
    ).where(Backup.deleted.is_(False)), Backup.project_id, project).group_by(
        Backup.volume_id, Backup.status)
    found: dict[str, VolumeSummary] = {}
    for vid, status, pid, count, stored, newest_data, newest in _run(session, per_status):
        summary = found.get(vid) or _new(found, vid, pid)
        summary.stored_bytes += int(stored or 0)
        if status == BackupStatus.AVAILABLE:
            summary.backups, summary.last_success = int(count), newest_data
        elif status == BackupStatus.ERROR:
            summary.last_failure = newest
    volumes = _in(sa.select(Volume.id, Volume.project_id, Volume.display_name, Volume.status)
                  .where(Volume.deleted.is_(False)), Volume.project_id, project)
    for vid, pid, name, status in _run(session, volumes):
        summary = found.get(vid) or _new(found, vid, pid)
        summary.name, summary.status = name, status
    for vid, length in _run(session, _chain_lengths(project)):
        if vid in found:
            found[vid].chain_length = int(length)
    for vid, when, damaged in _verifications(session, project):
        summary = found.get(vid)
        if summary is not None:
            summary.damaged += int(damaged or 0)
            if when is not None and (summary.last_verify is None or when > summary.last_verify):
                summary.last_verify = when
    named, defaults = policy_schedules(session, project)
    for summary in found.values():
        summary.policy, summary.schedule = named.get(
            summary.volume_id, defaults.get(summary.project_id, (None, None)))
    return sorted(found.values(), key=lambda s: (s.project_id or "", s.volume_id))


def _verifications(session, project):
    """(volume id, newest time a verify found its backups intact, live backups whose
    newest verification found damage), from whole-chain verifies (``backup_operations``)
    and each backup's newest verification (``backup_verifications``, written by verify
    and by a policy's partial verification)."""
    op = BackupOperation
    whole = _in(sa.select(op.volume_id, sa.func.max(op.finished_at), sa.literal(0))
                .where(op.kind == "verify", op.status == "succeeded"),
                op.project_id, project).group_by(op.volume_id)
    # driven from the verifications to their backups by primary key: a join lets
    # SQLite walk every backup in volume order instead
    verified = BackupVerification
    owner = sa.select(Backup.id).where(Backup.id == verified.backup_id)
    column = lambda c: owner.with_only_columns(c).scalar_subquery()  # noqa: E731
    checked = sa.select(column(Backup.volume_id).label("vid"),
                        column(Backup.project_id).label("pid"),
                        column(Backup.deleted).label("gone"), verified.verified_at.label("at"),
                        verified.damaged.label("damaged")).subquery()
    damaged = sa.and_(checked.c.damaged.is_(True), checked.c.gone.is_(False))
    partial = _in(sa.select(checked.c.vid,
                            sa.func.max(sa.case((checked.c.damaged.is_(False), checked.c.at))),
                            sa.func.sum(sa.case((damaged, 1), else_=0))),
                  checked.c.pid, project).group_by(checked.c.vid)
    return [*_run(session, whole), *_run(session, partial)]


def policy_schedules(session, project: str | None = None):
    """({volume id: (policy name, schedule)} of the enabled policies naming volumes,
    {project id: (policy name, schedule)} of the enabled project defaults)."""
    usable = sa.and_(BackupPolicy.deleted.is_(False), BackupPolicy.enabled.is_(True))
    named = _in(sa.select(BackupPolicyVolume.volume_id, BackupPolicy.name,
                          BackupPolicy.schedule)
                .join(BackupPolicy, BackupPolicy.id == BackupPolicyVolume.policy_id)
                .where(usable), BackupPolicy.project_id, project)
    defaults = _in(sa.select(BackupPolicy.project_id, BackupPolicy.name, BackupPolicy.schedule)
                   .where(usable, BackupPolicy.project_default.is_(True)),
                   BackupPolicy.project_id, project)
    return ({vid: (name, cron) for vid, name, cron in _run(session, named)},
            {pid: (name, cron) for pid, name, cron in _run(session, defaults)})


def _chain_lengths(project):
    """(volume id, available backups from its newest available full on)."""
    usable = sa.and_(Backup.deleted.is_(False), Backup.status == BackupStatus.AVAILABLE)
    newest_full = _in(sa.select(Backup.volume_id.label("vid"),
                                sa.func.max(Backup.data_timestamp).label("since"))
                      .where(usable, Backup.parent_id.is_(None)), Backup.project_id, project
                      ).group_by(Backup.volume_id).subquery()
    # counted per volume by a correlated subquery: a seek into the summary index
    # (deleted, volume_id, status, data_timestamp) each, where a join scanned every
    # backup again
    since = (sa.select(sa.func.count()).select_from(Backup)
             .where(usable, Backup.volume_id == newest_full.c.vid,
                    Backup.data_timestamp >= newest_full.c.since)
             .correlate(newest_full).scalar_subquery())
    return sa.select(newest_full.c.vid, since)


def backups_by_status(session, project: str | None = None) -> dict[str, int]:
    stmt = _in(sa.select(Backup.status, sa.func.count()).where(Backup.deleted.is_(False)),
               Backup.project_id, project).group_by(Backup.status)
    return {status: int(n) for status, n in _run(session, stmt)}


def operation_counts(session) -> dict[tuple[str, str], int]:
    """(kind, status) → runs recorded."""
    stmt = sa.select(BackupOperation.kind, BackupOperation.status, sa.func.count()).group_by(
        BackupOperation.kind, BackupOperation.status)
    return {(kind, status): int(n) for kind, status, n in _run(session, stmt)}


@dataclass
class Histogram:
    count: int
    total: float
    buckets: list[tuple[float, int]]  # (upper bound, cumulative count), +Inf excluded


def _bucket(column, bounds):
    """The index of the first bound ``column`` is at most (``len(bounds)``: above all)."""
    return sa.case(*[(column <= b, i) for i, b in enumerate(bounds)], else_=len(bounds))


def _histogram_counts(session, column, bounds) -> dict[str, tuple[int, float, list[int]]]:
    """kind → (count, sum, per-bucket counts) of ``column`` over succeeded runs."""
    op = BackupOperation
    bucket = _bucket(column, bounds).label("bucket")
    stmt = (sa.select(op.kind, bucket, sa.func.count(), sa.func.sum(column))
            .where(op.status == "succeeded", column.is_not(None)).group_by(op.kind, bucket))
    out: dict[str, tuple[int, float, list[int]]] = {}
    for kind, index, count, total in _run(session, stmt):
        n, s, per = out.get(kind, (0, 0.0, [0] * (len(bounds) + 1)))
        per[int(index)] += int(count)
        out[kind] = (n + int(count), s + float(total or 0), per)
    return out


def _histogram(counted, bounds) -> Histogram:
    """A ``Histogram`` (cumulative buckets) of one ``_histogram_counts`` entry."""
    n, total, per = counted or (0, 0.0, [0] * (len(bounds) + 1))
    running, buckets = 0, []
    for bound, count in zip(bounds, per):
        running += count
        buckets.append((bound, running))
    return Histogram(n, total, buckets)


def operation_histograms(session) -> dict[str, tuple[Histogram, Histogram]]:
    """kind → (duration in seconds, bytes) of its succeeded runs, bucketed in SQL."""
    op = BackupOperation
    durations = _histogram_counts(session, op.duration_seconds, DURATION_BUCKETS)
    sizes = _histogram_counts(session, op.total_bytes, BYTES_BUCKETS)
    return {kind: (_histogram(durations.get(kind), DURATION_BUCKETS),
                   _histogram(sizes.get(kind), BYTES_BUCKETS))
            for kind in set(durations) | set(sizes)}


def _live_runs(stale_before: datetime.datetime):
    """WHERE clauses of ``running`` rows whose work still runs: its backup is still in
    the kind's working status (a verify: it reported within ``stale_before``)."""
    op = BackupOperation
    working = sa.or_(*[sa.and_(op.kind == kind, Backup.status == status)
                       for kind, status in WORKING.items()])
    verifying = sa.and_(op.kind == "verify",
                        sa.func.coalesce(op.updated_at, op.started_at) >= stale_before)
    return op.status == "running", Backup.deleted.is_(False), sa.or_(working, verifying)


def work_in_flight(session, stale_before) -> dict[str, int]:
    op = BackupOperation
    stmt = (sa.select(op.kind, sa.func.count()).join(Backup, Backup.id == op.backup_id)
            .where(*_live_runs(stale_before)).group_by(op.kind))
    return {kind: int(n) for kind, n in _run(session, stmt)}


def work_waiting(session) -> dict[str, int]:
    """kind → backups claimed for it whose run has not started."""
    started = sa.select(BackupOperation.id).where(BackupOperation.backup_id == Backup.id,
                                                  BackupOperation.status == "running")
    stmt = (sa.select(Backup.status, sa.func.count())
            .where(Backup.deleted.is_(False), Backup.status.in_(WORKING.values()),
                   ~started.exists()).group_by(Backup.status))
    kinds = {status: kind for kind, status in WORKING.items()}
    return {kinds[status]: int(n) for status, n in _run(session, stmt)}


def running_work(session, stale_before, project: str | None = None, limit: int = 50):
    """Rows (kind, backup id, backup name, volume id, host, started, done, total)."""
    op = BackupOperation
    stmt = _in(sa.select(op.kind, op.backup_id, Backup.display_name, op.volume_id, op.host,
                         op.started_at, op.done_bytes, op.total_bytes)
               .join(Backup, Backup.id == op.backup_id).where(*_live_runs(stale_before)),
               op.project_id, project)
    return _run(session, stmt.order_by(op.id.desc()).limit(limit))


def recent_failures(session, project: str | None = None, limit: int = 20):
    """Rows (when, kind, backup id, backup name, volume id, reason), newest first: failed
    runs, and backups in ``error`` that no failed run explains (repaired after a crash)."""
    op = BackupOperation
    runs = _in(sa.select(op.finished_at, op.kind, op.backup_id, Backup.display_name,
                         op.volume_id, op.fail_reason)
               .join(Backup, Backup.id == op.backup_id, isouter=True)
               .where(op.status.in_(("failed", "cancelled"))), op.project_id, project)
    runs = _run(session, runs.order_by(op.id.desc()).limit(limit))
    named = {r.backup_id for r in runs}
    errored = _in(sa.select(sa.func.coalesce(Backup.updated_at, Backup.created_at),
                            sa.literal("create"), Backup.id, Backup.display_name,
                            Backup.volume_id, Backup.fail_reason)
                  .where(Backup.deleted.is_(False), Backup.status == BackupStatus.ERROR),
                  Backup.project_id, project)
    errored = _run(session, errored.order_by(Backup.created_at.desc()).limit(limit))
    rows = list(runs) + [r for r in errored if r[2] not in named]
    return sorted(rows, key=lambda r: r[0] or datetime.datetime.min, reverse=True)[:limit]


def workers(session):
    """Rows (host, binary, last heartbeat, disabled) of the registered services."""
    stmt = (sa.select(Service.host, Service.binary,
                      sa.func.coalesce(Service.updated_at, Service.created_at), Service.disabled)
            .where(Service.deleted.is_(False)).order_by(Service.host, Service.binary))
    return _run(session, stmt)


def repository_by_container(session):
    """Rows (container, stored bytes, backups, objects) of live backups."""
    stmt = (sa.select(Backup.container, sa.func.sum(sa.func.coalesce(Backup.stored_bytes, 0)),
                      sa.func.count(), sa.func.sum(sa.func.coalesce(Backup.object_count, 0)))
            .where(Backup.deleted.is_(False), Backup.container.is_not(None))
            .group_by(Backup.container))
    return _run(session, stmt)


def repository_growth(session, project: str | None = None, points: int = 200):
    """[(time, stored bytes)] oldest first: the stored bytes after each of the last
    ``points`` backups made or deleted, worked back from today's total."""
    stored = Backup.stored_bytes.is_not(None)
    [(total,)] = _run(session, _in(
        sa.select(sa.func.coalesce(sa.func.sum(Backup.stored_bytes), 0))
        .where(Backup.deleted.is_(False)), Backup.project_id, project))
    made = _in(sa.select(Backup.created_at, Backup.stored_bytes).where(stored),
               Backup.project_id, project).order_by(Backup.created_at.desc()).limit(points)
    gone = _in(sa.select(Backup.deleted_at, -Backup.stored_bytes)
               .where(stored, Backup.deleted.is_(True), Backup.deleted_at.is_not(None)),
               Backup.project_id, project).order_by(Backup.deleted_at.desc()).limit(points)
    events = sorted([*_run(session, made), *_run(session, gone)], reverse=True)[:points]
    series, size = [], int(total or 0)
    for when, change in events:
        series.append((when, size))
        size -= int(change)
    return series[::-1]


def backup_durations(session, project: str | None = None, points: int = 200):
    """[(finished, seconds, total bytes)] of the last ``points`` succeeded creates."""
    op = BackupOperation
    stmt = _in(sa.select(op.finished_at, op.duration_seconds, op.total_bytes)
               .where(op.kind == "create", op.status == "succeeded"), op.project_id, project)
    return _run(session, stmt.order_by(op.id.desc()).limit(points))[::-1]
