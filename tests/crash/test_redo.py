"""Work of a dead process started again (issue 18, ``backup_retry_dead_work``): the
repair decisions, on rows set up directly in a SQLite catalogue with a dead owner (a real
process of this machine that has exited) and objects of its attempt in the repository.

The hand-over to the workers is the one seam replaced: ``redo_dead_work`` records what
it is given (``tests/workers`` runs the real thing, workers SIGKILLed mid-way)."""

import subprocess
import uuid

import pytest
import sqlalchemy as sa
from ember.catalog.models import Backup, Service, Volume, utcnow
from ember.context import RequestContext
from ember.service import Ember
from ember.testing.config import make_conf
from ember.testing.memory import SHARED_STORE
from ember.workers import rpc

ADMIN = RequestContext.default()
RABBIT = "rabbit://guest:guest@127.0.0.1:5672/"  # workers exist; nothing connects here


@pytest.fixture
def conf(tmp_path):
    conf = make_conf(state_path=str(tmp_path / "state"), backup_driver="memory",
                     backup_file_size=1 << 20, backup_sha_block_size_bytes=4096)
    assert not rpc.transport_configured(conf)  # which registers transport_url
    conf.set_override("transport_url", RABBIT)
    return conf


@pytest.fixture
def dead_pid():
    proc = subprocess.Popen(["true"])
    proc.wait()  # its pid is now free
    return proc.pid


def _service(conf, redo=None):
    service = Ember(conf, repair=False)
    service.redo_dead_work = None if redo is None else (
        lambda ctx, operation, ids: redo.append((operation, ids)))
    return service


def _dead_backup(conf, pid, status, fail_reason=None, restore_to=None):
    """A volume, and its backup row owned by ``pid`` with one object written."""
    service = _service(conf)
    volume = service.create_volume(ADMIN, "v-" + uuid.uuid4().hex[:6], size="1M")["id"]
    backup_id, container = str(uuid.uuid4()), "c-" + uuid.uuid4().hex[:8]
    prefix = "volume_%s_20260101000000_backup_%s" % (volume, backup_id)
    service.driver.ensure_container(container)
    service.driver.put_object(container, prefix + "-00001", b"written by the dead attempt")
    with service.catalog.session() as session:
        session.add(Backup(id=backup_id, volume_id=volume, status=status, size=1,
                           project_id=ADMIN.project_id, owner_pid=pid,
                           owner_host=conf.host, heartbeat_at=utcnow(), container=container,
                           service_metadata=prefix, fail_reason=fail_reason,
                           restore_volume_id=restore_to))
        session.execute(sa.update(Volume).where(Volume.id == (restore_to or volume)).values(
            status="restoring-backup" if restore_to else "backing-up",
            previous_status="available"))
    return backup_id, volume, container, prefix


def _row(conf, model, row_id):
    with _service(conf).catalog.session() as session:
        return session.get(model, row_id)


def test_a_dead_backup_is_started_again_without_its_objects(conf, dead_pid):
    backup, volume, container, prefix = _dead_backup(conf, dead_pid, "creating")
    redo = []
    assert _service(conf, redo).repair() == [backup]
    assert redo == [("create", {"backup_id": backup})]
    row = _row(conf, Backup, backup)
    assert (row.status, row.service_metadata, row.owner_host) == ("creating", None, conf.host)
    assert row.fail_reason == ("attempt 1 died unfinished with its process %s/%d; started "
                               "again" % (conf.host, dead_pid))
    assert SHARED_STORE.containers[container] == {}, "an object of the dead attempt survived"
    assert _row(conf, Volume, volume).status == "backing-up"  # still the backup's source


def test_a_dead_restore_is_started_again_onto_its_target(conf, dead_pid):
    target = _service(conf).create_volume(ADMIN, "target", size="1M")["id"]
    backup, _, container, prefix = _dead_backup(conf, dead_pid, "restoring",
                                                restore_to=target)
    redo = []
    assert _service(conf, redo).repair() == [backup]
    assert redo == [("restore", {"backup_id": backup, "target_is_new": False})]
    assert _row(conf, Backup, backup).status == "restoring"
    assert _row(conf, Volume, target).status == "restoring-backup"
    assert list(SHARED_STORE.containers[container]) == [prefix + "-00001"]  # its data kept


def test_the_last_attempt_ends_in_error_with_its_history(conf, dead_pid):
    earlier = "attempt 2 died unfinished with its process w1/7; started again"
    backup, volume, container, _ = _dead_backup(conf, dead_pid, "creating",
                                                fail_reason=earlier)
    redo = []
    assert _service(conf, redo).repair() == [backup]  # 3 attempts in all by default
    assert redo == []
    row = _row(conf, Backup, backup)
    assert (row.status, row.fail_reason) == (
        "error", earlier + "; incomplete backup reset: the process running it is gone")
    assert _row(conf, Volume, volume).status == "available"


def test_with_retries_off_a_dead_backup_ends_in_error(conf, dead_pid):
    conf.set_override("backup_retry_dead_work", False)
    backup, _, _, _ = _dead_backup(conf, dead_pid, "creating")
    redo = []
    assert _service(conf, redo).repair() == [backup]
    assert redo == []
    assert _row(conf, Backup, backup).fail_reason == (
        "incomplete backup reset: the process running it is gone")


def test_a_process_without_workers_to_hand_to_leaves_it_to_a_live_worker(conf, dead_pid):
    backup, _, _, _ = _dead_backup(conf, dead_pid, "creating")
    service = _service(conf)  # a CLI or the API: no redo_dead_work
    service.register_service()
    with service.catalog.session() as session:  # as an ember-backup worker's row
        session.execute(sa.update(Service).values(binary="cinder-backup", host="w1"))
    assert service.repair() == []
    assert _row(conf, Backup, backup).status == "creating"
    with service.catalog.session() as session:  # no live worker any more
        session.execute(sa.update(Service).values(updated_at=utcnow().replace(year=2000)))
    assert service.repair() == [backup]
    assert _row(conf, Backup, backup).status == "error"


def test_an_attempt_taken_for_dead_records_nothing_and_removes_its_objects(conf, tmp_path):
    """A worker cut off long enough to be taken for dead runs on meanwhile: once its
    backup was started again elsewhere, its final write finds another attempt recorded,
    changes nothing and removes its own objects (never recorded twice). Being taken for
    dead while alive needs a network partition, so the other worker's claim is written
    here by hand, mid-run, exactly as ``Recovery._redo`` writes it."""
    from ember import errors
    from ember.testing.memory import MemoryBackupDriver, MemoryStore

    store = MemoryStore()
    service = Ember(conf, driver=MemoryBackupDriver(conf, store=store), repair=False)
    image = tmp_path / "vol.img"
    image.write_bytes(bytes(range(256)) * 16384)  # 4 MiB: several objects
    volume = service.create_volume(ADMIN, "v", path=str(image))["id"]
    backup = service.begin_create_backup(ADMIN, volume)["id"]
    taken = []

    def taken_over_midway(done, total):
        if not taken and done:
            taken.append(done)
            with service.catalog.session() as session:
                session.execute(sa.update(Backup).where(Backup.id == backup).values(
                    owner_host="other", owner_pid=1, service_metadata=None))

    with pytest.raises(errors.BackupCancelled) as exc:
        service.run_create_backup(ADMIN, backup, progress=taken_over_midway)
    assert str(exc.value) == (
        "Backup %s was started again by another worker while this attempt ran (its "
        "process was taken for dead); this attempt's objects were removed." % backup)
    row = _row(conf, Backup, backup)
    assert (row.status, row.owner_host, row.service_metadata) == ("creating", "other", None)
    assert [n for names in store.containers.values() for n in names] == []


def test_work_started_again_that_no_worker_can_run_ends_with_its_history(conf, dead_pid):
    backup, volume, _, _ = _dead_backup(conf, dead_pid, "creating")
    service = _service(conf, [])
    assert service.repair() == [backup]
    # what the dispatcher does once no worker could run it for service_down_time
    assert service.abandon(backup, "No backup service was up to run it for 60 seconds.")
    row = _row(conf, Backup, backup)
    assert (row.status, row.fail_reason) == (
        "error", "attempt 1 died unfinished with its process %s/%d; started again; No "
        "backup service was up to run it for 60 seconds." % (conf.host, dead_pid))
    assert _row(conf, Volume, volume).status == "available"
