"""Prune through the service on a real posix repository: the plan carried out through
the ordinary delete, children first, and a prune interrupted at every possible point
leaves only whole chains that restore bit-exact."""

import datetime
import hashlib
import os

import pytest
from ember import errors
from ember.catalog.models import Backup
from ember.context import RequestContext
from ember.loader import load_driver
from ember.service import Ember
from ember.service.retention import Duration, Rules
from ember.testing.cli import require_posix_plugin
from ember.testing.config import make_conf
from ember.testing.faulty import FaultyDriver

ADMIN = RequestContext.default()
MiB = 1 << 20


def sha(path, length=4 * MiB):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read(length)).hexdigest()


def write(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


@pytest.fixture
def conf(tmp_path):
    require_posix_plugin()
    return make_conf(state_path=str(tmp_path / "state"), backup_driver="posix",
                     backup_file_size=MiB, backup_sha_block_size_bytes=4096)


def make_history(service, kinds="FIIFII"):
    """Backups of one 4 MiB volume (F full, I incremental), the data changing before
    each; returns [(backup id, sha256 of the volume it holds)] oldest first."""
    vol = service.create_volume(ADMIN, "vol", size="4M")
    history = []
    for i, kind in enumerate(kinds):
        write(vol["path"], (i % 4) * MiB + 4096 * i, os.urandom(64 * 1024))
        backup = service.create_backup(ADMIN, "vol", name="b%d" % i, incremental=kind == "I")
        history.append((backup["id"], sha(vol["path"])))
    return vol, history


def live_backups(service):
    return {b["id"]: b for b in service.list_backups(ADMIN)}


def assert_whole_and_restorable(service, history):
    """Every live available backup's chain is in the catalogue and restores bit-exact."""
    live = live_backups(service)
    for backup_id, checksum in history:
        backup = live.get(backup_id)
        if backup is None or backup["status"] != "available":
            continue
        parent = backup["parent_id"]
        while parent:
            assert live[parent]["status"] == "available", (backup_id, parent)
            parent = live[parent]["parent_id"]
        restored = service.restore_backup(ADMIN, backup_id, name="r")
        path = service.get_volume(ADMIN, restored["volume_id"])["path"]
        assert sha(path) == checksum
        service.delete_volume(ADMIN, restored["volume_id"])


def test_prune_keep_last_deletes_old_chains_children_first(conf):
    faulty = FaultyDriver(load_driver(conf))
    service = Ember(conf, driver=faulty)
    vol, history = make_history(service)
    ids = [b for b, _ in history]
    planned = service.prune_backups(ADMIN, ["vol"], keep=Rules(last=2), dry_run=True)
    assert [(r["backup_id"], r["action"], r["reasons"]) for r in planned] == [
        (ids[5], "keep", ["last 2"]), (ids[4], "keep", ["last 2", "parent of %s" % ids[5]]),
        (ids[3], "keep", ["parent of %s" % ids[4]]),
        (ids[2], "delete", []), (ids[1], "delete", []), (ids[0], "delete", [])]
    assert set(live_backups(service)) == set(ids)  # a dry run changes nothing

    done = service.prune_backups(ADMIN, [vol["id"]], keep=Rules(last=2))
    assert [r["action"] for r in done] == ["kept"] * 3 + ["deleted"] * 3
    assert set(live_backups(service)) == set(ids[3:])
    # children before parents: each backup's objects all went before its parent's
    deleted = [next(i for i in ids if i in name)
               for op, _, name in faulty.log if op == "delete_object"]
    assert list(dict.fromkeys(deleted)) == [ids[2], ids[1], ids[0]]
    assert deleted == sorted(deleted, key=lambda i: -ids.index(i))
    assert_whole_and_restorable(service, history)


def test_a_prune_interrupted_anywhere_leaves_whole_chains(conf, tmp_path):
    """Ctrl-C at each delete_object call in turn (a fault placed by a wrapper: a real
    signal cannot be aimed at the n-th object), then a second prune finishes the job."""
    probe = Ember(make_conf(state_path=str(tmp_path / "probe"), backup_driver="posix",
                            backup_file_size=MiB, backup_sha_block_size_bytes=4096),
                  driver=FaultyDriver(load_driver(conf)))
    make_history(probe, "FIIFI")
    probe.prune_backups(ADMIN, ["vol"], keep=Rules(last=1))
    total = probe.driver.calls["delete_object"]
    assert total >= 6
    for stop in range(1, total + 1):
        state = tmp_path / ("s%d" % stop)
        run_conf = make_conf(state_path=str(state), backup_driver="posix",
                             backup_file_size=MiB, backup_sha_block_size_bytes=4096)
        faulty = FaultyDriver(load_driver(run_conf))
        service = Ember(run_conf, driver=faulty)
        _, history = make_history(service, "FIIFI")
        faulty.fail("delete_object", KeyboardInterrupt(), on_call=stop)
        with pytest.raises(KeyboardInterrupt):
            service.prune_backups(ADMIN, ["vol"], keep=Rules(last=1))
        assert_whole_and_restorable(service, history)
        faulty.clear()
        service.prune_backups(ADMIN, ["vol"], keep=Rules(last=1))
        assert set(live_backups(service)) == {history[3][0], history[4][0]}
        assert_whole_and_restorable(service, history)


def test_protected_backups_refuse_delete_and_survive_prune(conf):
    service = Ember(conf, driver=load_driver(conf))
    _, history = make_history(service, "FIFI")
    ids = [b for b, _ in history]
    assert service.update_backup(ADMIN, ids[1], protected=True)["protected"] is True
    with pytest.raises(errors.InvalidBackup) as refused:
        service.delete_backup(ADMIN, ids[1])
    assert str(refused.value) == (
        "Backup %s is protected; unprotect it first with 'ember volume backup set "
        "--no-protect %s'." % (ids[1], ids[1]))
    done = service.prune_backups(ADMIN, (), keep=Rules(last=1))
    assert {r["backup_id"]: (r["action"], r["reasons"]) for r in done} == {
        ids[3]: ("kept", ["last 1"]), ids[2]: ("kept", ["parent of %s" % ids[3]]),
        ids[1]: ("kept", ["protected"]), ids[0]: ("kept", ["parent of %s" % ids[1]])}
    service.update_backup(ADMIN, ids[1], protected=False)
    done = service.prune_backups(ADMIN, (), keep=Rules(last=1))
    assert [r["action"] for r in done] == ["kept", "kept", "deleted", "deleted"]
    assert_whole_and_restorable(service, history)


def test_periods_and_within_use_the_data_timestamps(conf):
    """Data timestamps spread over days (set in the catalogue as a clock would have)."""
    service = Ember(conf, driver=load_driver(conf))
    _, history = make_history(service, "FFFF")
    start = datetime.datetime(2026, 3, 1, 12)
    for i, (backup_id, _) in enumerate(history):  # days 0, 1, 1 (later), 9
        when = start + datetime.timedelta(days=(0, 1, 1, 9)[i], hours=i)
        with service.catalog.session() as session:
            session.get(Backup, backup_id).data_timestamp = when
    now = start + datetime.timedelta(days=30)
    daily = service.prune_backups(ADMIN, (), keep=Rules(daily=2), dry_run=True, now=now)
    assert [r["action"] for r in daily] == ["keep", "keep", "delete", "delete"]
    within = service.prune_backups(ADMIN, (), keep=Rules(within=Duration(days=8, hours=3)),
                                   dry_run=True, now=now)
    assert [r["action"] for r in within] == ["keep", "keep", "keep", "delete"]


def test_prune_refuses_no_rules_and_unknown_volumes(conf):
    service = Ember(conf, driver=load_driver(conf))
    with pytest.raises(errors.InvalidInput, match="^No --keep-\\* rule given"):
        service.prune_backups(ADMIN, (), keep=Rules())
    with pytest.raises(errors.NotFound, match="No volume with a name or ID of 'nope'"):
        service.prune_backups(ADMIN, ["nope"], keep=Rules(last=1))
