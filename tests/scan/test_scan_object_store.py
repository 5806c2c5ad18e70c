"""Scan through the Python API on an object-store layout: one shared container, object
store prefixes (``volume_<vol>/<ts>/az_<az>_backup_<id>``), as swift and gcs write them.
The repository is the in-memory driver with the object-store prefix style and a fixed
default container, standing in for a bucket (swift and gcs have their own suites)."""

import dataclasses
import hashlib
import os

import pytest
from ember.context import RequestContext
from ember.layout import OBJECT_STORE_PREFIX
from ember.service import Ember
from ember.testing.config import make_conf
from ember.testing.memory import MemoryBackupDriver, MemoryStore

ADMIN = RequestContext.default()
BUCKET = "backups"


class BucketDriver(MemoryBackupDriver):
    @classmethod
    def layout(cls, conf):
        return dataclasses.replace(MemoryBackupDriver.layout(conf),
                                   prefix_style=OBJECT_STORE_PREFIX, container=BUCKET,
                                   availability_zone=conf.storage_availability_zone)


def _sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture
def store():
    return MemoryStore()


def _service(tmp_path, store, name):
    conf = make_conf(state_path=str(tmp_path / name), backup_driver="memory",
                     backup_file_size=1 << 20, backup_sha_block_size_bytes=4096)
    return Ember(conf, driver=BucketDriver(conf, store=store))


def test_a_bucket_is_scanned_into_a_new_catalogue(tmp_path, store):
    old = _service(tmp_path, store, "old")
    vol = old.create_volume(ADMIN, "v", size="2M")
    with open(vol["path"], "r+b") as f:
        f.write(os.urandom(2 << 20))
    full = old.create_backup(ADMIN, "v", name="full")
    shas = {full["id"]: _sha(vol["path"])}
    with open(vol["path"], "r+b") as f:
        f.seek(3 * 4096)
        f.write(os.urandom(4096))
    inc = old.create_backup(ADMIN, "v", name="inc", incremental=True)
    shas[inc["id"]] = _sha(vol["path"])
    assert "/az_nova_backup_" in inc["service_metadata"] and inc["container"] == BUCKET

    new = _service(tmp_path, store, "new")  # another catalogue, same bucket
    assert [(r["id"], r["action"]) for r in new.scan_repository(ADMIN, dry_run=True)] == [
        (full["id"], "would import"), (inc["id"], "would import")]
    assert new.list_backups(ADMIN) == []
    new.scan_repository(ADMIN)
    for backup_id, sha in shas.items():
        before, after = old.get_backup(ADMIN, backup_id), new.get_backup(ADMIN, backup_id)
        for key in ("name", "parent_id", "volume_id", "container", "service_metadata",
                    "created_at", "data_timestamp", "object_count", "size",
                    "num_dependent_backups"):
            assert after[key] == before[key], key
        restored = new.restore_backup(ADMIN, backup_id)
        assert _sha(new.get_volume(ADMIN, restored["volume_id"])["path"]) == sha


def test_other_objects_in_the_bucket_are_ignored(tmp_path, store):
    svc = _service(tmp_path, store, "s")
    svc.driver.ensure_container(BUCKET)
    for name in ("volume_notes_metadata", "unrelated/thing_metadata", "volume_x"):
        svc.driver.put_object(BUCKET, name, b"{}")
    assert svc.scan_repository(ADMIN) == []
