"""400 days of one backup policy on a small volume, the clock driven by the test and
the work run in-process: each day exactly the restore points restic's rules keep (plus
their parents) exist, chains are whole, no object is orphaned; every kept point
restores bit-exact; the rotating 10 % verification reads every backup within ten
verifications."""

import datetime
import hashlib
import os
import random
import shutil
import tempfile

import pytest
import sqlalchemy as sa
from ember.context import RequestContext
from ember.catalog.models import Backup, BackupVerification
from ember.workers.scheduler import Scheduler

ADMIN = RequestContext.default()
DAYS = int(__import__("os").environ.get("SIM_DAYS", 400))
RULES = {"keep_last": 3, "keep_daily": 7, "keep_weekly": 4, "keep_monthly": 12,
         "keep_yearly": 2}


@pytest.fixture
def conf(conf):
    """The state (catalogue, volume) in memory when /dev/shm is there: ~50 commits a
    simulated day would otherwise wait on fsync for most of the test's time."""
    if not os.path.isdir("/dev/shm"):
        yield conf
        return
    state = tempfile.mkdtemp(prefix="ember-sim-", dir="/dev/shm")
    conf.set_override("state_path", state)
    try:
        yield conf
    finally:
        shutil.rmtree(state, ignore_errors=True)


def restic_keeps(history, rules):
    """The ids restic's forget keeps of ``history`` [(id, time, parent)], with every
    ancestor of a kept one (written here from restic's documentation, independently of
    ember.service.retention)."""
    newest_first = sorted(history, key=lambda p: p[1], reverse=True)
    kept = {p[0] for p in newest_first[:rules.get("keep_last", 0)]}
    periods = {"keep_daily": lambda t: t.date(),
               "keep_weekly": lambda t: t.isocalendar()[:2],
               "keep_monthly": lambda t: (t.year, t.month), "keep_yearly": lambda t: t.year}
    for rule, period in periods.items():
        seen = []
        for pid, when, _ in newest_first:
            if len(seen) == rules.get(rule, 0):
                break
            if period(when) not in seen:
                seen.append(period(when))
                kept.add(pid)
    parent = {p[0]: p[2] for p in history}
    for pid in list(kept):
        while parent.get(pid):
            pid = parent[pid]
            kept.add(pid)
    return kept


def _sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _live(service):
    with service.catalog.session() as session:
        return {b.id: b for b in session.scalars(sa.select(Backup).where(
            Backup.deleted.is_(False)))}


def _check_repository(live, store):
    """Chains whole, every object under a live backup's prefix, every backup's
    _metadata there."""
    for row in live.values():
        assert row.parent_id is None or row.parent_id in live, row.id
    names = [n for objects in store.containers.values() for n in objects]
    prefixes = {row.service_metadata for row in live.values()}
    orphans = [n for n in names if not any(n.startswith(p) for p in prefixes)]
    assert orphans == []
    for prefix in prefixes:
        assert prefix + "_metadata" in names


def _restores_bit_exact(service, admin, live, content):
    for backup_id in live:
        restored = service.restore_backup(admin, backup_id, name="check")
        volume = service.get_volume(admin, restored["volume_id"])
        assert _sha(volume["path"]) == content[backup_id], backup_id
        service.delete_volume(admin, volume["id"])


def test_four_hundred_days_of_a_policy(service, store, clock, inline):
    rng = random.Random(20)
    volume = service.create_volume(ADMIN, "vol", size="1M")
    service.create_policy(ADMIN, "daily", schedule="0 1 * * *", full_every=7,
                          retention=RULES, verify_schedule="0 3 * * 0", verify_percent=10,
                          volumes=["vol"])
    scheduler = Scheduler(service, inline, holder="sim")
    history, content = [], {}
    for day in range(DAYS):
        with open(volume["path"], "r+b") as f:  # the day's writes
            f.seek(rng.randrange(256) * 4096)
            f.write(rng.randbytes(4096))
        clock.now = datetime.datetime(2026, 1, 1) + datetime.timedelta(days=day, hours=1)
        before = set(_live(service))
        assert scheduler.tick()
        live = _live(service)
        new = [live[i] for i in live if i not in before]
        assert len(new) == 1 and new[0].status == "available", day
        history.append((new[0].id, new[0].data_timestamp, new[0].parent_id))
        content[new[0].id] = _sha(volume["path"])
        assert set(live) == restic_keeps(history, RULES), "day %d" % day
        chain, member = 1, new[0]
        while member.parent_id:
            chain, member = chain + 1, live[member.parent_id]
        assert chain == day % 7 + 1  # a full every seventh backup
        _check_repository(live, store)
        clock.advance(hours=3)  # the weekly verification (Sundays, 03:00)
        scheduler.tick()
        if day in (120, DAYS - 1):
            _restores_bit_exact(service, ADMIN, live, content)
    _check_verification_rotation(service, clock.now)
    runs = service.get_policy(ADMIN, "daily", runs=1000)["runs"]
    assert sum(r["kind"] == "backup" for r in runs) == DAYS
    assert all(r["status"] == "done" for r in runs)


def _check_verification_rotation(service, now):
    """Every backup older than ten weeks was read in the last ten weeks (10 % a week)."""
    live = _live(service)
    with service.catalog.session() as session:
        verified = {v.backup_id: v.verified_at for v in session.scalars(
            sa.select(BackupVerification))}
    ten_weeks = datetime.timedelta(weeks=10)
    old = [i for i, row in live.items() if row.data_timestamp < now - ten_weeks]
    assert old
    assert [i for i in old if verified.get(i) is None or verified[i] < now - ten_weeks] == []


def test_consolidation_keeps_the_same_points_with_short_chains(service, store, clock, inline):
    """The same policy with --consolidate for 150 days: the same restore points (by
    time) exist as without it, each restores bit-exact, and a point kept only for its
    day, week or month becomes a full, so old chains do not pile up."""
    rng = random.Random(21)
    volume = service.create_volume(ADMIN, "vol", size="1M")
    service.create_policy(ADMIN, "daily", schedule="0 1 * * *", full_every=7,
                          retention=RULES, consolidate=True, volumes=["vol"])
    scheduler = Scheduler(service, inline, holder="sim")
    history, content = [], {}
    for day in range(150):
        with open(volume["path"], "r+b") as f:
            f.seek(rng.randrange(256) * 4096)
            f.write(rng.randbytes(4096))
        clock.now = datetime.datetime(2026, 1, 1) + datetime.timedelta(days=day, hours=1)
        before = set(_live(service))
        assert scheduler.tick()
        live = _live(service)
        new = [live[i] for i in live if i not in before and not _is_synthetic(live[i])]
        assert len(new) == 1 and new[0].status == "available", day
        history.append((new[0].data_timestamp, new[0].data_timestamp, None))
        content[new[0].data_timestamp] = _sha(volume["path"])
        kept = restic_keeps(history, RULES)
        assert {row.data_timestamp for row in live.values()} >= kept, "day %d" % day
        parents = {r.parent_id for r in live.values()}
        # a point no rule keeps stays only as the parent of a backup that is kept
        assert [i for i, r in live.items() if r.data_timestamp not in kept
                and i not in parents] == [], day
        recent = set(sorted(kept)[-RULES["keep_last"]:])
        # an older incremental stays only while a newer backup needs it as a parent
        assert [i for i, r in live.items() if r.parent_id and i not in parents
                and r.data_timestamp not in recent] == [], day
        assert len(live) <= len(kept) + 6, day  # at most one chain's worth of extra rows
        _check_repository(live, store)
    for backup_id, row in _live(service).items():
        restored = service.restore_backup(ADMIN, backup_id, name="check")
        assert _sha(service.get_volume(ADMIN, restored["volume_id"])["path"]) == \
            content[row.data_timestamp]
        service.delete_volume(ADMIN, restored["volume_id"])


def _is_synthetic(row) -> bool:
    return (row.display_description or "").startswith("Consolidated from backup")
