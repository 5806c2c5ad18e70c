"""The retention planner: which backups of one volume a prune keeps, and why.

Pure: no catalogue, no clock, no I/O. The caller hands in a volume's backups as
``Point``s, the ``Rules`` and ``now``; ``plan`` returns one ``Decision`` per backup.

The rules are restic's ``forget`` (``restic/internal/restic/snapshot_policy.go``):

* restore points are the ``available`` backups, newest first (by ``created_at``, the time
  the point's data was taken; on a tie a full counts as newer than an incremental, so a
  consolidated full wins over the incremental it was made from);
* a point is kept if any rule keeps it: ``last`` N newest; ``hourly``/``daily``/
  ``weekly``/``monthly``/``yearly`` N: walking newest to oldest, the first point of each
  new period (UTC hour, day, ISO week, month, year) is kept until N periods are kept;
  ``within`` a ``Duration``: points newer than the newest point minus the duration
  (restic measures from the newest point, not from now, so a volume whose backups stopped
  keeps its last ones);
* no rule at all keeps everything (restic refuses to forget without a policy).

Ember adds what chains and the catalogue need:

* a ``protected`` backup is kept ("protected");
* a backup being written, restored or deleted is left alone ("status creating"), and
  so is one taken after ``now`` (clock skew, or finished while the plan was made);
* a failed backup (``error``: not a restore point, for example a prune or delete that
  was interrupted) is deleted ("status error") unless something above keeps it;
* **chains are never broken**: every ancestor of a kept backup is kept ("parent of X").

Public API (stable; the policies scheduler builds on it)::

    Point(id, parent_id, created_at, status="available", protected=False,
          is_incremental=None)
    Rules(last=0, hourly=0, daily=0, weekly=0, monthly=0, yearly=0, within=None)
    Duration.parse("1y2m3d4h")          # restic's syntax; ValueError with one line
    plan(points, rules, now) -> list[Decision]   # in the order of ``points``
    Decision(id, keep: bool, reasons: tuple[str, ...])
    deletion_order(decisions, points) -> list[str]   # children before parents
    newest_first(points) -> list[Point]              # the order the rules walk

Datetimes are naive UTC (as the catalogue stores them) or aware (converted to UTC).
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Iterable, Sequence

AVAILABLE = "available"
ERROR = "error"
PERIODS = ("hourly", "daily", "weekly", "monthly", "yearly")


@dataclasses.dataclass(frozen=True)
class Point:
    """One backup of the volume, as the planner needs it."""

    id: str
    parent_id: str | None
    created_at: datetime.datetime
    status: str = AVAILABLE
    protected: bool = False
    is_incremental: bool | None = None  # None: derived from parent_id

    @property
    def incremental(self) -> bool:
        return bool(self.parent_id) if self.is_incremental is None else self.is_incremental


@dataclasses.dataclass(frozen=True)
class Duration:
    """restic's ``--keep-within`` duration: years, months, days, hours."""

    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0

    _PART = re.compile(r"(\d+)([ymdh])")

    @classmethod
    def parse(cls, text: str) -> Duration:
        """``"1y2m3d4h"`` (any subset, each unit once, in any order) → ``Duration``."""
        text = (text or "").strip()
        parts = cls._PART.findall(text)
        units = [unit for _, unit in parts]
        if not text or "".join(n + u for n, u in parts) != text or len(set(units)) != len(units):
            raise ValueError("Invalid duration %r: use numbers with units y, m, d, h, "
                             "each at most once, e.g. 1y2m3d4h or 36h." % text)
        fields = {"y": "years", "m": "months", "d": "days", "h": "hours"}
        return cls(**{fields[u]: int(n) for n, u in parts})

    def __str__(self) -> str:
        text = "".join("%d%s" % (n, u) for n, u in
                       ((self.years, "y"), (self.months, "m"), (self.days, "d"),
                        (self.hours, "h")) if n)
        return text or "0h"

    def __bool__(self) -> bool:
        return any((self.years, self.months, self.days, self.hours))

    def before(self, moment: datetime.datetime) -> datetime.datetime:
        """``moment`` minus this duration with Go's ``AddDate`` normalisation (Mar 31
        minus one month is Mar 3 or 2, as restic computes it)."""
        months = moment.year * 12 + (moment.month - 1) - self.years * 12 - self.months
        try:
            first = moment.replace(year=months // 12, month=months % 12 + 1, day=1)
            day = first + datetime.timedelta(days=moment.day - 1 - self.days)
            return day - datetime.timedelta(hours=self.hours)
        except (ValueError, OverflowError):  # before year 1: everything is within
            return datetime.datetime.min


@dataclasses.dataclass(frozen=True)
class Rules:
    """How many points each rule keeps (0: the rule is off)."""

    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: Duration | None = None

    def __post_init__(self):
        for name in ("last",) + PERIODS:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError("--keep-%s must be a whole number, 0 or more, not %r."
                                 % (name, value))

    def empty(self) -> bool:
        return not (self.last or self.within or any(getattr(self, p) for p in PERIODS))

    def describe(self) -> str:
        parts = ["last %d" % self.last] if self.last else []
        parts += ["%s %d" % (p, getattr(self, p)) for p in PERIODS if getattr(self, p)]
        parts += ["within %s" % self.within] if self.within else []
        return ", ".join(parts) or "keep everything"


@dataclasses.dataclass(frozen=True)
class Decision:
    id: str
    keep: bool
    reasons: tuple[str, ...]

    @property
    def action(self) -> str:
        return "keep" if self.keep else "delete"


def _utc(moment: datetime.datetime) -> datetime.datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return moment


def _period(name: str, t: datetime.datetime):
    """restic's buckets: the value that changes when a new period starts."""
    if name == "weekly":
        year, week, _ = t.isocalendar()
        return (year, week)
    depth = {"yearly": 1, "monthly": 2, "daily": 3, "hourly": 4}[name]
    return (t.year, t.month, t.day, t.hour)[:depth]


def _restic_reasons(points: Sequence[Point], rules: Rules) -> dict[str, list[str]]:
    """restic's forget over ``points`` (newest first): id → reasons it is kept."""
    reasons: dict[str, list[str]] = {}
    if not points:
        return reasons
    cutoff = rules.within.before(_utc(points[0].created_at)) if rules.within else None
    left = {p: getattr(rules, p) for p in PERIODS}
    last_period = {p: None for p in PERIODS}
    for number, point in enumerate(points):
        when, why = _utc(point.created_at), []
        if number < rules.last:
            why.append("last %d" % rules.last)
        if cutoff is not None and when > cutoff:
            why.append("within %s" % rules.within)
        for name in PERIODS:
            period = _period(name, when)
            if left[name] and period != last_period[name]:
                last_period[name] = period
                left[name] -= 1
                why.append(name)
        if why:
            reasons[point.id] = why
    return reasons


def newest_first(points: Iterable[Point]) -> list[Point]:
    """The order the rules walk: newest first, a full before an incremental of the same
    time, otherwise the caller's order (stable)."""
    return sorted(points, key=lambda p: (_utc(p.created_at), not p.incremental), reverse=True)


def plan(points: Sequence[Point], rules: Rules, now: datetime.datetime) -> list[Decision]:
    """Keep or delete each of one volume's backups (see the module doc), in the order of
    ``points``. Every kept backup's ancestors in ``points`` are kept too."""
    now = _utc(now)
    reasons: dict[str, list[str]] = {p.id: [] for p in points}
    candidates, failed = [], {p.id for p in points if p.status == ERROR and not p.protected}
    for point in points:
        if point.protected:
            reasons[point.id].append("protected")
        if point.status != AVAILABLE:
            reasons[point.id].append("status %s" % point.status)
        elif _utc(point.created_at) > now:
            reasons[point.id].append("newer than now")
        else:
            candidates.append(point)
    if rules.empty():
        for point in candidates:
            reasons[point.id].append("no rules")
    for pid, why in _restic_reasons(newest_first(candidates), rules).items():
        reasons[pid].extend(why)
    kept = {pid for pid, why in reasons.items() if why and pid not in failed}
    kept |= _keep_parents(points, kept, reasons)
    return [Decision(p.id, p.id in kept, tuple(reasons[p.id])) for p in points]


def _keep_parents(points: Sequence[Point], kept: set[str],
                  reasons: dict[str, list[str]]) -> set[str]:
    """The ancestors of the ``kept`` backups, noted "parent of X" (X the nearest kept
    child)."""
    parent_of = {p.id: p.parent_id for p in points}
    walked: set[str] = set()  # kept ids whose ancestors are all marked already
    for child in [p.id for p in newest_first(points) if p.id in kept]:
        if child in walked:
            continue
        seen, pid = {child}, parent_of.get(child)
        walked.add(child)
        while pid in parent_of and pid not in seen:
            seen.add(pid)
            reasons[pid].append("parent of %s" % child)
            if pid in walked:
                break
            walked.add(pid)
            pid, child = parent_of[pid], pid
    return walked


def deletion_order(decisions: Sequence[Decision], points: Sequence[Point]) -> list[str]:
    """The ids to delete, children before parents: stopping after any of them leaves
    every remaining backup's ancestors in place (whole, restorable chains)."""
    doomed = {d.id for d in decisions if not d.keep}
    parent_of = {p.id: p.parent_id for p in points}

    def depth(pid):
        seen, n = set(), 0
        while pid in parent_of and pid not in seen:
            seen.add(pid)
            pid, n = parent_of[pid], n + 1
        return n

    ordered = newest_first(p for p in points if p.id in doomed)
    return [p.id for p in sorted(ordered, key=lambda p: depth(p.id), reverse=True)]
