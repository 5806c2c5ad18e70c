"""Start-up repair decisions, on rows set up directly in a SQLite catalogue: who counts
as a gone owner (dead pid, zombie, reused pid, stale heartbeat from another host) and
what happens to volumes and snapshots left busy with nothing running on them.

Owners here are real processes of this machine (``sleep``), not mocks; only the rows
are written by hand, because a pid being reused cannot be caused on demand."""

import datetime
import os
import subprocess
import time
import uuid

import pytest
import sqlalchemy as sa
from ember.catalog.models import Backup, Snapshot, Volume, utcnow
from ember.context import RequestContext
from ember.service import Ember
from ember.testing.config import make_conf
from ember.testing.services import PATIENCE

ADMIN = RequestContext.default()
FAIL_REASON = "incomplete backup reset: the process running it is gone"


@pytest.fixture
def conf(tmp_path):
    return make_conf(state_path=str(tmp_path / "state"), backup_driver="memory",
                     backup_file_size=1 << 20, backup_sha_block_size_bytes=4096)


@pytest.fixture
def service(conf):
    return Ember(conf)


@pytest.fixture
def sleeper():
    """A live process of this host, started now."""
    proc = subprocess.Popen(["sleep", "60"])  # started (forked) once Popen returns
    yield proc
    proc.kill()
    proc.wait()


def _volume(service, status, previous=None) -> str:
    volume_id = service.create_volume(ADMIN, "v-" + uuid.uuid4().hex[:6], size="1M")["id"]
    _set(service, Volume, volume_id, status=status, previous_status=previous)
    return volume_id


def _backup(service, volume_id, status, *, pid=None, host=None, beat=None, **values) -> str:
    backup_id = str(uuid.uuid4())
    with service.catalog.session() as session:
        session.add(Backup(id=backup_id, volume_id=volume_id, status=status, size=1,
                           project_id=ADMIN.project_id, owner_pid=pid,
                           owner_host=host or service.conf.host,
                           heartbeat_at=beat or utcnow(), **values))
    return backup_id


def _set(service, model, row_id, **values):
    with service.catalog.session() as session:
        session.execute(sa.update(model).where(model.id == row_id).values(**values))


def _get(conf, model, row_id):
    with Ember(conf, repair=False).catalog.session() as session:
        return session.get(model, row_id)


def _repair(conf) -> list:
    return Ember(conf, repair=False).repair()


# --- who is gone ----------------------------------------------------------------------
def test_a_live_owner_is_never_touched(conf, service, sleeper):
    volume = _volume(service, "backing-up", "available")
    backup = _backup(service, volume, "creating", pid=sleeper.pid)
    assert _repair(conf) == []
    assert _get(conf, Backup, backup).status == "creating"
    assert _get(conf, Volume, volume).status == "backing-up"


def test_a_dead_owner_is_repaired_and_its_volume_released(conf, service):
    proc = subprocess.Popen(["true"])
    proc.wait()  # its pid is now free
    volume = _volume(service, "backing-up", "in-use")
    backup = _backup(service, volume, "creating", pid=proc.pid)
    assert _repair(conf) == [backup]
    row = _get(conf, Backup, backup)
    assert (row.status, row.fail_reason, row.owner_pid) == ("error", FAIL_REASON, None)
    vol = _get(conf, Volume, volume)
    assert (vol.status, vol.previous_status) == ("in-use", "error_backing-up")


def test_a_zombie_owner_is_gone(conf, service):
    proc = subprocess.Popen(["true"])  # exits at once; not reaped until wait()
    deadline = time.monotonic() + PATIENCE
    while True:
        with open("/proc/%d/stat" % proc.pid) as f:
            if f.read().rpartition(")")[2].split()[0] == "Z":
                break
        assert time.monotonic() < deadline, "true never exited"
        time.sleep(0.02)
    try:
        os.kill(proc.pid, 0)  # the pid still answers: only its state tells
        volume = _volume(service, "backing-up", "available")
        backup = _backup(service, volume, "creating", pid=proc.pid)
        assert _repair(conf) == [backup]
    finally:
        proc.wait()


def test_a_reused_pid_is_not_the_owner(conf, service, sleeper):
    """The row's last heartbeat is older than the process now holding the pid."""
    volume = _volume(service, "backing-up", "available")
    old = utcnow() - datetime.timedelta(seconds=30)
    backup = _backup(service, volume, "creating", pid=sleeper.pid, beat=old)
    assert _repair(conf) == [backup]
    assert _get(conf, Backup, backup).status == "error"
    assert _get(conf, Volume, volume).status == "available"


def test_a_heartbeat_after_the_process_started_means_alive(conf, service, sleeper):
    volume = _volume(service, "backing-up", "available")
    # the beat is taken after the process exists: no wait needed (START_SLACK covers
    # /proc's whole-second boot time)
    backup = _backup(service, volume, "creating", pid=sleeper.pid, beat=utcnow())
    assert _repair(conf) == []
    assert _get(conf, Backup, backup).status == "creating"


def test_another_hosts_owner_counts_by_heartbeat(conf, service):
    volume = _volume(service, "restoring-backup")
    source = _volume(service, "available")
    fresh = _backup(service, source, "restoring", pid=1, host="elsewhere",
                    restore_volume_id=volume)
    assert _repair(conf) == []
    _set(service, Backup, fresh, heartbeat_at=utcnow() - datetime.timedelta(minutes=5))
    assert _repair(conf) == [fresh]
    assert _get(conf, Backup, fresh).status == "available"
    assert _get(conf, Volume, volume).status == "error_restoring"


# --- volumes and snapshots nothing uses ---------------------------------------------------
def test_a_volume_left_backing_up_gets_its_previous_status(conf, service):
    volume = _volume(service, "backing-up", "in-use")
    _backup(service, volume, "error")  # e.g. reset by hand before any repair ran
    assert _repair(conf) == [volume]
    vol = _get(conf, Volume, volume)
    assert (vol.status, vol.previous_status) == ("in-use", "error_backing-up")


def test_a_volume_left_restoring_is_marked_error_restoring(conf, service):
    volume = _volume(service, "restoring-backup")
    _backup(service, _volume(service, "available"), "available", restore_volume_id=volume)
    assert _repair(conf) == [volume]
    assert _get(conf, Volume, volume).status == "error_restoring"


def test_a_snapshot_left_backing_up_is_available_again(conf, service):
    volume = _volume(service, "available")
    snap = service.create_snapshot(ADMIN, volume, "s")["id"]
    _set(service, Snapshot, snap, status="backing-up")
    assert _repair(conf) == [snap]
    assert _get(conf, Snapshot, snap).status == "available"


def test_sources_of_running_operations_are_kept(conf, service, sleeper):
    backing = _volume(service, "backing-up", "available")
    _backup(service, backing, "creating", pid=sleeper.pid)
    target = _volume(service, "restoring-backup")
    _backup(service, _volume(service, "available"), "restoring", pid=sleeper.pid,
            restore_volume_id=target)
    snap_vol = _volume(service, "available")
    snap = service.create_snapshot(ADMIN, snap_vol, "s")["id"]
    _set(service, Snapshot, snap, status="backing-up")
    _backup(service, snap_vol, "creating", pid=sleeper.pid, snapshot_id=snap)
    assert _repair(conf) == []
    assert [_get(conf, Volume, backing).status, _get(conf, Volume, target).status,
            _get(conf, Snapshot, snap).status] == ["backing-up", "restoring-backup",
                                                   "backing-up"]


def test_any_service_start_repairs(conf, service):
    volume = _volume(service, "backing-up", "available")
    Ember(conf)  # what every ember command builds first
    assert _get(conf, Volume, volume).status == "available"
