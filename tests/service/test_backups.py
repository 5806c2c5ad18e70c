"""Cinder's backup rules through the service (docs/format.md, The catalogue around the format): each
with its exact message and the catalogue states afterwards, unchanged on refusal."""

import os

import pytest
import sqlalchemy as sa
from ember import errors
from ember.catalog import Backup
from ember.catalog.states import conditional_update
from ember.context import RequestContext
from ember.service import Ember
from ember.testing.faulty import FaultyDriver
from ember.testing.memory import CINDER_SERVICE as MEMORY_SERVICE, MemoryBackupDriver

ADMIN = RequestContext.default()


def _rows(service):
    with service.catalog.session() as s:
        return {r.id: (r.status, r.deleted) for r in s.scalars(sa.select(Backup))}


def test_first_backup_must_be_full(service, volume):
    with pytest.raises(errors.InvalidBackup) as info:
        service.create_backup(ADMIN, "vol", incremental=True)
    assert str(info.value) == "No backups available to do an incremental backup."
    assert _rows(service) == {}
    assert service.get_volume(ADMIN, "vol")["status"] == "available"


def test_full_then_incremental_chain_records_cinder_fields(service, volume, store, tools):
    full = service.create_backup(ADMIN, "vol", name="full", description="d",
                                 metadata={"k": "v"})
    assert (full["status"], full["is_incremental"], full["parent_id"]) == (
        "available", False, None)
    assert full["service"] == MEMORY_SERVICE
    assert full["container"] == "%s/%s/%s" % (full["id"][:2], full["id"][2:4], full["id"])
    assert full["service_metadata"].startswith("volume_%s_" % volume["id"])
    assert full["service_metadata"].endswith("_backup_" + full["id"])
    assert (full["size"], full["object_count"], full["metadata"]) == (1, 4, {"k": "v"})
    assert full["data_timestamp"] == full["created_at"]
    vol = service.get_volume(ADMIN, "vol")
    assert (vol["status"], vol["previous_status"]) == ("available", "backing-up")

    tools.write(volume["path"], 2 << 20, b"x" * 5000)
    inc = service.create_backup(ADMIN, "vol", name="inc", incremental=True)
    assert (inc["parent_id"], inc["is_incremental"], inc["object_count"]) == (
        full["id"], True, 1)
    parent = service.get_backup(ADMIN, "full")
    assert (parent["num_dependent_backups"], parent["has_dependent_backups"]) == (1, True)
    # the parent is the latest available backup: a second incremental chains on inc
    inc2 = service.create_backup(ADMIN, "vol", incremental=True)
    assert inc2["parent_id"] == inc["id"]
    # objects: data + _metadata + _sha256file per backup
    assert len(tools.objects(store, full["service_metadata"])) == 4 + 2


def test_in_use_volume_needs_force_and_is_read_from_a_temporary_snapshot(service, volume,
                                                                         conf, tools):
    service.attach_volume(ADMIN, "vol", instance="srv")
    with pytest.raises(errors.InvalidState) as info:
        service.create_backup(ADMIN, "vol")
    assert str(info.value) == "Backing up an in-use volume must use the force flag."
    assert _rows(service) == {}
    assert service.get_volume(ADMIN, "vol")["status"] == "in-use"

    backup = service.create_backup(ADMIN, "vol", force=True)
    assert backup["status"] == "available"
    assert service.get_volume(ADMIN, "vol")["status"] == "in-use"
    assert os.listdir(os.path.join(conf.state_path, "snapshots")) == []  # temp one removed
    service.detach_volume(ADMIN, "vol")
    restored = service.restore_backup(ADMIN, backup["id"])
    path = service.get_volume(ADMIN, restored["volume_id"])["path"]
    assert tools.sha(path) == tools.sha(volume["path"])


def test_snapshot_backup_has_the_snapshot_time_and_content(service, volume, tools):
    snap = service.create_snapshot(ADMIN, "vol", "s1")
    tools.write(volume["path"], 0, b"after the snapshot")
    backup = service.create_backup(ADMIN, "vol", snapshot="s1")
    assert (backup["snapshot_id"], backup["data_timestamp"]) == (snap["id"],
                                                                 snap["created_at"])
    assert service.get_snapshot(ADMIN, "s1")["status"] == "available"
    restored = service.restore_backup(ADMIN, backup["id"], name="from-s1")
    path = service.get_volume(ADMIN, restored["volume_id"])["path"]
    assert tools.sha(path) == tools.sha(snap["path"])
    # an incremental of a snapshot chains on the latest backup older than the snapshot
    later = service.create_backup(ADMIN, volume["id"])  # data_timestamp after s1
    service.create_snapshot(ADMIN, volume["id"], "s2")
    newest = service.create_backup(ADMIN, volume["id"])  # after s2: not a parent for s2
    inc = service.create_backup(ADMIN, volume["id"], snapshot="s2", incremental=True)
    assert inc["parent_id"] == later["id"] != newest["id"]


def test_failed_backup_is_error_with_reason_and_volume_back(conf, store, volume):
    conf.set_override("backup_create_containers", False)
    service = Ember(conf, driver=MemoryBackupDriver(conf, store=store))
    with pytest.raises(errors.ContainerNotFound) as info:
        service.create_backup(ADMIN, "vol", name="b")
    row = service.get_backup(ADMIN, "b")
    assert (row["status"], row["fail_reason"]) == ("error", str(info.value))
    vol = service.get_volume(ADMIN, "vol")
    assert (vol["status"], vol["previous_status"]) == ("available", "error_backing-up")
    service.delete_backup(ADMIN, "b")  # error backups can be deleted
    assert service.list_backups(ADMIN) == []


def test_delete_rules(service, volume, store, tools):
    full = service.create_backup(ADMIN, "vol", name="full")
    inc = service.create_backup(ADMIN, "vol", name="inc", incremental=True)
    with pytest.raises(errors.InvalidBackup) as info:
        service.delete_backup(ADMIN, "full")
    assert str(info.value) == "Incremental backups exist for this backup."
    assert _rows(service) == {full["id"]: ("available", False), inc["id"]: ("available", False)}

    # a creating backup whose process is gone: delete needs force, which then cleans up
    with service.catalog.session() as s:
        conditional_update(s, Backup, inc["id"], None, status="creating")
    with pytest.raises(errors.InvalidState) as info:
        service.delete_backup(ADMIN, "inc")
    assert str(info.value) == ('Backup %s status must be available or error, but the current '
                               'status is "creating".' % inc["id"])
    service.delete_backup(ADMIN, "inc", force=True)
    assert tools.objects(store, inc["service_metadata"]) == []
    assert service.get_backup(ADMIN, "full")["num_dependent_backups"] == 0
    service.delete_backup(ADMIN, "full")
    assert tools.objects(store) == []
    assert _rows(service) == {full["id"]: ("deleted", True), inc["id"]: ("deleted", True)}


def test_restore_into_a_new_volume_is_bit_exact_and_carries_metadata(service, tools):
    vol = service.create_volume(ADMIN, None, size="4M", metadata={"owner": "me"})
    tools.write(vol["path"], 1 << 20, os.urandom(300000))
    full = service.create_backup(ADMIN, vol["id"])
    tools.write(vol["path"], 3 << 20, os.urandom(4096))
    inc = service.create_backup(ADMIN, vol["id"], incremental=True)

    result = service.restore_backup(ADMIN, inc["id"])
    assert result["volume_name"] == "restore_backup_%s" % inc["id"]
    new = service.get_volume(ADMIN, result["volume_id"])
    assert (new["status"], new["size_bytes"], new["description"]) == (
        "available", 4 << 20, "auto-created_from_restore_from_backup")
    assert new["metadata"] == {"owner": "me", "src_backup_id": inc["id"]}
    assert tools.sha(new["path"]) == tools.sha(vol["path"])
    back = service.get_backup(ADMIN, inc["id"])
    assert (back["status"], back["restore_volume_id"]) == ("available", new["id"])
    # the full alone restores the first point
    older = service.restore_backup(ADMIN, full["id"], name="older")
    assert older["volume_name"] == "older"


def test_restore_carries_the_name_only_onto_unnamed_targets(service, volume):
    backup = service.create_backup(ADMIN, "vol")
    result = service.restore_backup(ADMIN, backup["id"])
    assert result["volume_name"] == "vol"  # restore_backup_<id> takes the source's name
    target = service.create_volume(ADMIN, "keep", size="4M")
    result = service.restore_backup(ADMIN, backup["id"], "keep", force=True)
    assert (result["volume_id"], result["volume_name"]) == (target["id"], "keep")


def test_restore_refusals_change_nothing(service, volume):
    backup = service.create_backup(ADMIN, "vol")
    small = service.create_volume(ADMIN, "small", size="2M")
    with pytest.raises(errors.InvalidInput) as info:
        service.restore_backup(ADMIN, backup["id"], "small")
    assert str(info.value) == ("volume small (%s) has 2097152 bytes, too few to restore "
                               "backup of 4194304 bytes." % small["id"])
    service.attach_volume(ADMIN, "small")
    with pytest.raises(errors.InvalidState) as info:
        service.restore_backup(ADMIN, backup["id"], "small")
    assert str(info.value) == ('Volume %s to restore into must be available, but the current '
                               'status is "in-use".' % small["id"])
    service.reset_backup_status(ADMIN, backup["id"], "error")
    with pytest.raises(errors.InvalidState) as info:
        service.restore_backup(ADMIN, backup["id"])
    assert str(info.value) == ('Backup %s status must be available to restore it, but the '
                               'current status is "error".' % backup["id"])
    assert len(service.list_volumes(ADMIN)) == 2
    assert service.get_backup(ADMIN, backup["id"])["restore_volume_id"] is None


def test_restore_checks_size_in_gib_like_cinder(service, volume):
    backup = service.create_backup(ADMIN, "vol")
    with service.catalog.session() as s:  # as if the source had been 2 GiB
        conditional_update(s, Backup, backup["id"], None, size=2)
    target = service.create_volume(ADMIN, "t", size="8M")
    with pytest.raises(errors.InvalidInput) as info:
        service.restore_backup(ADMIN, backup["id"], "t")
    assert str(info.value) == "volume size 1 is too small to restore backup of size 2."
    assert service.get_volume(ADMIN, target["id"])["status"] == "available"


def test_backup_chain_is_oldest_first_and_refuses_a_backup_being_written(service, volume,
                                                                         tools):
    full = service.create_backup(ADMIN, "vol")
    tools.write(volume["path"], 0, b"y" * 4096)
    inc = service.create_backup(ADMIN, "vol", name="inc", incremental=True)
    chain = service.backup_chain(ADMIN, "inc")
    assert [(m.backup_id, m.container, m.prefix) for m in chain] == [
        (b["id"], b["container"], b["service_metadata"]) for b in (full, inc)]

    with service.catalog.session() as session:
        assert conditional_update(session, Backup, inc["id"], ["available"], status="creating")
    with pytest.raises(errors.InvalidState) as info:
        service.backup_chain(ADMIN, inc["id"], purpose="verify")
    assert str(info.value) == ('Backup %s is being written; verify it once it is available '
                               '(its status is "creating").' % inc["id"])


def test_reset_state(service, volume):
    backup = service.create_backup(ADMIN, "vol")
    with pytest.raises(errors.InvalidInput) as info:
        service.reset_backup_status(ADMIN, backup["id"], "creating")
    assert str(info.value) == ("Invalid backup status 'creating': reset-state takes available "
                               "or error.")
    assert service.reset_backup_status(ADMIN, backup["id"], "ERROR")["status"] == "error"
    assert service.reset_backup_status(ADMIN, backup["id"], "available")["status"] == \
        "available"


@pytest.mark.parametrize("reset_to", ["error", "available"])
def test_a_status_reset_cancels_a_running_backup(service, volume, store, tools, reset_to):
    started = []

    def progress(done, total):
        if not started:
            started.append(service.list_backups(ADMIN)[0]["id"])
            service.reset_backup_status(ADMIN, started[0], reset_to)

    with pytest.raises(errors.BackupCancelled) as info:
        service.create_backup(ADMIN, "vol", progress=progress)
    backup_id = started[0]
    assert str(info.value) == ("Backup %s was cancelled: its status was changed to %s while it "
                               "ran; its objects were removed." % (backup_id, reset_to))
    row = service.get_backup(ADMIN, backup_id)
    # whatever it was reset to, a backup missing objects ends error
    assert (row["status"], row["fail_reason"]) == (
        "error", "Cancelled by a reset to %s while running; its objects were removed."
        % reset_to)
    assert tools.objects(store) == []
    assert service.get_volume(ADMIN, "vol")["status"] == "available"


def test_reset_during_restore_cancels_it(conf, store, volume):
    service = Ember(conf, driver=MemoryBackupDriver(conf, store=store))
    backup = service.create_backup(ADMIN, "vol")
    target = service.create_volume(ADMIN, "target", size="4M")
    # a slow repository (a latency fault: memory is too fast to cancel anything midway)
    slow = FaultyDriver(MemoryBackupDriver(conf, store=store))
    slow.delay("get_object", seconds=0.3, times=None)
    slow.delay("open_reader", seconds=0.3, times=None)
    service = Ember(conf, catalog=service.catalog, driver=slow)

    def progress(done, total):
        if service.get_backup(ADMIN, backup["id"])["status"] == "restoring":
            service.reset_backup_status(ADMIN, backup["id"], "error")

    with pytest.raises(errors.RestoreCancelled) as info:
        service.restore_backup(ADMIN, backup["id"], "target", progress=progress)
    assert str(info.value) == ("Restore of backup %s into volume %s was cancelled; the volume "
                               "is now in error." % (backup["id"], target["id"]))
    assert service.get_volume(ADMIN, "target")["status"] == "error"
    assert service.get_backup(ADMIN, backup["id"])["status"] == "available"


def test_update_backup_properties(service, volume):
    service.create_backup(ADMIN, "vol", name="b", metadata={"a": "1", "b": "2"})
    row = service.update_backup(ADMIN, "b", name="renamed", description="new",
                                properties={"c": "3"}, remove_properties=("a",))
    assert (row["name"], row["description"], row["metadata"]) == (
        "renamed", "new", {"b": "2", "c": "3"})
    row = service.update_backup(ADMIN, "renamed", no_property=True, properties={"z": "9"})
    assert row["metadata"] == {"z": "9"}


def test_list_filters_sorts_and_pages(service, volume):
    ids = [service.create_backup(ADMIN, "vol", name="b%d" % i)["id"] for i in range(4)]
    assert [b["id"] for b in service.list_backups(ADMIN)] == ids[::-1]
    assert [b["id"] for b in service.list_backups(ADMIN, sort="created_at:asc")] == ids
    assert [b["id"] for b in service.list_backups(ADMIN, marker=ids[3], limit=2)] == [
        ids[2], ids[1]]
    assert [b["id"] for b in service.list_backups(ADMIN, name="b2")] == [ids[2]]
    assert [b["id"] for b in service.list_backups(ADMIN, volume="vol", status="error")] == []
    with pytest.raises(errors.InvalidInput) as info:
        service.list_backups(ADMIN, sort="colour")
    assert str(info.value).startswith("Invalid sort 'colour': use key[:asc|desc]")


def test_encryption_key_id_is_carried_through_backup_and_restore(service, tools):
    key = "4c1bf0a6-3a3a-4d0e-9a55-1f1a2b3c4d5e"
    vol = service.create_volume(ADMIN, "secret", size="2M", encryption_key_id=key)
    tools.write(vol["path"], 0, b"ciphertext, as far as Ember knows")
    backup = service.create_backup(ADMIN, "secret")
    assert backup["encryption_key_id"] == key
    result = service.restore_backup(ADMIN, backup["id"])
    assert service.get_volume(ADMIN, result["volume_id"])["encryption_key_id"] == key


def test_volume_metadata_version_1_does_not_carry_the_key(conf, store, tools):
    conf.set_override("backup_metadata_version", 1)
    service = Ember(conf, driver=MemoryBackupDriver(conf, store=store))
    service.create_volume(ADMIN, "secret", size="2M", encryption_key_id="k-1")
    backup = service.create_backup(ADMIN, "secret")
    result = service.restore_backup(ADMIN, backup["id"])
    restored = service.get_volume(ADMIN, result["volume_id"])
    assert (restored["encryption_key_id"], restored["name"]) == (None, "secret")


def test_a_restore_that_does_not_match_the_sha256_list_leaves_the_target_in_error(
        conf, service, volume, store, tools):
    """An object replaced by other bytes with a matching md5: the image check finds it,
    the new volume ends ``error`` (it was written, and is wrong), the backup available."""
    import hashlib
    import json

    from ember.engine import compression
    backup = service.create_backup(ADMIN, "vol")
    driver = MemoryBackupDriver(conf, store=store)
    (container, name), = [o for o in tools.objects(store) if o[1].endswith("-00001")]
    data = os.urandom(1 << 20)
    driver.put_object(container, name, compression.compress("zlib", data))
    md_name = name[:-len("-00001")] + "_metadata"
    doc = json.loads(driver.get_object(container, md_name))
    doc["objects"][0][name].update(md5=hashlib.md5(data).hexdigest(), compression="zlib")
    driver.put_object(container, md_name, json.dumps(doc, sort_keys=True, indent=2).encode())
    with pytest.raises(errors.RestoreMismatch) as info:
        service.restore_backup(ADMIN, backup["id"], name="wrong")
    assert str(info.value) == (
        "backup %s: restored blocks 0-255 (bytes 0-1048576) do not match its _sha256file; "
        "they were written from object %s of backup %s; the backup or the target is damaged"
        % (backup["id"], name, backup["id"]))
    target, = [v for v in service.list_volumes(ADMIN) if v["name"] == "wrong"]
    assert target["status"] == "error"
    assert service.get_backup(ADMIN, backup["id"])["status"] == "available"
