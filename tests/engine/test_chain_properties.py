"""Property: any sequence of random writes and backups (a full, then incrementals),
restored at any point, equals that point's bytes; every codec, new and existing targets."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ember.engine import format as fmt
from ember.engine.engine import BackupSpec, ChainMember, Engine
from ember.testing.config import make_conf
from ember.testing.memory import MemoryBackupDriver, MemoryStore

BLOCK = 4096
SIZE = 64 * BLOCK + 1000  # a short tail block too

write = st.tuples(st.integers(0, SIZE - 1), st.integers(1, 3 * BLOCK),
                  st.sampled_from(["zero", "random", "text"]))


def _apply(buf: bytearray, w, rnd) -> None:
    off, n, kind = w
    n = min(n, SIZE - off)
    buf[off:off + n] = {"zero": bytes(n), "random": rnd.randbytes(n),
                        "text": (b"ember %d " % off * n)[:n]}[kind]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(points=st.lists(st.lists(write, max_size=6), min_size=1, max_size=4),
       algorithm=st.sampled_from(["none", "zlib", "gzip", "bz2", "zstd"]),
       object_blocks=st.sampled_from([1, 3, 16, 64]),
       seed=st.integers(0, 2**32 - 1), target_is_new=st.booleans())
def test_any_point_restores_to_its_bytes(tmp_path, points, algorithm, object_blocks, seed,
                                         target_is_new):
    import random
    rnd = random.Random(seed)
    conf = make_conf(backup_file_size=object_blocks * BLOCK, backup_sha_block_size_bytes=BLOCK,
                     backup_compression_algorithm=algorithm, backup_engine_threads=2)
    engine = Engine(MemoryBackupDriver(conf, store=MemoryStore()), conf)
    buf = bytearray(rnd.randbytes(SIZE // 2) + bytes(SIZE - SIZE // 2))
    source = tmp_path / ("vol-%d" % seed)
    chain, snapshots = [], []
    for k, writes in enumerate(points):
        for w in writes:
            _apply(buf, w, rnd)
        source.write_bytes(buf)
        bid = "b%d-%d" % (seed, k)
        member = ChainMember(bid, "c", fmt.posix_prefix("vol", "20250101000000", bid))
        engine.backup(BackupSpec(backup_id=bid, volume_id="vol", source_path=str(source),
                                 container="c", prefix=member.prefix, created_at="now",
                                 parent=chain[-1] if chain else None))
        chain.append(member)
        snapshots.append(bytes(buf))
    for k, expected in enumerate(snapshots):
        target = tmp_path / ("restore-%d-%d" % (seed, k))
        if target_is_new:
            target.write_bytes(bytes(SIZE))
        else:
            target.write_bytes(rnd.randbytes(SIZE + 5000))
        engine.restore(chain[:k + 1], str(target), target_is_new=target_is_new)
        got = target.read_bytes()
        assert got[:SIZE] == expected
        os.unlink(target)
