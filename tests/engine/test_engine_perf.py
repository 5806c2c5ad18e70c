"""The engine's performance paths keep their guarantees: documents are written only
after ``driver.flush`` (objects durable first) and flushed again; incremental runs are
written while later pieces are still being hashed; small objects overlap their puts up
to the driver's concurrency, and their reads on restore too; small objects skip the compressibility sample; runs found
piece by piece equal the whole-chunk computation; the zero test is exact."""

from __future__ import annotations

import array
import hashlib
import random
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ember.engine import blocks, compression
from ember.engine import backup_run, restore_run
from ember.engine import format as fmt
from ember.driver import DriverCapabilities
from ember.engine.engine import BackupSpec, ChainMember, Engine
from ember.engine.extents import ChangedRuns, GapBudget, changed_runs
from ember.engine.pipeline import Window
from ember.testing.config import make_conf
from ember.testing.memory import MemoryBackupDriver, MemoryStore
from ember.wrappers import DriverWrapper
from ember.testing.services import PATIENCE

BLOCK = 4096


class Recorder(DriverWrapper):
    """Logs document puts, data-object commits (a streamed commit or a whole put) and
    flushes in order; ``commit_delay`` slows every data commit (a round trip or an
    fsync) and the peak of concurrent ones is kept. With ``gate`` set, the first commits
    wait until that many are in flight at once (or, once, ``PATIENCE``): whether the
    engine overlaps them then depends on what it allows, not on how fast it is."""

    def __init__(self, inner, commit_delay: float = 0.0, max_concurrency: int = 8,
                 round_trips: bool = True):
        super().__init__(inner)
        self.capabilities = DriverCapabilities(max_concurrency=max_concurrency,
                                               round_trips=round_trips)
        self.events, self.delay = [], commit_delay
        self.lock = threading.Condition()
        self.active = self.peak = self.gate = 0
        self.reading = self.read_peak = self.read_gate = 0  # the same for open readers
        self.committed = {}  # name -> threading.Event

    def _log(self, *event):
        with self.lock:
            self.events.append(event)

    def put_object(self, container, name, data):
        if fmt.is_document(name[:name.rindex("_")], name):
            self._log("put", name)
            self.inner.put_object(container, name, data)
        else:  # a small data object, put whole
            self._commit(name, lambda: self.inner.put_object(container, name, data))

    def _commit(self, name, do):
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.lock.notify_all()
            self.lock.wait_for(lambda: self.active >= self.gate, PATIENCE)
            self.gate = 0  # passed (or never reached, which the peak shows)
        time.sleep(self.delay)
        do()
        with self.lock:
            self.active -= 1
            self.events.append(("commit", name))
            self.committed.setdefault(name, threading.Event()).set()

    def flush(self, container):
        self._log("flush", container)
        self.inner.flush(container)

    def open_reader(self, container, name):
        """Counts data objects open for reading at once (``reading``, ``read_peak``);
        with ``read_gate`` set, the first readers wait until that many are open."""
        inner = self.inner.open_reader(container, name)
        if fmt.is_document(name[:name.rindex("_")], name):
            return inner
        rec = self
        with self.lock:
            self.reading += 1
            self.read_peak = max(self.read_peak, self.reading)
            self.lock.notify_all()
            self.lock.wait_for(lambda: self.reading >= self.read_gate, PATIENCE)
            self.read_gate = 0

        class Reader:
            def read(self, n=-1):
                return inner.read(n)

            def close(self):
                with rec.lock:
                    rec.reading -= 1
                getattr(inner, "close", lambda: None)()

        return Reader()

    def open_writer(self, container, name):
        rec, inner = self, self.inner.open_writer(container, name)

        class Writer:
            def write(self, data):
                inner.write(data)

            def abort(self):
                inner.abort()

            def commit(self):
                rec._commit(name, inner.commit)

        return Writer()


def _engine(conf, **kw):
    rec = Recorder(MemoryBackupDriver(conf, store=MemoryStore()), **kw)
    return Engine(rec, conf), rec


def _backup(engine, source, bid, parent=None):
    member = ChainMember(bid, "c", fmt.posix_prefix("vol", "20250101000000", bid))
    engine.backup(BackupSpec(backup_id=bid, volume_id="vol", source_path=str(source),
                             container="c", prefix=member.prefix, created_at="now",
                             parent=parent))
    return member


def _restore(engine, chain, tmp_path, size):
    target = tmp_path / "restored"
    target.write_bytes(b"")
    engine.restore(chain, str(target), target_is_new=True)
    return target.read_bytes()[:size]


def _text(n, seed):
    rng = random.Random(seed)
    return bytes(rng.choices(b"abcdefgh ", k=n))


def test_documents_follow_a_flush_and_are_flushed(tmp_path):
    conf = make_conf(backup_file_size=16 * BLOCK, backup_sha_block_size_bytes=BLOCK,
                     backup_compression_algorithm="zlib")
    engine, rec = _engine(conf)
    source = tmp_path / "vol"
    source.write_bytes(_text(100 * BLOCK, 1))
    member = _backup(engine, source, "b1")
    kinds = [e[0] for e in rec.events]
    # the _sha256file is streamed while the objects are written, committed after a flush
    sha = rec.events.index(("commit", fmt.sha256file_name(member.prefix)))
    assert kinds[sha - 1] == "flush" and "commit" not in kinds[sha + 1:]
    assert kinds.count("commit") == 7 + 1  # 100 blocks in objects of 16, and the list
    assert rec.events[-2:] == [("put", fmt.metadata_name(member.prefix)), ("flush", "c")]


def _chain_engine(tmp_path, **kw):
    """Objects are whole volumes (one chunk), pieces 8 blocks: an incremental sees
    many pieces in its one chunk, as with posix's default object size."""
    conf = make_conf(backup_file_size=1024 * BLOCK, backup_sha_block_size_bytes=BLOCK,
                     backup_compression_algorithm="zstd", backup_engine_threads=2)
    engine, rec = _engine(conf, **kw)
    engine.piece_size = 8 * BLOCK
    return engine, rec


def test_incremental_writes_runs_while_later_pieces_are_hashed(tmp_path, monkeypatch):
    engine, rec = _chain_engine(tmp_path)
    data = bytearray(_text(256 * BLOCK, 2))
    source = tmp_path / "vol"
    source.write_bytes(data)
    full = _backup(engine, source, "full")
    data[0:10] = b"X" * 10  # a run in the first piece ...
    data[-10:] = b"Y" * 10  # ... and one in the last
    source.write_bytes(data)
    first = fmt.object_name(fmt.posix_prefix("vol", "20250101000000", "incr"), 1)
    last_piece = (256 - 8) * BLOCK
    seen_before_last_scan = []
    scan = backup_run.BackupRun._scan_piece

    def slow_last_scan(run, rng):
        if rng[0] == last_piece:  # would wait forever if runs were only written at the end
            event = rec.committed.setdefault(first, threading.Event())
            seen_before_last_scan.append(event.wait(timeout=PATIENCE))
        return scan(run, rng)

    monkeypatch.setattr(backup_run.BackupRun, "_scan_piece", slow_last_scan)
    incr = _backup(engine, source, "incr", parent=full)
    assert seen_before_last_scan == [True]
    md = engine.read_metadata(incr)
    assert [(o.offset, o.length) for o in md.objects] == [(0, BLOCK), (255 * BLOCK, BLOCK)]
    assert _restore(engine, [full, incr], tmp_path, len(data)) == bytes(data)


def test_small_objects_overlap_their_puts_up_to_the_drivers_concurrency(tmp_path):
    engine, rec = _chain_engine(tmp_path, commit_delay=0.05, max_concurrency=6)
    data = bytearray(_text(256 * BLOCK, 3))
    source = tmp_path / "vol"
    source.write_bytes(data)
    full = _backup(engine, source, "full")
    for b in range(0, 256, 8):  # 32 one-block runs
        data[b * BLOCK] ^= 0xFF
    source.write_bytes(data)
    rec.peak, rec.gate = 0, 3
    incr = _backup(engine, source, "incr", parent=full)
    assert len(engine.read_metadata(incr).objects) == 32
    assert 3 <= rec.peak <= 6  # more than two in flight, never more than the driver allows
    assert _restore(engine, [full, incr], tmp_path, len(data)) == bytes(data)


def _full_then_32_runs(engine, tmp_path):
    """A full backup, then an incremental of 32 one-block runs: (chain, final data)."""
    data = bytearray(_text(256 * BLOCK, 4))
    source = tmp_path / "vol"
    source.write_bytes(data)
    full = _backup(engine, source, "full")
    for b in range(0, 256, 8):
        data[b * BLOCK] ^= 0xFF
    source.write_bytes(data)
    incr = _backup(engine, source, "incr", parent=full)
    assert len(engine.read_metadata(incr).objects) == 32
    return [full, incr], bytes(data)


def test_small_objects_overlap_their_reads_up_to_the_drivers_concurrency(tmp_path):
    """A restore reads an incremental's many small objects with the driver's
    concurrency in flight (6 here), not one per engine thread plus one (3)."""
    engine, rec = _chain_engine(tmp_path, max_concurrency=6)
    chain, data = _full_then_32_runs(engine, tmp_path)
    rec.read_peak, rec.read_gate = 0, 5
    assert _restore(engine, chain, tmp_path, len(data)) == data
    assert 5 <= rec.read_peak <= 6


def test_a_local_store_reads_one_object_per_engine_thread(tmp_path, monkeypatch):
    """Without round trips to hide, a restore keeps one object per engine thread in
    flight (2 here), not the driver's concurrency (6): more would only contend for the
    GIL with the full's inflate."""
    engine, rec = _chain_engine(tmp_path, max_concurrency=6, round_trips=False)
    chain, data = _full_then_32_runs(engine, tmp_path)
    limits = []
    monkeypatch.setattr(restore_run, "Window",
                        lambda pool, limit, *a, **kw: limits.append(limit) or Window(
                            pool, limit, *a, **kw))
    rec.read_peak, rec.read_gate = 0, 2  # both threads do read at once
    assert _restore(engine, chain, tmp_path, len(data)) == data
    assert (limits, rec.read_peak) == ([2], 2)


def test_small_objects_skip_the_sample_and_fall_back_to_raw(tmp_path, monkeypatch):
    calls = []
    real = compression.looks_incompressible
    # the object's samples, not the spans a deflated piece is judged by
    monkeypatch.setattr(compression, "looks_incompressible",
                        lambda s: (len(s) > compression.SPAN_SAMPLE and calls.append(len(s)))
                        or real(s))
    size = backup_run.SMALL_OBJECT
    conf = make_conf(backup_file_size=size, backup_sha_block_size_bytes=BLOCK,
                     backup_compression_algorithm="zlib")
    engine, _ = _engine(conf)
    data = _text(size, 4) + random.Random(5).randbytes(size)
    source = tmp_path / "vol"
    source.write_bytes(data)
    member = _backup(engine, source, "small")
    assert calls == []
    assert [o.compression for o in engine.read_metadata(member).objects] == ["zlib", "none"]
    assert _restore(engine, [member], tmp_path, len(data)) == data

    conf = make_conf(backup_file_size=2 * size, backup_sha_block_size_bytes=BLOCK,
                     backup_compression_algorithm="zlib")
    engine, _ = _engine(conf)
    _backup(engine, source, "big")
    assert calls  # an object above SMALL_OBJECT is sampled first


def _digest(tag: str) -> bytes:
    return hashlib.sha256(tag.encode()).digest()


@settings(max_examples=80, deadline=None)
@given(changed=st.lists(st.booleans(), min_size=1, max_size=40),
       cuts=st.lists(st.integers(0, 40), max_size=6), tail=st.integers(1, 16),
       merge=st.booleans())
def test_runs_fed_piece_by_piece_equal_the_whole_chunk(changed, cuts, tail, merge):
    parent = b"".join(_digest("p%d" % i) for i in range(len(changed)))
    digests = b"".join(_digest("n%d" % i) if c else parent[i * 32:i * 32 + 32]
                       for i, c in enumerate(changed))
    length = (len(changed) - 1) * 16 + tail  # the chunk's last block may be short

    def budget():
        return GapBudget(2, fraction=0.5) if merge else None

    whole = list(changed_runs(digests, parent, 1000, length, 16, budget()))
    runs = ChangedRuns(1000, length, 16, budget())
    got, start = [], 0
    for cut in sorted(set(cuts)) + [len(changed)]:
        if cut >= start:
            got += runs.feed(digests[start * 32:cut * 32], parent[start * 32:cut * 32])
            start = cut
    assert got + runs.close() == whole
    # every changed block is inside a run; runs are disjoint, in order, inside the chunk
    covered = set()
    for off, n in whole:
        assert 1000 <= off and off + n <= 1000 + length
        blocks_ = set(range((off - 1000) // 16, (off - 1000 + n + 15) // 16))
        assert not covered & blocks_
        covered |= blocks_
    assert {i for i, c in enumerate(changed) if c} <= covered
    unchanged_stored = len(covered) - sum(changed)
    assert unchanged_stored <= (0.5 * sum(changed) if merge else 0)


def test_small_gaps_are_merged_within_the_budget():
    """Runs 1 block apart merge while merged gaps stay under 10 % of the changed blocks;
    a gap above the limit never merges."""
    parent = b"".join(_digest("p%d" % i) for i in range(200))
    changed = set(range(0, 30)) | {31} | set(range(40, 60)) | {62} | {120}
    digests = b"".join(_digest("n%d" % i) if i in changed else parent[i * 32:i * 32 + 32]
                       for i in range(200))
    runs = list(changed_runs(digests, parent, 0, 200 * 16, 16, GapBudget(4)))
    # gaps 30 (1 block) and 60-61 (2) merge: 3 <= 10 % of 53; 32-39 (8) and 63-119 do not
    assert runs == [(0, 32 * 16), (40 * 16, 23 * 16), (120 * 16, 16)]
    plain = list(changed_runs(digests, parent, 0, 200 * 16, 16))
    assert len(plain) == 5


def test_window_budget_bounds_the_cost_in_flight():
    import concurrent.futures as cf
    running, peak, lock = [0], [0], threading.Lock()

    def task(cost):
        with lock:
            running[0] += cost
            peak[0] = max(peak[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= cost
        return cost

    with cf.ThreadPoolExecutor(8) as pool:
        w = Window(pool, 8, budget=10)
        out = []
        for cost in [4, 4, 4, 1, 1, 1, 1, 1, 1, 9, 2]:
            out += w.submit(task, cost, cost=cost)
        out += w.drain()
    assert out == [4, 4, 4, 1, 1, 1, 1, 1, 1, 9, 2]
    assert peak[0] < 10 + 9  # never the budget plus more than the one task submitted


def test_an_unordered_window_lets_short_tasks_pass_a_long_one():
    import concurrent.futures as cf
    shorts_back = threading.Event()

    def long_task():
        # PATIENCE only bounds a failure: in order, the window would wait here first
        return "long" if shorts_back.wait(PATIENCE) else "long, held back the others"

    with cf.ThreadPoolExecutor(3) as pool:
        w = Window(pool, 3, ordered=False)
        out = w.submit(long_task)
        for i in range(6):
            out += w.submit(lambda i=i: i)
        # five short ones came back; the long task and one short one are still in flight
        assert len(out) == 5 and "long" not in out
        shorts_back.set()
        rest = w.drain()
        assert "long" in rest and sorted(out + rest, key=str) == [0, 1, 2, 3, 4, 5, "long"]


def test_an_unordered_window_raises_a_failed_task_before_the_long_one_ends():
    import concurrent.futures as cf
    release = threading.Event()

    def long_task():
        return "released" if release.wait(PATIENCE) else "ran out of patience"

    def failing_task():
        raise ValueError("object 2 is corrupt")

    with cf.ThreadPoolExecutor(2) as pool:
        w = Window(pool, 2, ordered=False)
        assert w.submit(long_task) == []
        try:
            # in order, this submit would wait for the long task and raise nothing
            with pytest.raises(ValueError, match="^object 2 is corrupt$"):
                w.submit(failing_task)
        finally:
            release.set()
        assert w.drain() == ["released"]


@pytest.mark.parametrize("data,zero", [
    (b"", True), (bytes(100_000), True), (bytes(99_999) + b"\1", False),
    (b"\1" + bytes(99_999), False), (bytes(50_000) + b"\x80" + bytes(49_999), False),
    (array.array("I", [0] * 100), True), (array.array("I", [0] * 99 + [1 << 31]), False),
])
def test_is_zero_is_exact(data, zero):
    assert blocks.is_zero(data) is zero
    assert blocks.is_zero(memoryview(data)) is zero


def test_block_digests_of_zero_blocks_are_sha256():
    data = bytes(3 * BLOCK) + b"x" + bytes(BLOCK - 1) + bytes(100)
    expected = b"".join(hashlib.sha256(data[i:i + BLOCK]).digest()
                        for i in range(0, len(data), BLOCK))
    assert blocks.block_digests(data, BLOCK) == expected


@settings(max_examples=60, deadline=None)
@given(writes=st.lists(st.tuples(st.integers(0, 40 * BLOCK), st.integers(1, 3 * BLOCK)),
                       max_size=8),
       size=st.integers(1, 48 * BLOCK), first=st.integers(0, 40))
def test_digests_of_a_sparse_file_read_only_its_data_and_equal_reading_it_all(
        tmp_path_factory, writes, size, first):
    path = tmp_path_factory.mktemp("sparse") / "target.img"
    with open(path, "wb") as f:
        f.truncate(size)
        for offset, length in writes:
            if offset < size:  # random bytes, and a written run of zeros now and then
                f.seek(offset)
                n = min(length, size - offset)
                f.write(bytes(n) if length % 5 == 0 else random.randbytes(n))
    offset = min(first * BLOCK, (size - 1) // BLOCK * BLOCK)
    length = size - offset
    whole = path.read_bytes()[offset:]
    with blocks.Source(str(path)) as source:
        read = []
        real_read = source.read
        source.read = lambda off, n: read.append((off, n)) or real_read(off, n)
        got = source.digests(offset, length, BLOCK)
        holes = source.holes(offset, offset + length, 1)
    assert got == blocks.block_digests(whole, BLOCK)
    # no byte read lies in a block that is wholly a hole
    for off, n in read:
        for b in range(off // BLOCK, -(-(off + n) // BLOCK)):
            lo, hi = b * BLOCK, min((b + 1) * BLOCK, offset + length)
            assert not any(s <= lo and hi <= e for s, e in holes), (off, n, holes)
