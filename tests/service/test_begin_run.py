"""Create, restore and delete in two steps: ``begin_*`` claims the rows and returns at
once; ``run_*``, given only the id, reads the rest back from the catalogue (here in
another thread, through another ``Ember`` on the same catalogue and repository) and
refuses, changing nothing, when the row is not waiting for the calling process."""

import os
import threading

import pytest
import sqlalchemy as sa
from ember import errors
from ember.catalog import Backup
from ember.context import RequestContext
from ember.service import Ember
from ember.testing.memory import MemoryBackupDriver, ReadRecordingDriver

ADMIN = RequestContext.default()


@pytest.fixture
def other(conf, store):
    """A second service on the same catalogue and repository (a worker)."""
    return Ember(conf, driver=MemoryBackupDriver(conf, store=store))


def in_thread(fn, *args, **kwargs):
    result = {}

    def target():
        try:
            result["value"] = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - handed back to the test
            result["error"] = exc
    worker = threading.Thread(target=target)
    worker.start()
    worker.join(60)
    if "error" in result:
        raise result["error"]
    return result.get("value")


def _owner(service, backup_id):
    with service.catalog.session() as s:
        return s.get(Backup, backup_id).owner_pid


def test_begin_backup_claims_and_returns_before_any_object(service, other, volume, store,
                                                           tools):
    begun = service.begin_create_backup(ADMIN, "vol", name="b1")
    assert (begun["status"], begun["name"]) == ("creating", "b1")
    assert service.get_volume(ADMIN, "vol")["status"] == "backing-up"
    assert tools.objects(store) == []
    assert _owner(service, begun["id"]) == os.getpid()  # the beginner owns the claim

    done = in_thread(other.run_create_backup, ADMIN, begun["id"])
    assert (done["id"], done["status"], done["object_count"]) == (begun["id"], "available", 4)
    vol = service.get_volume(ADMIN, "vol")
    assert (vol["status"], vol["previous_status"]) == ("available", "backing-up")
    assert _owner(service, begun["id"]) is None


def test_a_second_run_refuses_and_changes_nothing(service, volume):
    begun = service.begin_create_backup(ADMIN, "vol")
    service.run_create_backup(ADMIN, begun["id"])
    before = service.get_backup(ADMIN, begun["id"])
    with pytest.raises(errors.InvalidState) as info:
        service.run_create_backup(ADMIN, begun["id"])
    assert str(info.value) == (
        'Backup %s is not waiting for this process to run it (its status is "available"); '
        'nothing was done.' % begun["id"])
    assert service.get_backup(ADMIN, begun["id"]) == before


def test_force_delete_of_a_begun_backup_deletes_it_at_once_and_its_run_refuses(service,
                                                                              volume, store,
                                                                              tools):
    begun = service.begin_create_backup(ADMIN, "vol")
    service.delete_backup(ADMIN, begun["id"], force=True)  # no wait: nothing runs it
    with service.catalog.session() as s:
        assert s.scalar(sa.select(Backup.status).where(Backup.id == begun["id"])) == "deleted"
    assert service.get_volume(ADMIN, "vol")["status"] == "available"
    with pytest.raises(errors.InvalidState, match='its status is "deleted"'):
        service.run(ADMIN, "create", {"backup_id": begun["id"]})
    assert tools.objects(store) == []


def test_begin_restore_makes_the_target_and_run_restores_it(service, other, volume, tools):
    backup = service.create_backup(ADMIN, "vol")
    begun = service.begin_restore_backup(ADMIN, backup["id"], name="copy")
    assert begun["volume_name"] == "copy"
    assert service.get_backup(ADMIN, backup["id"])["status"] == "restoring"
    assert service.get_volume(ADMIN, "copy")["status"] == "restoring-backup"

    done = in_thread(other.run, ADMIN, "restore", begun)
    assert done == {k: begun[k] for k in ("backup_id", "volume_id", "volume_name")}
    target = service.get_volume(ADMIN, "copy")
    assert target["status"] == "available"
    assert tools.sha(target["path"]) == tools.sha(volume["path"])
    assert service.get_backup(ADMIN, backup["id"])["status"] == "available"
    with pytest.raises(errors.InvalidState, match='its status is "available"'):
        service.run(ADMIN, "restore", begun)


def test_an_in_process_restore_reads_the_documents_once_a_handed_off_one_twice(
        conf, store, service, volume, tools):
    backup = service.create_backup(ADMIN, "vol")
    reading = Ember(conf, driver=ReadRecordingDriver(conf, store=store))

    def metadata_reads():
        return sum(name.endswith("_metadata") for name in reading.driver.opened)

    reading.restore_backup(ADMIN, backup["id"], name="here")
    assert metadata_reads() == 1  # the begin step's plan runs the restore

    begun = reading.begin_restore_backup(ADMIN, backup["id"], name="elsewhere")
    reading.run(ADMIN, "restore", begun)  # as a worker on another host would
    assert metadata_reads() == 1 + 2
    for name in ("here", "elsewhere"):
        assert tools.sha(service.get_volume(ADMIN, name)["path"]) == tools.sha(volume["path"])


def test_restore_onto_an_existing_volume_writes_its_zeros(service, volume, tools):
    backup = service.create_backup(ADMIN, "vol")
    target = service.create_volume(ADMIN, "dirty", size="4M")
    tools.write(target["path"], 3 << 20, b"\xff" * 4096)  # where the backup has zeros
    begun = service.begin_restore_backup(ADMIN, backup["id"], "dirty")
    service.run(ADMIN, "restore", begun)
    assert tools.sha(target["path"]) == tools.sha(volume["path"])


def test_begin_delete_then_run_delete_elsewhere(service, other, volume, store, tools):
    backup = service.create_backup(ADMIN, "vol")
    begun = service.begin_delete_backup(ADMIN, backup["id"])
    assert begun == {"backup_id": backup["id"], "was": "available", "running": False}
    assert service.get_backup(ADMIN, backup["id"])["status"] == "deleting"
    assert tools.objects(store) != []
    in_thread(other.run, ADMIN, "delete", begun)
    assert tools.objects(store) == []
    with service.catalog.session() as s:
        assert s.scalar(sa.select(Backup.deleted).where(Backup.id == backup["id"]))
    service.run(ADMIN, "delete", begun)  # already deleted: nothing to do


def test_run_delete_refuses_a_backup_not_being_deleted(service, volume):
    backup = service.create_backup(ADMIN, "vol")
    with pytest.raises(errors.InvalidState, match='its status is "available"'):
        service.run(ADMIN, "delete", {"backup_id": backup["id"]})
    assert service.get_backup(ADMIN, backup["id"])["status"] == "available"


def test_a_begun_backup_survives_repair_while_its_beginner_lives(service, volume):
    begun = service.begin_create_backup(ADMIN, "vol")
    assert service.repair() == []
    assert service.get_backup(ADMIN, begun["id"])["status"] == "creating"


def test_run_needs_the_claim_and_take_over_hands_it_on(service, conf, volume):
    begun = service.begin_create_backup(ADMIN, "vol")
    with service.catalog.session() as s:  # as if another live process had begun it
        s.get(Backup, begun["id"]).owner_pid = 1
    with pytest.raises(errors.InvalidState, match="not waiting for this process"):
        service.run(ADMIN, "create", {"backup_id": begun["id"]})
    assert service.get_backup(ADMIN, begun["id"])["status"] == "creating"
    assert service.take_over(begun["id"], conf.host, 1) == "taken"
    done = service.run(ADMIN, "create", {"backup_id": begun["id"]})
    assert done["status"] == "available"


def test_a_second_begin_on_a_claimed_source_is_refused(service, volume):
    service.begin_create_backup(ADMIN, "vol")
    with pytest.raises(errors.InvalidState, match="backing-up"):
        service.begin_create_backup(ADMIN, "vol")


class _Recording:
    """A dispatcher that keeps what it was handed, then runs it in the calling thread
    (``InlineDispatcher``), as a scheduler's dispatcher would run it elsewhere."""

    def __init__(self, service):
        from ember.service.dispatch import InlineDispatcher

        self.inline, self.handed = InlineDispatcher(service), []

    def dispatch(self, ctx, operation, ids):
        self.handed.append((operation, dict(ids)))
        self.inline.dispatch(ctx, operation, ids)

    def shutdown(self, wait=True):
        pass


def test_one_submit_call_begins_and_hands_off_each_operation(service, volume, store, tools):
    dispatcher = _Recording(service)
    backup = service.submit_create_backup(ADMIN, "vol", dispatcher=dispatcher, name="b1")
    assert backup["status"] == "creating"  # as begun; the dispatcher ran it since
    assert service.get_backup(ADMIN, backup["id"])["status"] == "available"

    restored = service.submit_restore(ADMIN, backup["id"], dispatcher=dispatcher,
                                      name="copy")
    assert service.get_volume(ADMIN, restored["volume_id"])["status"] == "available"

    service.submit_delete(ADMIN, backup["id"], dispatcher=dispatcher)
    with pytest.raises(errors.NotFound):
        service.get_backup(ADMIN, backup["id"])
    assert tools.objects(store) == []
    assert [op for op, _ in dispatcher.handed] == ["create", "restore", "delete"]
    assert dispatcher.handed[0][1] == {"backup_id": backup["id"]}


def test_a_refused_submit_hands_nothing_off(service, volume):
    dispatcher = _Recording(service)
    with pytest.raises(errors.NotFound):
        service.submit_create_backup(ADMIN, "no-such-volume", dispatcher=dispatcher)
    with pytest.raises(errors.NotFound):
        service.submit_delete(ADMIN, "no-such-backup", dispatcher=dispatcher)
    assert dispatcher.handed == []
