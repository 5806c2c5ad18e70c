"""Restore checks the final image against the chain tip's ``_sha256file`` (the default),
the objects' md5s (``restore_verify = md5``, or when there is no list), or both; and on
a new target it reads only the objects the list says hold data. An object of several
pieces is written ``Behind`` the thread that inflates it: bit-exact all the same, and a
failed write is the target's error with no thread left behind."""

from __future__ import annotations

import hashlib
import json
import os
import errno
import re
import threading

import pytest

from ember.engine import compression, restore_run
from ember.engine import format as fmt
from ember.engine.engine import BackupSpec, ChainMember, Engine
from ember.engine.pipeline import Behind
from ember.errors import CorruptObject, InvalidBackup, RestoreMismatch
from ember.testing.config import make_conf
from ember.testing.memory import MemoryStore, ReadRecordingDriver

BLOCK = 4096
OBJECT = 16 * BLOCK
SIZE = 20 * OBJECT + 3 * BLOCK + 100  # a short last object and a short last block


def _conf(verify="sha256"):
    return make_conf(backup_file_size=OBJECT, backup_sha_block_size_bytes=BLOCK,
                     backup_compression_algorithm="zlib", restore_verify=verify)


@pytest.fixture
def store():
    return MemoryStore()


def _engine(store, verify="sha256"):
    conf = _conf(verify)
    driver = ReadRecordingDriver(conf, store)
    return Engine(driver, conf), driver


def _volume(path, seed=1):
    """Text in objects 0-2 and 10, the rest holes (objects 3-9 and 11-20 are zero)."""
    with open(path, "wb") as f:
        f.truncate(SIZE)
        for obj in (0, 1, 2, 10):
            f.seek(obj * OBJECT + 100)
            f.write((b"block %d of %d " % (obj, seed)) * 3000)
    return path


def _backup(engine, source, bid="bk-1", parent=None):
    member = ChainMember(bid, "cont", fmt.posix_prefix("vol", "20250101000000", bid))
    engine.backup(BackupSpec(backup_id=bid, volume_id="vol", source_path=str(source),
                             container="cont", prefix=member.prefix, created_at="now",
                             parent=parent))
    return member


def _restore(engine, chain, path, new=True):
    if new:
        with open(path, "wb"):
            pass
    engine.restore(chain, str(path), target_is_new=new)
    return hashlib.sha256(open(path, "rb").read()[:SIZE]).hexdigest()


def _sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _replace_object(store_engine, member, object_id, data):
    """Rewrite one object with other bytes of the same length, and make its md5 in
    ``_metadata`` agree: only the SHA-256 list can tell."""
    engine, driver = store_engine
    name = fmt.object_name(member.prefix, object_id)
    driver.put_object("cont", name, compression.compress("zlib", data))
    md_name = fmt.metadata_name(member.prefix)
    doc = json.loads(driver.get_object("cont", md_name))
    for item in doc["objects"]:
        if name in item:
            item[name].update(md5=hashlib.md5(data).hexdigest(), compression="zlib")
    driver.put_object("cont", md_name, json.dumps(doc, sort_keys=True, indent=2).encode())
    return name


def test_sha256_restore_is_bit_exact_and_reads_only_data_objects(store, tmp_path):
    source = _volume(tmp_path / "vol.img")
    engine, driver = _engine(store)
    full = _backup(engine, source)
    with open(source, "r+b") as f:  # change object 1, and write data into hole object 5
        f.seek(OBJECT + 5 * BLOCK)
        f.write(b"changed" * 900)
        f.seek(5 * OBJECT)
        f.write(b"new data" * 800)
    inc = _backup(engine, source, "bk-2", parent=full)
    driver.opened.clear()
    assert _restore(engine, [full, inc], tmp_path / "t.img") == _sha256(source)
    data_objects = [n for n in driver.opened if not fmt.is_document(full.prefix, n)
                    and not fmt.is_document(inc.prefix, n)]
    # objects 1, 2, 3 and 11 of the full hold data, plus the incremental's two runs;
    # the 17 zero objects of the full are never opened
    assert sorted(n for n in data_objects if n.startswith(full.prefix)) == \
        [fmt.object_name(full.prefix, i) for i in (1, 2, 3, 11)]
    assert len([n for n in data_objects if n.startswith(inc.prefix)]) == 2


@pytest.mark.parametrize("verify", ["sha256", "md5", "both"])
def test_every_mode_restores_bit_exact_onto_an_existing_target(store, tmp_path, verify):
    source = _volume(tmp_path / "vol.img")
    engine, driver = _engine(store, verify)
    full = _backup(engine, source)
    target = tmp_path / "old.img"
    target.write_bytes(os.urandom(SIZE + 5000))  # old data everywhere, and larger
    _restore(engine, [full], target, new=False)
    assert hashlib.sha256(target.read_bytes()[:SIZE]).hexdigest() == _sha256(source)


def test_a_mismatch_names_the_blocks_and_the_object(store, tmp_path):
    source = _volume(tmp_path / "vol.img")
    engine, driver = _engine(store)
    full = _backup(engine, source)
    name = _replace_object((engine, driver), full, 2, bytes(5 * BLOCK) + b"x" * 2 * BLOCK
                           + open(source, "rb").read()[OBJECT + 7 * BLOCK:2 * OBJECT])
    # blocks 16-22 of object 2 change: 16-20 become zeros, 21-22 "x"
    with pytest.raises(RestoreMismatch, match="^%s$" % re.escape(
            "backup bk-1: restored blocks 16-22 (bytes 65536-94208) do not match its "
            "_sha256file; they were written from object %s of backup bk-1; the backup or "
            "the target is damaged" % name)):
        _restore(engine, [full], tmp_path / "t.img")
    # the md5 check alone cannot tell: the object is self-consistent
    md5_engine = Engine(driver, _conf("md5"))
    assert _restore(md5_engine, [full], tmp_path / "t2.img") != _sha256(source)


def test_a_list_disagreeing_with_an_object_that_is_read_is_found(store, tmp_path):
    """Objects holding data are read whole, so a list claiming zeros where such an
    object writes data is reported, not obeyed."""
    source = _volume(tmp_path / "vol.img")
    engine, driver = _engine(store)
    full = _backup(engine, source)
    sha_name = fmt.sha256file_name(full.prefix)
    doc = json.loads(driver.get_object("cont", sha_name))
    doc["sha256s"][1:10] = [hashlib.sha256(bytes(BLOCK)).hexdigest()] * 9  # data in 0-9
    driver.put_object("cont", sha_name, json.dumps(doc, sort_keys=True, indent=2).encode())
    with pytest.raises(RestoreMismatch, match=r"^backup bk-1: restored blocks 1-9 \(bytes "
                       r"4096-40960\) do not match its _sha256file; they were written from "
                       r"object %s-00001 of backup bk-1" % re.escape(full.prefix)):
        _restore(engine, [full], tmp_path / "t.img")


def test_without_a_list_restore_checks_md5(store, tmp_path):
    source = _volume(tmp_path / "vol.img")
    engine, driver = _engine(store)
    full = _backup(engine, source)
    driver.delete_object("cont", fmt.sha256file_name(full.prefix))
    assert _restore(engine, [full], tmp_path / "t.img") == _sha256(source)
    name = fmt.object_name(full.prefix, 2)
    md_name = fmt.metadata_name(full.prefix)
    doc = json.loads(driver.get_object("cont", md_name))
    doc["objects"][1][name]["md5"] = "0" * 32
    driver.put_object("cont", md_name, json.dumps(doc, sort_keys=True, indent=2).encode())
    with pytest.raises(CorruptObject, match=r"object %s has md5 [0-9a-f]{32} but its metadata "
                       r"records 0{32}" % re.escape(name)):
        _restore(engine, [full], tmp_path / "t2.img")


def test_a_list_of_the_wrong_length_fails_before_a_byte_is_written(store, tmp_path):
    source = _volume(tmp_path / "vol.img")
    engine, driver = _engine(store)
    full = _backup(engine, source)
    sha_name = fmt.sha256file_name(full.prefix)
    doc = json.loads(driver.get_object("cont", sha_name))
    doc["sha256s"].append(doc["sha256s"][0])
    driver.put_object("cont", sha_name, json.dumps(doc, sort_keys=True, indent=2).encode())
    target = tmp_path / "old.img"
    old = os.urandom(SIZE)
    target.write_bytes(old)
    with pytest.raises(InvalidBackup, match=r"^backup bk-1: its _sha256file lists 325 blocks "
                       r"of 4096 bytes, but its objects cover %d bytes \(324 blocks\); the "
                       r"backup is damaged$" % SIZE):
        engine.restore([full], str(target), target_is_new=False)
    assert target.read_bytes() == old
    # a shorter list (a volume file that shrank before an incremental) is no check of
    # the whole image: the objects' md5s are checked instead
    doc["sha256s"][-2:] = []
    driver.put_object("cont", sha_name, json.dumps(doc, sort_keys=True, indent=2).encode())
    assert _restore(engine, [full], tmp_path / "t.img") == _sha256(source)


def _multi_piece(engine):
    engine.piece_size = 2 * BLOCK  # 64 KiB objects: eight pieces each
    return engine


@pytest.mark.parametrize("verify", ["sha256", "md5", "both"])
def test_objects_of_several_pieces_restore_bit_exact(tmp_path, verify):
    engine, _ = _engine(MemoryStore(), verify)
    _multi_piece(engine)
    source = _volume(tmp_path / "vol.img")
    full = _backup(engine, source)
    with open(source, "r+b") as f:  # an incremental over part of one object
        f.seek(5 * BLOCK + 7)
        f.write(b"changed " * 2000)
    inc = _backup(engine, source, "bk-2", parent=full)
    for new in (True, False):
        target = tmp_path / ("new.img" if new else "old.img")
        if new:
            target.write_bytes(b"")
        else:
            target.write_bytes(b"\xff" * SIZE)
        engine.restore([full, inc], str(target), target_is_new=new)
        assert hashlib.sha256(target.read_bytes()[:SIZE]).hexdigest() == \
            hashlib.sha256(source.read_bytes()).hexdigest()


def test_a_failed_write_behind_is_the_targets_error_and_ends_its_thread(tmp_path,
                                                                        monkeypatch):
    # a disk filling up under a restore cannot be caused here: the third write fails
    # as the kernel would say it
    engine, _ = _engine(MemoryStore())
    _multi_piece(engine)
    full = _backup(engine, _volume(tmp_path / "vol.img"))
    real, calls = restore_run._pwrite, []

    def pwrite(fd, data, offset):
        calls.append(offset)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data, offset)

    monkeypatch.setattr(restore_run, "_pwrite", pwrite)
    target = tmp_path / "new.img"
    target.write_bytes(b"")
    with pytest.raises(OSError) as raised:
        engine.restore([full], str(target), target_is_new=True)
    assert raised.value.errno == errno.ENOSPC
    assert not [t for t in threading.enumerate() if t.name.startswith("ember-restore-write")]


def test_behind_runs_calls_in_order_and_raises_at_the_next_call_or_close():
    seen = []
    behind = Behind("test-behind")
    for n in range(5):
        behind.submit(seen.append, n)
    behind.close()
    assert seen == [0, 1, 2, 3, 4]

    def fail():
        raise ValueError("write failed")

    behind = Behind("test-behind")
    behind.submit(fail)
    with pytest.raises(ValueError, match="write failed"):
        behind.submit(seen.append, 5)
    behind.close()
    assert seen == [0, 1, 2, 3, 4]  # the call after the failure never ran

    behind = Behind("test-behind")
    behind.submit(fail)
    with pytest.raises(ValueError, match="write failed"):
        behind.close()
