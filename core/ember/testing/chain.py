"""The chain suite: full backup, incrementals and a restore of every point, bit-exact,
through ``ember.engine.engine.Engine`` and the driver under test.

Same ``driver`` fixture as ``ember.testing.conformance.DriverConformance``. Configure the
driver with a small object size (at most ``MAX_OBJECT_SIZE``, a multiple of at least 4
SHA blocks), e.g. ``make_conf(backup_file_size=262144, backup_sha_block_size_bytes=4096)``
for the posix family or the driver's own object/block size options otherwise; the volume
is 15.5 objects long, so a 256 KiB object makes a 3.9 MiB volume.
"""

from __future__ import annotations

import datetime
import hashlib
import random
import uuid

import pytest

from ember import errors
from ember.engine import format as fmt
from ember.engine.engine import BackupSpec, ChainMember, Engine
from ember.testing.conformance import KitFixtures, random_bytes
from ember.testing.faulty import FaultyDriver
from ember.wrappers import layout_of

MAX_OBJECT_SIZE = 1024 * 1024


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Volume:
    """A volume image in a file, changed in place between backups."""

    def __init__(self, path, size: int):
        self.path, self.size = str(path), size

    def write(self, offset: int, data: bytes) -> None:
        with open(self.path, "r+b") as image:
            image.seek(offset)
            image.write(data)

    def snapshot(self) -> str:
        return sha256_of(self.path)


class ChainConformance(KitFixtures):
    """Backs up a small volume through changes that matter for chains (random blocks,
    a run across an object boundary, data overwritten by zeros, no change, an unaligned
    write) and restores every point onto a new (zeroed) and an existing (dirty) target."""

    @pytest.fixture
    def sizes(self, layout):
        obj, block = layout.object_size, layout.sha_block_size
        if obj > MAX_OBJECT_SIZE or obj % block or obj < 4 * block:
            pytest.fail("the chain suite needs a driver configured with a small object size "
                        "(<= %d, a multiple of >= 4 SHA blocks); this one has object %d, "
                        "block %d" % (MAX_OBJECT_SIZE, obj, block), pytrace=False)
        volume = 15 * obj + (obj // 2 // block) * block
        return obj, block, volume

    @pytest.fixture
    def engine(self, driver, layout):
        return Engine(driver, driver.conf, layout)

    @pytest.fixture
    def volume(self, tmp_path, sizes):
        obj, block, size = sizes
        image = Volume(tmp_path / "volume.img", size)
        half, quarter = size // 2, size // 4
        line = 40  # bytes per line below
        text = b"".join(b"line %08d of a compressible log file\n" % n
                        for n in range(quarter // line + 2))
        with open(image.path, "wb") as out:
            out.write(random_bytes(half, 7))  # incompressible
            out.write(bytes(quarter))  # zeros
            out.write(text[:size - half - quarter])  # compressible
        return image

    @pytest.fixture
    def backup(self, engine, layout, container, volume, written_prefixes):
        """``backup(volume_id, parent=None) -> (ChainMember, BackupResult)``."""

        def run(volume_id, parent=None):
            member, result = self._backup(engine, layout, container, volume, volume_id,
                                          parent, written_prefixes)
            return member, result

        return run

    def _backup(self, engine, layout, container, volume, volume_id, parent, track):
        backup_id = str(uuid.uuid4())
        prefix = layout.object_prefix(volume_id, backup_id, fmt.timestamp())
        track.append(prefix)
        spec = BackupSpec(backup_id=backup_id, volume_id=volume_id, source_path=volume.path,
                          container=container, prefix=prefix,
                          created_at=str(datetime.datetime.now(datetime.timezone.utc)
                                         .replace(microsecond=0)),
                          name="chain-%s" % backup_id[:8], parent=parent)
        result = engine.backup(spec)
        member = ChainMember(backup_id, container, prefix)
        return member, result

    def _restore_both_ways(self, engine, chain, size, tmp_path, index):
        fresh = tmp_path / ("fresh-%d.img" % index)
        with open(fresh, "wb") as target:
            target.truncate(size)
        engine.restore(chain, str(fresh), target_is_new=True)
        dirty = tmp_path / ("dirty-%d.img" % index)
        with open(dirty, "wb") as target:
            target.write(b"\xa5" * size)
        engine.restore(chain, str(dirty), target_is_new=False)
        return sha256_of(fresh), sha256_of(dirty)

    def test_chain_restores_every_point(self, driver, engine, container, volume, sizes,
                                        tmp_path, backup):
        obj, block, size = sizes
        volume_id = str(uuid.uuid4())
        rng = random.Random(11)
        chain, points = [], []

        def backup_point():
            member, result = backup(volume_id, chain[-1] if chain else None)
            chain.append(member)
            points.append(volume.snapshot())
            return member, result

        member, result = backup_point()  # full
        assert result.object_count == -(-size // obj)
        assert sorted(driver.list_objects(container, member.prefix)) == sorted(
            [fmt.object_name(member.prefix, n) for n in range(1, result.object_count + 1)]
            + [fmt.metadata_name(member.prefix), fmt.sha256file_name(member.prefix)])

        for n in range(12):  # scattered blocks
            volume.write(rng.randrange(size // block) * block, random_bytes(block, 100 + n))
        volume.write(obj - block, random_bytes(2 * block, 200))  # a run across a boundary
        backup_point()

        volume.write(0, bytes(3 * block))  # data overwritten by zeros must restore as zeros
        volume.write(size // 2 + block, random_bytes(block, 300))  # data into the zero area
        backup_point()

        member, result = backup_point()  # nothing changed
        assert result.object_count == 0
        assert sorted(driver.list_objects(container, member.prefix)) == sorted(
            [fmt.metadata_name(member.prefix), fmt.sha256file_name(member.prefix)])

        volume.write(12345, b"unaligned" * 11)
        backup_point()

        for index in range(len(chain)):
            fresh, dirty = self._restore_both_ways(engine, chain[:index + 1], size,
                                                   tmp_path, index)
            assert fresh == points[index], "point %d restored onto a new target differs" % index
            assert dirty == points[index], (
                "point %d restored onto an existing, dirty target differs" % index)

    def test_delete_removes_every_object(self, driver, engine, container, backup):
        member, result = backup(str(uuid.uuid4()))
        removed = engine.delete(container, member.prefix)
        assert removed == result.object_count + 2
        assert list(driver.list_objects(container, member.prefix)) == []

    def test_missing_object_fails_restore(self, driver, engine, container, sizes, tmp_path,
                                          backup):
        member, _ = backup(str(uuid.uuid4()))
        lost = fmt.object_name(member.prefix, 2)
        driver.delete_object(container, lost)
        target = tmp_path / "target.img"
        with open(target, "wb") as image:
            image.truncate(sizes[2])
        with pytest.raises(errors.InvalidBackup) as raised:
            engine.restore([member], str(target), target_is_new=True)
        assert member.backup_id in str(raised.value)

    def test_corrupt_object_fails_restore(self, driver, container, sizes, tmp_path, backup):
        member, _ = backup(str(uuid.uuid4()))
        faulty = FaultyDriver(driver)
        damaged = fmt.object_name(member.prefix, 1)
        for operation in ("get_object", "open_reader"):
            faulty.corrupt(operation, times=None, match=lambda name: name == damaged)
        target = tmp_path / "target.img"
        with open(target, "wb") as image:
            image.truncate(sizes[2])
        with pytest.raises(errors.CorruptObject) as raised:
            Engine(faulty, driver.conf, layout_of(driver)).restore([member], str(target),
                                                                   target_is_new=False)
        assert member.backup_id in str(raised.value) and damaged in str(raised.value)


__all__ = ["ChainConformance", "MAX_OBJECT_SIZE"]
