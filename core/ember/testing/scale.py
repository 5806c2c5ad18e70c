"""The scale suite: a chain of a 1 GiB volume (or larger) on a real store, at the sizes
where size-dependent bugs live (issue 18: every Swift incremental of a volume over
~480 MiB failed, because a ``_sha256file`` over 1 MiB was read cut short).

Full backup, incremental, second incremental; each point restored bit-exact; the chain
verified; then every backup deleted, newest first, until no object is left. One test,
``test_gib_chain``, for every store: a plugin's test module subclasses
``ScaleConformance`` with a ``driver`` fixture (as for ``ChainConformance``) configured
with a SHA block of at most ``MAX_SHA_BLOCK`` bytes, so that the volume's
``_sha256file`` holds over ``MIN_SHA256FILE`` bytes, and objects of at most
``MAX_OBJECT_SIZE``. ``volume_size`` may be raised by a subclass (Swift runs 2 GiB).

The volume is sparse-ish but real: 1/16 of it data (incompressible and compressible
runs spread over the whole volume), the rest holes, so the suite takes about a minute a
store on a loaded machine instead of the hour a dense 1 GiB chain would.
"""

from __future__ import annotations

import random
import uuid

import pytest

from ember.engine import format as fmt
from ember.repository.verify import verify_chain
from ember.testing.chain import ChainConformance, Volume, sha256_of
from ember.testing.conformance import random_bytes

GIB = 1 << 30
#: the ``_sha256file`` of the volume must be larger than this (issue 18: over 4 MiB)
MIN_SHA256FILE = 4 << 20
#: a block of 16 KiB gives a 1 GiB volume 65,536 digests, a ~4.7 MB ``_sha256file``
MAX_SHA_BLOCK = 16 * 1024
MAX_OBJECT_SIZE = 64 << 20
#: one extent of data every STRIDE bytes; 1/16 of the volume is data
STRIDE, EXTENT = 16 << 20, 1 << 20


class ScaleConformance(ChainConformance):
    """``test_gib_chain`` on the driver under test (and ``ChainConformance``'s helpers;
    its own tests are not collected again here)."""

    volume_size = GIB

    # ChainConformance's tests run in the plugin's chain module, not a second time here
    test_chain_restores_every_point = None
    test_delete_removes_every_object = None
    test_missing_object_fails_restore = None
    test_corrupt_object_fails_restore = None

    @pytest.fixture
    def sizes(self, layout):
        obj, block = layout.object_size, layout.sha_block_size
        if block > MAX_SHA_BLOCK or obj > MAX_OBJECT_SIZE or obj % block:
            pytest.fail("the scale suite needs a driver configured with a SHA block of at "
                        "most %d bytes and objects of at most %d bytes, a multiple of the "
                        "block; this one has object %d, block %d"
                        % (MAX_SHA_BLOCK, MAX_OBJECT_SIZE, obj, block), pytrace=False)
        return obj, block, self.volume_size

    @pytest.fixture
    def volume(self, tmp_path, sizes):
        """Holes, with a 1 MiB extent of data every 16 MiB: incompressible, then
        compressible (a log), alternately; the last byte is data too."""
        _obj, _block, size = sizes
        image = Volume(tmp_path / "volume.img", size)
        text = b"".join(b"line %08d of a compressible log file\n" % n
                        for n in range(EXTENT // 40 + 1))[:EXTENT]
        with open(image.path, "wb") as out:
            out.truncate(size)
            for n, offset in enumerate(range(0, size, STRIDE)):
                out.seek(offset + (n * 7919 * 4096) % (STRIDE - EXTENT))
                out.write(random_bytes(EXTENT, n) if n % 2 == 0 else text)
            out.seek(size - 1)
            out.write(b"\x01")
        return image

    @pytest.mark.slow
    def test_gib_chain(self, driver, engine, container, volume, sizes, tmp_path, backup):
        obj, block, size = sizes
        volume_id = str(uuid.uuid4())
        chain, points = [], []

        def backup_point():
            member, result = backup(volume_id, chain[-1] if chain else None)
            chain.append(member)
            points.append(volume.snapshot())
            return member, result

        member, result = backup_point()  # full
        assert result.object_count == -(-size // obj)
        sha256file = fmt.sha256file_name(member.prefix)
        listed = len(driver.get_object(container, sha256file))
        assert listed > MIN_SHA256FILE, "the _sha256file is only %d bytes" % listed

        self._change(volume, size, block, seed=1)
        member, result = backup_point()  # incremental: reads the full's _sha256file
        assert result.object_count > 0
        self._change(volume, size, block, seed=2)
        backup_point()  # second incremental

        for index in range(len(chain)):
            restored = self._restore_new(engine, chain[:index + 1], size, tmp_path, index)
            assert restored == points[index], "point %d restored differs" % index

        report = verify_chain(driver, chain, layout=engine.layout)
        assert not report.damaged, report.summary()

        for member in reversed(chain):
            engine.delete(container, member.prefix)
        assert list(driver.list_objects(container, "")) == []

    @staticmethod
    def _change(volume: Volume, size: int, block: int, seed: int) -> None:
        """Blocks of data everywhere (into holes and over data), a run across an object
        boundary, data overwritten by zeros, and an unaligned write."""
        rng = random.Random(seed)
        for n in range(64):
            volume.write(rng.randrange(size // block) * block,
                         random_bytes(block, 1000 * seed + n))
        volume.write(STRIDE - block, random_bytes(4 * block, 77 * seed))
        volume.write(0, bytes(EXTENT))
        volume.write(size // 2 + 12345 * seed, b"unaligned" * 99)

    @staticmethod
    def _restore_new(engine, chain, size: int, tmp_path, index: int) -> str:
        target = tmp_path / ("restored-%d.img" % index)
        with open(target, "wb") as image:
            image.truncate(size)
        engine.restore(chain, str(target), target_is_new=True)
        digest = sha256_of(target)
        target.unlink()
        return digest


__all__ = ["ScaleConformance", "GIB", "MAX_SHA_BLOCK", "MIN_SHA256FILE"]
