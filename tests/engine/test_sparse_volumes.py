"""Sparse volumes cost their data, not their size: holes are neither read nor hashed,
large holes become objects of their own, the SHA-256 lists are streamed, and a restore
onto a new target does not read what is zero. Memory is measured in a subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points

from ember.engine import format as fmt
from ember.engine.engine import HOLE_OBJECT, BackupSpec, ChainMember, Engine
from ember.testing.config import make_conf
from ember.testing.memory import MemoryStore, ReadRecordingDriver
from ember.testing.services import require

MiB = 1 << 20


def test_large_holes_are_objects_of_their_own_and_are_never_read(tmp_path):
    conf = make_conf(backup_file_size=128 * MiB, backup_sha_block_size_bytes=32768,
                     backup_compression_algorithm="zlib")
    driver = ReadRecordingDriver(conf, MemoryStore())
    engine = Engine(driver, conf)
    source = tmp_path / "vol.img"
    with open(source, "wb") as f:
        f.truncate(300 * MiB + 1000)
        f.write(os.urandom(MiB))
        f.seek(200 * MiB)
        f.write(b"some text " * 100000)
    member = ChainMember("b1", "c", fmt.posix_prefix("vol", "20250101000000", "b1"))
    engine.backup(BackupSpec(backup_id="b1", volume_id="vol", source_path=str(source),
                             container="c", prefix=member.prefix, created_at="now"))
    objects = engine.read_metadata(member).objects
    # chunk 1: data, then its hole; chunk 2: its 72 MiB leading hole, then the rest
    # (a 55 MiB hole stays inside); chunk 3: one object, all hole but under 64 MiB
    assert [(o.offset, o.length) for o in objects] == [
        (0, MiB), (MiB, 127 * MiB), (128 * MiB, 72 * MiB), (200 * MiB, 56 * MiB),
        (256 * MiB, 44 * MiB + 1000)]
    assert 72 * MiB >= HOLE_OBJECT
    for o in objects[1:3]:
        assert o.md5 == hashlib.md5(bytes(o.length)).hexdigest()
    target = tmp_path / "t.img"
    target.write_bytes(b"")
    driver.opened.clear()
    engine.restore([member], str(target), target_is_new=True)
    assert _sha256(target) == _sha256(source)
    # the three zero objects (two holes, and the all-zero tail) were never opened
    assert sorted(n for n in driver.opened if not fmt.is_document(member.prefix, n)) == \
        [objects[0].name, objects[3].name]


def _sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 * MiB):
            h.update(chunk)
    return h.hexdigest()


SCRIPT = textwrap.dedent("""
    import json, os, sys
    from ember.engine.engine import BackupSpec, ChainMember, Engine
    from ember.testing.config import make_conf
    from ember_posix.driver import PosixBackupDriver

    base, size = sys.argv[1], int(sys.argv[2])
    conf = make_conf(backup_compression_algorithm="zstd", backup_file_size=512 << 20,
                     backup_sha_block_size_bytes=32768)
    driver = PosixBackupDriver(conf)
    conf.set_override("backup_posix_path", os.path.join(base, "repo"))
    os.makedirs(os.path.join(base, "repo"))  # a repository outside state_path must exist
    driver.check_setup()
    engine = Engine(driver, conf)
    source = os.path.join(base, "vol.img")
    with open(source, "wb") as f:
        f.truncate(size)
        f.write(os.urandom(1 << 20))
    chain = []
    for i in range(2):
        bid = "%08d-0000-4000-8000-000000000000" % i
        member = ChainMember(bid, engine.layout.default_container(bid),
                             engine.layout.object_prefix("v", bid, "20250101000000"))
        engine.backup(BackupSpec(backup_id=bid, volume_id="v", source_path=source,
                                 container=member.container, prefix=member.prefix,
                                 created_at="now", parent=chain[-1] if chain else None))
        chain.append(member)
        if i == 0:  # the change the incremental backs up
            with open(source, "r+b") as f:
                f.seek(size // 2)
                f.write(os.urandom(4096))
    target = os.path.join(base, "t.img")
    open(target, "wb").close()
    engine.restore(chain, target, target_is_new=True)
    with open(source, "rb") as a, open(target, "rb") as b:
        same = a.read(2 << 20) == b.read(2 << 20) and os.path.getsize(target) == size
        a.seek(size // 2), b.seek(size // 2)
        same = same and a.read(8192) == b.read(8192)
    sha = os.path.getsize(os.path.join(base, "repo", chain[0].container,
                                       chain[0].prefix + "_sha256file"))
    # VmHWM, not ru_maxrss: the latter keeps the parent's size from before the exec
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    print(json.dumps({"same": same, "sha256file": sha, "peak_mib": hwm / 1024}))
""")


def test_a_32_gib_sparse_volume_backs_up_and_restores_in_bounded_memory(tmp_path):
    """Its _sha256file has a million entries (75 MB); held as a list of strings, as
    before (5c8ac84), this chain peaked at 396 MiB. Streamed, it stays near the
    interpreter's own size (50 MiB)."""
    require("posix" in {ep.name for ep in entry_points(group="ember.backup.drivers")},
            "the posix driver plugin (ember-backup-posix)", "pip install -e plugins/posix")
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), str(32 << 30)],
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out)
    assert result["same"]
    assert result["sha256file"] > 70 * 10**6
    assert result["peak_mib"] < 120, result
