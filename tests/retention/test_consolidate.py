"""Consolidation: a full backup made from a chain's restore point, from the repository
alone, on a real posix repository: every codec, sparse and dense data, chains of three
or more, the result an ordinary full (restores bit-exact, parent of later incrementals),
and failures that leave nothing behind."""

import hashlib
import json
import os
import pathlib

import pytest
from ember import errors
from ember.context import RequestContext
from ember.loader import load_driver
from ember.service import Ember
from ember.testing.cli import require_posix_plugin
from ember.testing.config import make_conf
from ember.testing.faulty import FaultyDriver

ADMIN = RequestContext.default()
MiB = 1 << 20
SIZE = 6 * MiB


def sha(path, length=SIZE):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while length > 0:
            block = f.read(min(length, 8 * MiB))
            if not block:
                break
            digest.update(block)
            length -= len(block)
    return digest.hexdigest()


def write(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def service_for(tmp_path, codec="zlib", object_size=MiB, wrap=None):
    require_posix_plugin()
    conf = make_conf(state_path=str(tmp_path / "state"), backup_driver="posix",
                     backup_file_size=object_size, backup_sha_block_size_bytes=4096,
                     backup_compression_algorithm=codec)
    driver = load_driver(conf)
    return Ember(conf, driver=wrap(driver) if wrap else driver)


def chain_of(service, size, writes, name="vol"):
    """A volume of ``size`` and a full then one incremental per further entry of
    ``writes`` (each a list of (offset, bytes) written before that backup); returns the
    volume and [(backup id, sha256 of the volume then)]."""
    vol = service.create_volume(ADMIN, name, size=str(size // MiB) + "M")
    made = []
    for i, changes in enumerate(writes):
        for offset, data in changes:
            write(vol["path"], offset, data)
        backup = service.create_backup(ADMIN, name, incremental=i > 0)
        made.append((backup["id"], sha(vol["path"], size)))
    return vol, made


def restored_sha(service, backup_id, size=SIZE):
    restored = service.restore_backup(ADMIN, backup_id, name="r-%s" % backup_id[:8])
    path = service.get_volume(ADMIN, restored["volume_id"])["path"]
    try:
        return sha(path, size)
    finally:
        service.delete_volume(ADMIN, restored["volume_id"])


def documents(service, backup_id):
    row = service.get_backup(ADMIN, backup_id)
    root = pathlib.Path(service.conf.backup_posix_path) / row["container"]
    prefix = root / row["service_metadata"]
    meta = json.loads(pathlib.Path(str(prefix) + "_metadata").read_text())
    shas = json.loads(pathlib.Path(str(prefix) + "_sha256file").read_text())
    return meta, shas


DENSE = [[(0, os.urandom(SIZE))], [(MiB + 4096, os.urandom(300 * 1024))],
         [(4 * MiB - 8192, os.urandom(20000))], [(5 * MiB, os.urandom(MiB))]]
SPARSE = [[(2 * MiB, os.urandom(8192))], [(0, os.urandom(4096)), (5 * MiB, b"x" * 4096)],
          [(2 * MiB, bytes(8192))], [(3 * MiB + 12345, os.urandom(70000))]]


@pytest.mark.parametrize("codec", ["none", "zlib", "bz2", "zstd"])
@pytest.mark.parametrize("data", ["dense", "sparse"])
def test_consolidated_full_equals_the_chain_and_is_an_ordinary_full(tmp_path, codec, data):
    service = service_for(tmp_path, codec)
    vol, made = chain_of(service, SIZE, DENSE if data == "dense" else SPARSE)
    tip, tip_sha = made[-1]
    source = service.get_backup(ADMIN, tip)
    full = service.consolidate_backup(ADMIN, tip, name="synthetic")
    assert (full["status"], full["parent_id"], full["is_incremental"]) == (
        "available", None, False)
    assert full["volume_id"] == vol["id"] and full["data_timestamp"] == source["data_timestamp"]
    assert full["description"] == "Consolidated from backup %s" % tip
    assert service.get_backup(ADMIN, tip)["status"] == "available"
    assert restored_sha(service, full["id"]) == tip_sha

    meta, shas = documents(service, full["id"])
    _, tip_shas = documents(service, tip)
    assert meta["parent_id"] is None and meta["backup_id"] == full["id"]
    assert shas["sha256s"] == tip_shas["sha256s"]  # the same image, block for block
    entries = [entry for item in meta["objects"] for entry in item.values()]
    assert {e["compression"] for e in entries} <= {codec, "none"}
    assert sum(e["length"] for e in entries) == SIZE  # a full covers the volume

    # the next incremental builds on it; then the old chain can go entirely
    write(vol["path"], 0, b"after consolidation")
    after = service.create_backup(ADMIN, "vol", incremental=True)
    assert after["parent_id"] == full["id"]
    for backup_id, _ in reversed(made):
        service.delete_backup(ADMIN, backup_id)
    assert restored_sha(service, after["id"]) == sha(vol["path"])
    assert restored_sha(service, full["id"]) == tip_sha


def test_consolidating_a_middle_member_and_a_full(tmp_path):
    service = service_for(tmp_path, "zstd")
    _, made = chain_of(service, SIZE, SPARSE)
    middle = service.consolidate_backup(ADMIN, made[1][0])
    assert restored_sha(service, middle["id"]) == made[1][1]
    of_full = service.consolidate_backup(ADMIN, made[0][0])
    assert restored_sha(service, of_full["id"]) == made[0][1]


def test_a_corrupt_chain_member_fails_and_leaves_nothing(tmp_path):
    service = service_for(tmp_path, "none")
    _, made = chain_of(service, SIZE, DENSE[:3])
    meta, _ = documents(service, made[1][0])
    row = service.get_backup(ADMIN, made[1][0])
    name = next(iter(meta["objects"][0]))
    victim = pathlib.Path(service.conf.backup_posix_path) / row["container"] / name
    victim.write_bytes(b"\xff" + victim.read_bytes()[1:])
    with pytest.raises(errors.CorruptObject):
        service.consolidate_backup(ADMIN, made[2][0])
    failed = [b for b in service.list_backups(ADMIN) if b["id"] not in dict(made)]
    assert [(b["status"], b["object_count"]) for b in failed] == [("error", 0)]
    assert list(pathlib.Path(service.conf.backup_posix_path).rglob(
        "*%s*" % failed[0]["id"])) == []
    assert service.get_backup(ADMIN, made[2][0])["status"] == "available"
    assert not list((tmp_path / "state" / "consolidate").glob("*"))


def test_an_interrupted_consolidation_removes_its_row_and_objects(tmp_path):
    """Ctrl-C at the third object put (a wrapper places it; a real signal cannot be aimed
    at one put)."""
    faulty = []
    service = service_for(tmp_path, "zlib", wrap=lambda d: faulty.append(FaultyDriver(d))
                          or faulty[0])
    _, made = chain_of(service, SIZE, DENSE[:3])
    before = {b["id"] for b in service.list_backups(ADMIN)}
    faulty[0].fail("open_writer", KeyboardInterrupt(), on_call=faulty[0].calls[
        "open_writer"] + 3)
    with pytest.raises(errors.Interrupted, match="^Interrupted: the consolidation of backup"):
        service.consolidate_backup(ADMIN, made[2][0])
    assert {b["id"] for b in service.list_backups(ADMIN)} == before
    assert service.get_backup(ADMIN, made[2][0])["status"] == "available"
    names = [p.name for p in pathlib.Path(service.conf.backup_posix_path).rglob("*")
             if p.is_file()]
    assert not [n for n in names if not any(b in n for b in before)]


def test_consolidate_refuses_a_busy_backup(tmp_path):
    service = service_for(tmp_path)
    _, made = chain_of(service, SIZE, SPARSE[:2])
    service.reset_backup_status(ADMIN, made[1][0], "error")
    with pytest.raises(errors.InvalidState, match="status must be available to consolidate"):
        service.consolidate_backup(ADMIN, made[1][0])


def test_consolidating_a_1_gib_chain(tmp_path):
    """At a real size, once: a 1 GiB volume (dense regions, written zeros and holes) in a
    chain of three, consolidated in 32 MiB objects; the full restores bit-exact and the
    staging image is gone."""
    size = 1 << 30
    service = service_for(tmp_path, "zstd", object_size=32 * MiB)
    dense = os.urandom(96 * MiB)
    writes = [[(0, dense), (512 * MiB, dense[:64 * MiB]), (size - 5 * MiB, dense[:5 * MiB])],
              [(100 * MiB, os.urandom(33 * MiB)), (32 * MiB, bytes(8 * MiB))],
              [(700 * MiB + 4096, os.urandom(MiB)), (0, b"tip")]]
    vol, made = chain_of(service, size, writes, name="big")
    full = service.consolidate_backup(ADMIN, made[-1][0])
    assert full["object_count"] == size // (32 * MiB)
    assert restored_sha(service, full["id"], size) == made[-1][1] == sha(vol["path"], size)
    assert not list((tmp_path / "state" / "consolidate").glob("*"))
