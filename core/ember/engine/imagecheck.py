"""Checking a restored image against the chain tip's ``_sha256file``.

The list holds one SHA-256 per block of the whole volume as it was backed up, so it
describes the *final image*: checking every block of the restored target against it
checks the result end to end (stronger than each object's md5, at about half the CPU,
and split across threads by block). It also tells which blocks are zero: a restore
onto a new (all-zero) target need not read them at all.

Both passes stream the list (a 1 TiB volume's has 33 million entries): ``scan`` before a
byte is written (its shape, and where the data is), ``verify`` after the writes.
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass
from typing import Callable, Optional

from ember.engine import blocks
from ember.engine import format as fmt
from ember.errors import InvalidBackup, RestoreMismatch

SHA256, MD5, BOTH = "sha256", "md5", "both"
CHOICES = (SHA256, MD5, BOTH)
_SCAN_BATCH = 1 << 16  # digests per step of the scan (2 MiB)
MAX_DATA_RUNS = 1 << 20  # beyond this many data runs the map is dropped (memory bound)


@dataclass
class ListShape:
    """What the scan found: the block size, and where the volume holds data."""

    block_size: int
    blocks: int
    #: sorted disjoint byte ranges [start, end) holding non-zero blocks; None if unknown
    data: Optional[tuple[list, list]]


def scan(stream, backup_id: str, volume_size: int) -> Optional[ListShape]:
    """Read the whole list once: check its block count against ``volume_size`` and map
    the runs of non-zero blocks (by digest: a block whose digest is the zero block's).
    None if the list covers less than the volume (then md5s are checked instead)."""
    block = stream.reader.chunk_size()
    starts, ends = [], []
    count, last = 0, b""
    while True:
        got = stream.take(_SCAN_BATCH)
        if not got:
            break
        if block is not None:
            _data_runs(got, count, blocks.zero_digest(block), starts, ends)
        count += len(got) // fmt.DIGEST_SIZE
        last = got[-fmt.DIGEST_SIZE:]
    doc = stream.finish()
    if block is None:  # a layout with chunk_size after the list: no map this time
        block, starts = doc.chunk_size, None
    expected = -(-volume_size // block)
    if count < expected:
        # the volume file shrank before this incremental (its tail then comes from older
        # members, as Cinder restores it): the list does not describe the whole image
        return None
    if count > expected:
        raise InvalidBackup("backup %s: its _sha256file lists %d blocks of %d bytes, but its "
                            "objects cover %d bytes (%d blocks); the backup is damaged"
                            % (backup_id, count, block, volume_size, expected))
    data = None
    if starts is not None and len(starts) <= MAX_DATA_RUNS:
        tail = volume_size - (count - 1) * block
        if tail < block and ends and ends[-1] == count and \
                last == blocks.zero_digest(tail):  # a short last block of zeros
            ends[-1] -= 1
            if starts[-1] == ends[-1]:
                del starts[-1], ends[-1]
        data = ([s * block for s in starts], [min(e * block, volume_size) for e in ends])
    return ListShape(block, count, data)


def _data_runs(digests: bytes, first: int, zero: bytes, starts: list, ends: list) -> None:
    """Append the runs of non-zero digests (block indices) in ``digests``; halving the
    batch keeps the cost proportional to the runs, not the blocks (one memcmp each)."""
    n = len(digests) // fmt.DIGEST_SIZE
    if len(starts) > MAX_DATA_RUNS or digests == zero * n:
        return
    if n == 1:
        if ends and ends[-1] == first:
            ends[-1] = first + 1
        else:
            starts.append(first)
            ends.append(first + 1)
        return
    half = n // 2
    _data_runs(digests[:half * fmt.DIGEST_SIZE], first, zero, starts, ends)
    _data_runs(digests[half * fmt.DIGEST_SIZE:], first + half, zero, starts, ends)


def only_data(ranges, data) -> list:
    """The parts of ``ranges`` that hold data (``data`` from ``ListShape``)."""
    starts, ends = data
    out = []
    for s, e in ranges:
        i = bisect.bisect_right(ends, s)
        while i < len(starts) and starts[i] < e:
            lo, hi = max(s, starts[i]), min(e, ends[i])
            if lo < hi:
                out.append((lo, hi))
            i += 1
    return out


def verify(stream, shape: ListShape, target: blocks.Source, volume_size: int, *,
           batch: int, map_batches: Callable, check: Callable[[], None],
           writer_of: Callable[[int], str], backup_id: str) -> None:
    """Compare every block of ``target`` with the list, ``batch`` blocks per task, the
    tasks run by ``map_batches(fn, items)`` (ordered, in parallel). The blocks in holes
    of the target read as zeros without being read. ``writer_of(offset)`` names the
    object that wrote a byte. Raises ``RestoreMismatch`` at the first differing blocks."""
    size = shape.block_size

    def digests(first: int) -> tuple[int, bytes]:
        check()
        off = first * size
        length = min(batch * size, volume_size - off)
        return first, target.digests(off, length, size)

    last = shape.blocks - 1
    for first, got in map_batches(digests, range(0, shape.blocks, batch)):
        want = stream.take(len(got) // fmt.DIGEST_SIZE)
        if got != want and not _only_a_shorter_last_block(got, want, first, last, size,
                                                          volume_size, target):
            _mismatch(got, want, first, size, volume_size, writer_of, backup_id)
    stream.finish()


def _only_a_shorter_last_block(got: bytes, want: bytes, first: int, last: int, size: int,
                               volume_size: int, target: blocks.Source) -> bool:
    """True if only the volume's last block differs, and the list's digest is that of a
    shorter last block: an incremental of a volume file that shrank hashed its end at
    the new length, while the restored volume keeps the full backup's size (the bytes
    beyond come from older members, as Cinder restores them)."""
    d = fmt.DIGEST_SIZE
    at = (last - first) * d
    if at < 0 or got[:at] != want[:at] or len(want) != at + d:
        return False
    off = last * size
    data = target.read(off, volume_size - off)
    running = hashlib.sha256()
    for n in range(len(data) - 1):
        running.update(data[n:n + 1])
        if running.copy().digest() == want[at:]:
            return True
    return False


def _mismatch(got: bytes, want: bytes, first: int, size: int, volume_size: int,
              writer_of, backup_id: str) -> None:
    d = fmt.DIGEST_SIZE
    n = len(got) // d
    bad = [i for i in range(n) if got[i * d:(i + 1) * d] != want[i * d:(i + 1) * d]]
    lo = hi = bad[0]
    while hi + 1 in bad:
        hi += 1
    start, end = (first + lo) * size, min((first + hi + 1) * size, volume_size)
    raise RestoreMismatch(
        "backup %s: restored blocks %d-%d (bytes %d-%d) do not match its _sha256file; "
        "they were written from %s; the backup or the target is damaged"
        % (backup_id, first + lo, first + hi, start, end, writer_of(start)))
