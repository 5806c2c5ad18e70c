"""The retention planner: restic's forget rules, protection, and chains never broken.

Property tests over random histories of fulls and incrementals (hypothesis), each rule
checked against its restic definition computed independently here, plus examples that
pin restic's exact choices (ISO weeks, ``--keep-within`` from the newest point, Go's
month arithmetic).
"""

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ember.service.retention import Duration, Point, Rules, deletion_order, plan

T0 = datetime.datetime(2026, 1, 1)
NOW = datetime.datetime(2030, 1, 1)


@st.composite
def histories(draw):
    """A volume's backups, oldest first: unique times (minutes apart, up to ~2 years),
    each a full or an incremental of an earlier backup (usually the previous one), some
    protected, a few not available."""
    n = draw(st.integers(0, 40))
    gaps = draw(st.lists(st.integers(1, 60 * 24 * 40), min_size=n, max_size=n))
    points, when = [], T0
    for i, gap in enumerate(gaps):
        when += datetime.timedelta(minutes=gap)
        full = i == 0 or draw(st.booleans()) and draw(st.booleans())
        parent = None if full else points[draw(st.integers(max(0, i - 3), i - 1))].id
        status = draw(st.sampled_from(["available"] * 12 + ["creating", "error", "deleting"]))
        points.append(Point("b%02d" % i, parent, when, status=status,
                            protected=draw(st.integers(0, 9)) == 0))
    return points


rules_st = st.builds(
    Rules, last=st.integers(0, 5), hourly=st.integers(0, 5), daily=st.integers(0, 5),
    weekly=st.integers(0, 5), monthly=st.integers(0, 5), yearly=st.integers(0, 3),
    within=st.one_of(st.none(), st.builds(Duration, st.integers(0, 1), st.integers(0, 13),
                                          st.integers(0, 40), st.integers(0, 48))))


def ancestors(points, pid):
    parent_of = {p.id: p.parent_id for p in points}
    found, pid = [], parent_of[pid]
    while pid is not None:
        found.append(pid)
        pid = parent_of[pid]
    return found


def restore_points(points):
    """Available points, newest first (times are unique here)."""
    return sorted((p for p in points if p.status == "available"),
                  key=lambda p: p.created_at, reverse=True)


def newest_of_periods(points, key, count):
    """restic: the newest point of each of the ``count`` newest distinct periods."""
    chosen, periods = [], []
    for point in restore_points(points):
        period = key(point.created_at)
        if period not in periods:
            periods.append(period)
            chosen.append(point.id)
    return set(chosen[:count])


PERIOD_KEYS = {
    "hourly": lambda t: (t.year, t.month, t.day, t.hour),
    "daily": lambda t: t.date(),
    "weekly": lambda t: t.isocalendar()[:2],
    "monthly": lambda t: (t.year, t.month),
    "yearly": lambda t: t.year,
}


def kept_by(decisions, reason):
    return {d.id for d in decisions if reason in d.reasons}


@settings(max_examples=300, deadline=None)
@given(histories(), rules_st)
def test_no_kept_backup_ever_loses_a_parent(points, rules):
    decisions = plan(points, rules, NOW)
    keep = {d.id for d in decisions if d.keep}
    for pid in keep:
        assert set(ancestors(points, pid)) <= keep
    # and deleting in deletion_order, stopped after any step, leaves whole chains
    order = deletion_order(decisions, points)
    assert set(order) == {d.id for d in decisions if not d.keep}
    for step in range(len(order) + 1):
        left = {p.id for p in points} - set(order[:step])
        for pid in left:
            assert set(ancestors(points, pid)) <= left


@settings(max_examples=300, deadline=None)
@given(histories(), rules_st)
def test_each_rule_keeps_what_restic_keeps(points, rules):
    decisions = plan(points, rules, NOW)
    assert [d.id for d in decisions] == [p.id for p in points]
    newest = restore_points(points)
    assert kept_by(decisions, "last %d" % rules.last) == (
        {p.id for p in newest[:rules.last]} if rules.last else set())
    for name, key in PERIOD_KEYS.items():
        assert kept_by(decisions, name) == newest_of_periods(points, key, getattr(rules, name))
    if rules.within and newest:
        cutoff = rules.within.before(newest[0].created_at)
        assert kept_by(decisions, "within %s" % rules.within) == {
            p.id for p in newest if p.created_at > cutoff}
    by_id = {p.id: p for p in points}
    for d in decisions:
        point = by_id[d.id]
        assert ("protected" in d.reasons) == point.protected
        assert ("status %s" % point.status in d.reasons) == (point.status != "available")
        # kept exactly when some rule, protection, status or a kept child keeps it; a
        # failed backup only by protection or a kept child
        if point.status == "error" and not point.protected:
            assert d.keep == any(r.startswith("parent of") for r in d.reasons)
        else:
            assert d.keep == bool(d.reasons)
        if rules.empty() and point.status == "available":
            assert d.keep


def test_keep_last_3_on_a_chain_keeps_parents():
    t = [T0 + datetime.timedelta(hours=h) for h in range(6)]
    points = [Point("f1", None, t[0]), Point("i1", "f1", t[1]), Point("i2", "i1", t[2]),
              Point("f2", None, t[3]), Point("i3", "f2", t[4]), Point("i4", "i3", t[5])]
    decisions = {d.id: d for d in plan(points, Rules(last=2), NOW)}
    assert {i: d.reasons for i, d in decisions.items()} == {
        "f1": (), "i1": (), "i2": (),
        "f2": ("parent of i3",), "i3": ("last 2", "parent of i4"), "i4": ("last 2",)}
    assert deletion_order(list(decisions.values()), points) == ["i2", "i1", "f1"]


def test_protected_and_busy_backups_pin_their_chains():
    t = [T0 + datetime.timedelta(days=d) for d in range(4)]
    points = [Point("f1", None, t[0]), Point("i1", "f1", t[1], protected=True),
              Point("f2", None, t[2]), Point("i2", "f2", t[3], status="creating")]
    decisions = {d.id: d.reasons for d in plan(points, Rules(last=1), NOW)}
    assert decisions == {"f1": ("parent of i1",), "i1": ("protected",),
                         "f2": ("last 1", "parent of i2"), "i2": ("status creating",)}


def test_failed_backups_are_deleted_unless_protected_or_needed():
    t = [T0 + datetime.timedelta(days=d) for d in range(4)]
    points = [Point("f1", None, t[0]), Point("e1", "f1", t[1], status="error"),
              Point("e2", None, t[2], status="error", protected=True),
              Point("f2", None, t[3])]
    decisions = {d.id: (d.keep, d.reasons) for d in plan(points, Rules(last=1), NOW)}
    assert decisions == {"f1": (False, ()), "e1": (False, ("status error",)),
                         "e2": (True, ("protected", "status error")),
                         "f2": (True, ("last 1",))}


def test_a_consolidated_full_counts_as_newer_than_its_source():
    when = T0 + datetime.timedelta(days=3)
    points = [Point("f1", None, T0), Point("i1", "f1", when), Point("c1", None, when)]
    decisions = {d.id: d.keep for d in plan(points, Rules(last=1), NOW)}
    assert decisions == {"f1": False, "i1": False, "c1": True}


def test_backups_after_now_are_left_alone():
    points = [Point("f1", None, T0), Point("f2", None, NOW + datetime.timedelta(seconds=1))]
    decisions = {d.id: d.reasons for d in plan(points, Rules(last=1), NOW)}
    assert decisions == {"f1": ("last 1",), "f2": ("newer than now",)}


def test_weekly_uses_iso_weeks_and_within_counts_from_the_newest_point():
    # 2026-01-04 is a Sunday (ISO week 1), 2026-01-05 a Monday (ISO week 2)
    sunday, monday = datetime.datetime(2026, 1, 4, 23), datetime.datetime(2026, 1, 5, 1)
    points = [Point("sun", None, sunday), Point("mon", None, monday)]
    assert kept_by(plan(points, Rules(weekly=2), NOW), "weekly") == {"sun", "mon"}
    assert kept_by(plan(points, Rules(daily=1), NOW), "daily") == {"mon"}
    # within 2h of the newest point (not of now, years later): both are kept
    assert kept_by(plan(points, Rules(within=Duration(hours=3)), NOW), "within 3h") == {
        "sun", "mon"}


@pytest.mark.parametrize("text, parsed, moment, cutoff", [
    ("1y2m3d4h", Duration(1, 2, 3, 4), datetime.datetime(2026, 5, 10, 12),
     datetime.datetime(2025, 3, 7, 8)),
    ("1m", Duration(months=1), datetime.datetime(2026, 3, 31),
     datetime.datetime(2026, 3, 3)),  # Go: Feb 31 → Mar 3
    ("36h", Duration(hours=36), datetime.datetime(2026, 1, 2),
     datetime.datetime(2025, 12, 31, 12)),
    ("2d1y", Duration(years=1, days=2), datetime.datetime(2024, 2, 29),
     datetime.datetime(2023, 2, 27)),  # Feb 29 - 1y - 2d
])
def test_durations_parse_and_subtract_like_restic(text, parsed, moment, cutoff):
    assert Duration.parse(text) == parsed
    assert parsed.before(moment) == cutoff


@pytest.mark.parametrize("text", ["", "1", "1w", "1d1d", "d", "1.5d", "-1d", "1d 2h"])
def test_bad_durations_are_refused_in_one_line(text):
    with pytest.raises(ValueError, match="^Invalid duration .*e.g. 1y2m3d4h or 36h.$"):
        Duration.parse(text)


def test_negative_counts_are_refused():
    with pytest.raises(ValueError, match="--keep-daily must be a whole number, 0 or more"):
        Rules(daily=-1)
