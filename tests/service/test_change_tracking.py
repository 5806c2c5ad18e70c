"""Changed-block tracking (``ember.engine.cbt``) on a real reflink XFS, loop-mounted by the
test: incrementals read only the extents that differ from the parent's clone, their
``_sha256file`` equals a full re-hash of the volume, and every point restores bit-exact;
every reason to doubt reads everything and says so."""

import hashlib
import os
import re
import subprocess

import pytest
from ember.engine import format as fmt
from ember.context import RequestContext
from ember.service import Ember
from ember.testing.config import make_conf
from ember.testing.memory import MemoryBackupDriver, MemoryStore
from ember.testing.services import require
from harness.xfs import mounted_xfs

ADMIN = RequestContext.default()
MiB, BLOCK = 1 << 20, 4096
SIZE = 16 * MiB
READ_CHANGED = re.compile(r"read only what changed since backup (\S+): (\d+) of (\d+) bytes "
                          r"in (\d+) ranges?$")


@pytest.fixture(scope="module")
def xfs(tmp_path_factory):
    with mounted_xfs(str(tmp_path_factory.mktemp("xfs"))) as mountpoint:
        yield mountpoint


@pytest.fixture
def state(xfs, request):
    path = os.path.join(xfs, request.node.name)
    os.makedirs(path)
    return path


def _service(state, store, **overrides):
    conf = make_conf(state_path=state, backup_driver="memory", backup_file_size=MiB,
                     backup_sha_block_size_bytes=BLOCK, **overrides)
    return Ember(conf, driver=MemoryBackupDriver(conf, store=store))


@pytest.fixture
def store():
    return MemoryStore()


@pytest.fixture
def service(state, store):
    return _service(state, store)


def _write(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def _content(path):
    with open(path, "rb") as f:
        return f.read()


def _stored_digests(store, backup):
    prefix = backup["service_metadata"]
    data = store.containers[backup["container"]][fmt.sha256file_name(prefix)]
    return fmt.parse_sha256file(data, backup["id"], "sha").sha256s


def _digests(data):
    return [hashlib.sha256(data[i:i + BLOCK]).hexdigest() for i in range(0, len(data), BLOCK)]


def _read_changed(backup, parent):
    match = READ_CHANGED.match(backup["change_tracking"] or "")
    assert match, backup["change_tracking"]
    assert match.group(1) == parent["id"]
    return int(match.group(2))


def _restored(service, backup, length):
    out = service.restore_backup(ADMIN, backup["id"])
    return _content(service.get_volume(ADMIN, out["volume_id"])["path"])[:length]


def test_incrementals_read_only_what_changed_and_restore_bit_exact(service, store):
    vol = service.create_volume(ADMIN, "vol", size="16M")
    path = vol["path"]
    _write(path, 0, os.urandom(12 * MiB))  # the last 4 MiB stay a hole
    points = []  # (backup, the volume's bytes as that backup must hold them)

    def backup(incremental=True, during=None):
        expected = _content(path)
        calls = []

        def progress(done, total):  # runs after the clone was made
            if during and not calls:
                during()
            calls.append(done)

        row = service.create_backup(ADMIN, vol["id"], incremental=incremental,
                                    progress=progress)
        assert row["status"] == "available"
        assert _stored_digests(store, row) == _digests(expected)  # as a full re-hash
        points.append((row, expected))
        return row

    full = backup(incremental=False)
    assert full["change_tracking"] == "full backup; a clone is kept for the next incremental"

    # writes before the clone: aligned, unaligned, into the hole
    _write(path, 3 * MiB, os.urandom(3 * BLOCK))
    _write(path, 5 * MiB + 123, os.urandom(5000))
    _write(path, 14 * MiB, b"tail" * 1000)
    inc1 = backup()
    assert 3 * BLOCK + 2 * BLOCK + BLOCK <= _read_changed(inc1, full) <= 1 * MiB

    # nothing changed: nothing read, no object
    inc2 = backup()
    assert (_read_changed(inc2, inc1), inc2["object_count"]) == (0, 0)

    # truncation and growth: cut to an unaligned length, grow back to the volume's size
    os.truncate(path, 10 * MiB + 777)
    os.truncate(path, SIZE)
    inc3 = backup()
    assert _read_changed(inc3, inc2) >= 2 * MiB  # the cut-off data, now zeros

    # a write after the clone, while the backup runs: not in this backup, in the next
    late = os.urandom(2 * BLOCK)
    inc4 = backup(during=lambda: _write(path, 7 * MiB, late))
    assert _content(path)[7 * MiB:7 * MiB + len(late)] == late
    assert points[-1][1][7 * MiB:7 * MiB + len(late)] != late
    inc5 = backup()
    assert 2 * BLOCK <= _read_changed(inc5, inc4) <= 1 * MiB

    # a shorter volume file (unaligned end): its last block is hashed at its new length
    os.truncate(path, SIZE - 1000)
    inc6 = backup()
    assert _read_changed(inc6, inc5) >= BLOCK - 1000

    # the proof: every point restores to the bytes it was taken from
    for row, expected in points:
        assert _restored(service, row, len(expected)) == expected, row["change_tracking"]
    # one clone is kept: the newest backup's
    assert os.listdir(service.conf.backup_change_tracking_dir) == [
        "%s.%s.clone" % (vol["id"], inc6["id"])]
    service.delete_volume(ADMIN, vol["id"])
    assert os.listdir(service.conf.backup_change_tracking_dir) == []


def test_without_the_parents_clone_it_reads_everything_and_says_why(service, store):
    vol = service.create_volume(ADMIN, "vol", size="4M")
    _write(vol["path"], 0, os.urandom(3 * MiB))
    full = service.create_backup(ADMIN, "vol")
    for name in os.listdir(service.conf.backup_change_tracking_dir):
        os.unlink(os.path.join(service.conf.backup_change_tracking_dir, name))
    _write(vol["path"], MiB, os.urandom(BLOCK))
    inc = service.create_backup(ADMIN, "vol", incremental=True)
    assert inc["change_tracking"] == (
        "read everything: no clone of the parent backup is kept (first backup with change "
        "tracking, or the clone was removed)")
    assert service.get_backup(ADMIN, inc["id"])["change_tracking"] == inc["change_tracking"]
    assert _stored_digests(store, inc) == _digests(_content(vol["path"]))
    # that backup kept a clone again, so the next one reads only what changed
    _write(vol["path"], 2 * MiB, os.urandom(BLOCK))
    assert _read_changed(service.create_backup(ADMIN, vol["id"], incremental=True), inc) < MiB
    assert _restored(service, inc, 4 * MiB) != _content(vol["path"])


def test_tracking_off_and_a_clone_dir_on_another_file_system(state, store, tmp_path):
    off = _service(state, store, backup_change_tracking=False)
    vol = off.create_volume(ADMIN, "vol", size="4M")
    assert off.create_backup(ADMIN, "vol")["change_tracking"] == (
        "read everything: backup_change_tracking is off")
    elsewhere = _service(state, store, backup_change_tracking_dir=str(tmp_path / "cbt"))
    row = elsewhere.create_backup(ADMIN, vol["id"], incremental=True)
    assert row["change_tracking"] == (
        "read everything: the change-tracking directory %s is on another file system than "
        "the volume (set backup_change_tracking_dir to one on the same file system)"
        % (tmp_path / "cbt"))
    assert os.listdir(tmp_path / "cbt") == []  # the failed clone left nothing


def test_a_file_system_without_reflink_reads_everything(tmp_path, store):
    service = _service(str(tmp_path / "state"), store)  # tmp_path: not the XFS mount
    service.create_volume(ADMIN, "vol", size="4M")
    note = service.create_backup(ADMIN, "vol")["change_tracking"]
    if note.startswith("full backup"):
        pytest.skip("the temporary directory's file system can reflink: nothing to refuse")
    assert note.startswith("read everything: the file system cannot reflink ("), note


def test_a_block_device_reads_everything(service, state, store):
    image = os.path.join(state, "disk.img")
    with open(image, "wb") as f:
        f.write(os.urandom(2 * MiB))
    proc = subprocess.run(["losetup", "-f", "--show", image], capture_output=True, text=True)
    require(proc.returncode == 0, "a free loop device (%s)" % proc.stderr.strip(),
            "run as root on a machine with loop devices")
    device = proc.stdout.strip()
    try:
        service.create_volume(ADMIN, "dev", path=device)
        row = service.create_backup(ADMIN, "dev")
        assert row["change_tracking"] == (
            "read everything: the volume is a block device (no extent map to compare)")
        inc = service.create_backup(ADMIN, "dev", incremental=True)
        assert inc["change_tracking"] == row["change_tracking"]
        assert inc["object_count"] == 0
    finally:
        subprocess.run(["losetup", "-d", device])
