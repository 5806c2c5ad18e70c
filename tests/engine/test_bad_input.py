"""Damaged repositories and refused backups: each a specific error class whose message
names the backup and the object; a failed restore always raises."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from ember.engine import format as fmt
from ember.engine.engine import BackupSpec, ChainMember, Engine
from ember.errors import (BackupCancelled, ConfigError, CorruptObject, InvalidBackup,
                          UnsupportedCompression, UnsupportedVersion)
from ember.testing.config import make_conf
from ember.testing.memory import MemoryBackupDriver, MemoryStore

SIZE = 256 * 1024


@pytest.fixture
def setup(tmp_path, small_conf):
    driver = MemoryBackupDriver(small_conf, store=MemoryStore())
    engine = Engine(driver, small_conf)
    source = tmp_path / "vol.img"
    source.write_bytes(b"ember text " * (SIZE // 11) + bytes(SIZE - SIZE // 11 * 11))
    return engine, driver, source, tmp_path


def _backup(engine, source, bid="bk-1", parent=None, **kw):
    member = ChainMember(bid, "cont", fmt.posix_prefix("vol", "20250101000000", bid))
    engine.backup(BackupSpec(backup_id=bid, volume_id="vol", source_path=str(source),
                             container="cont", prefix=member.prefix, created_at="now",
                             parent=parent), **kw)
    return member


def _restore(engine, chain, tmp_path):
    target = tmp_path / "target.img"
    target.write_bytes(bytes(SIZE))
    return engine.restore(chain, str(target), target_is_new=True)


def _edit_metadata(driver, member, fn):
    name = fmt.metadata_name(member.prefix)
    doc = json.loads(driver.get_object(member.container, name))
    fn(doc)
    driver.put_object(member.container, name, json.dumps(doc, sort_keys=True, indent=2).encode())


def test_truncated_metadata(setup):
    engine, driver, source, tmp = setup
    m = _backup(engine, source)
    name = fmt.metadata_name(m.prefix)
    driver.put_object("cont", name, driver.get_object("cont", name)[:100])
    with pytest.raises(InvalidBackup, match=r"^backup bk-1: object %s is not valid JSON, "
                       r"truncated or damaged" % re.escape(name)):
        _restore(engine, [m], tmp)


def test_non_json_metadata(setup):
    engine, driver, source, tmp = setup
    m = _backup(engine, source)
    driver.put_object("cont", fmt.metadata_name(m.prefix), b"\x89PNG not json")
    with pytest.raises(InvalidBackup, match="backup bk-1: object .*_metadata is not UTF-8"):
        _restore(engine, [m], tmp)


def test_unknown_version(setup):
    engine, driver, source, tmp = setup
    m = _backup(engine, source)
    _edit_metadata(driver, m, lambda d: d.update(version="2.0.0"))
    with pytest.raises(UnsupportedVersion, match=r"backup bk-1: object .*_metadata has format "
                       r"version '2.0.0'; Ember reads only '1.0.0'"):
        _restore(engine, [m], tmp)


def test_unknown_codec(setup):
    engine, driver, source, tmp = setup
    m = _backup(engine, source)
    first = fmt.object_name(m.prefix, 1)
    _edit_metadata(driver, m, lambda d: d["objects"][0][first].update(compression="lz4"))
    with pytest.raises(UnsupportedCompression, match="unsupported compression algorithm: lz4"):
        _restore(engine, [m], tmp)


def test_missing_object(setup):
    engine, driver, source, tmp = setup
    m = _backup(engine, source)
    gone = fmt.object_name(m.prefix, 2)
    driver.delete_object("cont", gone)
    with pytest.raises(InvalidBackup, match=r"backup bk-1: restore_backup aborted, actual object "
                       r"list does not match object list stored in metadata \(missing: %s; "
                       r"extra: none\)" % re.escape(gone)):
        _restore(engine, [m], tmp)


def test_extra_object_under_the_prefix(setup):
    engine, driver, source, tmp = setup
    m = _backup(engine, source)
    stray = m.prefix + "-00001.tmp"
    driver.put_object("cont", stray, b"stray")
    with pytest.raises(InvalidBackup, match=r"\(missing: none; extra: %s\)" % re.escape(stray)):
        _restore(engine, [m], tmp)


@pytest.mark.parametrize("verify", ["md5", "both"])
def test_md5_mismatch(setup, small_conf, verify):
    _, driver, source, tmp = setup
    small_conf.set_override("restore_verify", verify)
    engine = Engine(driver, small_conf)
    m = _backup(engine, source)
    name = fmt.object_name(m.prefix, 3)
    _edit_metadata(driver, m, lambda d: d["objects"][2][name].update(md5="0" * 32))
    with pytest.raises(CorruptObject, match=r"backup bk-1: object %s has md5 [0-9a-f]{32} but "
                       r"its metadata records 0{32}" % re.escape(name)):
        _restore(engine, [m], tmp)


def test_damaged_object_bytes(setup):
    engine, driver, source, tmp = setup
    m = _backup(engine, source)
    name = fmt.object_name(m.prefix, 1)
    blob = driver.get_object("cont", name)
    driver.put_object("cont", name, blob[:len(blob) // 2])
    with pytest.raises(CorruptObject, match=r"backup bk-1: object %s " % re.escape(name)):
        _restore(engine, [m], tmp)


def test_missing_metadata_document(setup):
    engine, driver, source, tmp = setup
    m = _backup(engine, source)
    driver.delete_object("cont", fmt.metadata_name(m.prefix))
    with pytest.raises(InvalidBackup, match=r"backup bk-1: object .*_metadata is missing from "
                       r"container cont"):
        _restore(engine, [m], tmp)


def test_changed_block_size_refuses_incremental(setup, small_conf):
    engine, driver, source, tmp = setup
    full = _backup(engine, source)
    conf = make_conf(backup_file_size=65536, backup_sha_block_size_bytes=8192)
    other = Engine(MemoryBackupDriver(conf, store=driver.store), conf)
    with pytest.raises(InvalidBackup, match=r"^backup bk-2: Hash block size has changed since "
                       r"the last backup. New hash block size: 8192. Old hash block size: 4096. "
                       r"Do a full backup."):
        _backup(other, source, "bk-2", parent=full)
    assert not list(driver.list_objects("cont", fmt.posix_prefix("vol", "20250101000000", "bk-2")))


def test_grown_volume_refuses_incremental(setup):
    engine, driver, source, tmp = setup
    full = _backup(engine, source)
    with open(source, "ab") as f:
        f.write(b"x" * 4096)
    with pytest.raises(InvalidBackup, match=r"^backup bk-2: Volume size increased since the last "
                       r"backup. Do a full backup."):
        _backup(engine, source, "bk-2", parent=full)


def test_object_size_not_multiple_of_block_size():
    conf = make_conf(backup_file_size=65536 + 512, backup_sha_block_size_bytes=4096)
    with pytest.raises(ConfigError, match=r"object size 66048 \(backup_file_size.*\) is not a "
                       r"multiple of the SHA block size 4096 \(backup_sha_block_size_bytes\)"):
        Engine(MemoryBackupDriver(conf, store=MemoryStore()), conf)


class _CancelAfter:
    """Fires (BackupCancelled) on its n-th question."""

    def __init__(self, n):
        self.n = n

    def raise_if_cancelled(self):
        self.n -= 1
        if self.n < 0:
            raise BackupCancelled("backup bk-1 was force-deleted")


@pytest.mark.parametrize("after", [0, 1, 3, 8])
def test_cancel_mid_backup_leaves_no_object(setup, after):
    engine, driver, source, tmp = setup
    engine.cancel_interval = 0  # ask the token at every check
    with pytest.raises(BackupCancelled, match="force-deleted"):
        _backup(engine, source, cancel=_CancelAfter(after))
    assert driver.store.containers["cont"] == {}


def test_failure_mid_backup_deletes_what_was_written(setup):
    engine, driver, source, tmp = setup
    original, puts = driver.put_object, []

    def failing_put(container, name, data):  # a disk-full after some objects
        if len(puts) == 2:
            from ember.errors import PermanentDriverError
            raise PermanentDriverError("memory repository: no space left")
        puts.append(name)
        original(container, name, data)

    driver.put_object = failing_put
    with pytest.raises(Exception, match="no space left"):
        _backup(engine, source)
    assert len(puts) == 2 and driver.store.containers["cont"] == {}


def test_delete_removes_every_object(setup):
    engine, driver, source, tmp = setup
    m = _backup(engine, source)
    keep = _backup(engine, source, "bk-9")
    assert engine.delete("cont", m.prefix) == SIZE // 65536 + 2
    assert list(driver.list_objects("cont", m.prefix)) == []
    assert len(list(driver.list_objects("cont", keep.prefix))) == SIZE // 65536 + 2
