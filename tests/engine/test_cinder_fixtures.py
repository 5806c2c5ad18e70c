"""Cinder-written repositories (tests/data/cinder-posix) through the engine.

Every backup point of every case restores bit-exact, Cinder's documents re-serialise
to identical bytes, and Ember's own backups of the same volumes restore too.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ember.engine import format as fmt
from ember.engine.engine import BackupSpec, ChainMember, Engine
from ember.testing.config import make_conf
from ember.testing.memory import MemoryBackupDriver, MemoryStore

from .conftest import DirectoryDriver

DATA = Path(__file__).resolve().parents[1] / "data" / "cinder-posix"
CASES = sorted(p.name for p in DATA.iterdir() if (p / "manifest.json").exists())


def _manifest(case: str) -> dict:
    return json.loads((DATA / case / "manifest.json").read_text())


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Volume images of every point of every case, rebuilt with gen_volume.py."""
    out = tmp_path_factory.mktemp("images")
    for case in CASES:
        subprocess.run([sys.executable, str(DATA / "gen_volume.py"),
                        str(DATA / case / "manifest.json"), str(out / case)],
                       check=True, capture_output=True)
    return out


def _conf(manifest: dict, **extra):
    cfg = manifest["config"]
    return make_conf(backup_file_size=cfg["backup_file_size"],
                     backup_sha_block_size_bytes=cfg["backup_sha_block_size_bytes"],
                     backup_compression_algorithm=cfg["backup_compression_algorithm"], **extra)


def _chain(manifest: dict, point: int) -> list:
    return [ChainMember(b["backup_id"], b["container"], b["service_metadata"])
            for b in manifest["backups"][:point + 1]]


def _sha256(path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _zero_file(path, size: int) -> str:
    with open(path, "wb") as f:
        f.truncate(size)
    return str(path)


@pytest.mark.parametrize("case", CASES)
def test_documents_reserialise_to_cinders_bytes(case):
    paths = list((DATA / case / "repo").rglob("*_metadata"))
    paths += list((DATA / case / "repo").rglob("*_sha256file"))
    assert len(paths) == 6
    for path in paths:
        data = path.read_bytes()
        if path.name.endswith("_metadata"):
            assert fmt.dump_metadata(fmt.parse_metadata(data, "b", path.name)) == data
        else:
            assert fmt.dump_sha256file(fmt.parse_sha256file(data, "b", path.name)) == data


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("target_is_new", [True, False], ids=["new", "existing"])
def test_every_point_restores_bit_exact(case, target_is_new, tmp_path):
    manifest = _manifest(case)
    engine = Engine(DirectoryDriver(_conf(manifest), str(DATA / case / "repo")), _conf(manifest))
    for point, backup in enumerate(manifest["backups"]):
        target = tmp_path / ("point-%d.img" % point)
        if target_is_new:
            _zero_file(target, backup["volume_size_bytes"])
        else:  # an existing volume full of junk, one MiB larger than the backup
            target.write_bytes(b"\xa5" * (backup["volume_size_bytes"] + (1 << 20)))
        result = engine.restore(_chain(manifest, point), str(target),
                                target_is_new=target_is_new)
        if target_is_new:
            assert _sha256(target) == backup["volume_sha256"] == backup["restore_sha256"]
        else:
            data = target.read_bytes()
            assert hashlib.sha256(data[:backup["volume_size_bytes"]]).hexdigest() \
                == backup["volume_sha256"]
            assert data[backup["volume_size_bytes"]:] == b"\xa5" * (1 << 20)  # untouched
        assert result.volume_meta == engine.read_metadata(_chain(manifest, point)[-1]).volume_meta


def test_superseded_objects_are_never_read(tmp_path):
    """none-multi-object: restoring the last point must not read objects of the full
    backup that the incrementals replaced wholly."""
    case = "none-multi-object"
    manifest = _manifest(case)
    driver = DirectoryDriver(_conf(manifest), str(DATA / case / "repo"))
    reads = []
    original = driver.open_reader

    def counting_reader(container, name):
        reads.append(name)
        return original(container, name)

    driver.open_reader = counting_reader
    chain = _chain(manifest, 2)
    engine = Engine(driver, _conf(manifest))
    mds = [engine.read_metadata(m) for m in chain]
    reads.clear()  # the documents are read through open_reader too
    target = _zero_file(tmp_path / "t.img", manifest["backups"][2]["volume_size_bytes"])
    engine.restore(chain, target, target_is_new=True)
    newer = [(o.offset, o.end) for md in mds[1:] for o in md.objects]
    superseded = {o.name for o in mds[0].objects
                  if any(s <= o.offset and o.end <= e for s, e in newer)}
    # the tip's _sha256file is streamed twice (its scan, then the image check)
    reads = [n for n in reads if not n.endswith("_sha256file")]
    assert len(reads) == len(set(reads))  # no object read twice
    assert not superseded & set(reads)
    assert _sha256(target) == manifest["backups"][2]["volume_sha256"]


def _assert_cinder_layout_or_merged(ours, theirs):
    """Each of Cinder's objects lies inside one of ours; an object of ours is either
    exactly Cinder's (same md5) or joins several of Cinder's across small gaps, and the
    merged gaps add at most 10 % of Cinder's bytes."""
    for o in ours:
        inside = [t for t in theirs if o.offset <= t.offset and t.end <= o.end]
        assert inside and inside[0].offset == o.offset and inside[-1].end == o.end
        if len(inside) == 1:
            assert (inside[0].length, inside[0].md5) == (o.length, o.md5)
    assert sum(len([o for o in ours if o.offset <= t.offset and t.end <= o.end]) == 1
               for t in theirs) == len(theirs)
    assert sum(o.length for o in ours) <= 1.1 * sum(t.length for t in theirs)


@pytest.mark.parametrize("case", CASES)
def test_ember_backups_of_the_fixture_volumes_restore(case, images, tmp_path):
    """The same volumes and settings, backed up by Ember (full + incrementals), give
    Cinder's layout and restore bit-exact at every point."""
    manifest = _manifest(case)
    conf = _conf(manifest)
    driver = MemoryBackupDriver(conf, store=MemoryStore())
    engine = Engine(driver, conf)
    chain = []
    for point, backup in enumerate(manifest["backups"]):
        bid = "%08d-0000-4000-8000-%012d" % (point, point)
        member = ChainMember(bid, fmt.posix_container(bid),
                             fmt.posix_prefix(manifest["volume"]["id"], "20250101000000", bid))
        spec = BackupSpec(backup_id=bid, volume_id=manifest["volume"]["id"],
                          source_path=str(images / case / ("point-%d.img" % point)),
                          container=member.container, prefix=member.prefix,
                          created_at="2025-01-01 00:00:00+00:00", name="b%d" % point,
                          parent=chain[-1] if chain else None)
        result = engine.backup(spec)
        chain.append(member)
        # Cinder's layout, or fewer objects where small unchanged gaps were merged
        assert result.object_count <= backup["object_count"]
        sha_doc = fmt.parse_sha256file(
            driver.get_object(member.container, fmt.sha256file_name(member.prefix)), bid, "s")
        cinder_sha = next(DATA.joinpath(case, "repo").rglob(
            backup["service_metadata"] + "_sha256file")).read_bytes()
        assert sha_doc.sha256s == json.loads(cinder_sha)["sha256s"]
        ours = engine.read_metadata(member).objects
        theirs = fmt.parse_metadata(next(DATA.joinpath(case, "repo").rglob(
            backup["service_metadata"] + "_metadata")).read_bytes(), bid, "m").objects
        _assert_cinder_layout_or_merged(ours, theirs)
        target = _zero_file(tmp_path / ("r%d.img" % point), backup["volume_size_bytes"])
        engine.restore(chain, target, target_is_new=True)
        assert _sha256(target) == backup["volume_sha256"]
