"""Byte-range arithmetic of backups: changed runs and chain merging."""

from __future__ import annotations

import bisect
from typing import Sequence


def changed_runs(digests: Sequence[str], parent: Sequence[str], first_block: int,
                 chunk_offset: int, chunk_length: int, block_size: int):
    """Maximal runs of blocks whose digest differs from the parent's, inside one chunk.

    ``digests`` are the chunk's block digests, block ``i`` being global block
    ``first_block + i``. Yields ``(offset, length)`` in volume order; runs never leave
    the chunk (Cinder: extents never span object-size boundaries)."""
    runs = ChangedRuns(parent, first_block, chunk_offset, chunk_length, block_size)
    yield from runs.feed(digests)
    yield from runs.close()


class ChangedRuns:
    """``changed_runs`` fed piece by piece: ``feed`` takes the next block digests of the
    chunk and returns the runs they closed, so a run can be written while later blocks
    are still being hashed; ``close`` returns the run still open at the chunk's end.
    Feeding the digests in any split gives the same runs as ``changed_runs``."""

    def __init__(self, parent: Sequence[str], first_block: int, chunk_offset: int,
                 chunk_length: int, block_size: int):
        self._parent, self._first = parent, first_block
        self._offset, self._length, self._block = chunk_offset, chunk_length, block_size
        self._next = 0  # chunk-relative index of the next block fed
        self._start = None  # chunk-relative index where the open run began

    def feed(self, digests: Sequence[str]) -> list[tuple[int, int]]:
        closed, parent, base = [], self._parent, self._first + self._next
        for i, digest in enumerate(digests):
            changed = digest != parent[base + i]
            if changed and self._start is None:
                self._start = self._next + i
            elif not changed and self._start is not None:
                closed.append((self._offset + self._start * self._block,
                               (self._next + i - self._start) * self._block))
                self._start = None
        self._next += len(digests)
        return closed

    def close(self) -> list[tuple[int, int]]:
        if self._start is None:
            return []
        off, self._start = self._start * self._block, None
        return [(self._offset + off, self._length - off)]


class Coverage:
    """Disjoint, sorted byte ranges already claimed by newer chain members."""

    def __init__(self):
        self._starts: list[int] = []
        self._ends: list[int] = []

    def claim(self, start: int, end: int) -> list[tuple[int, int]]:
        """Mark [start, end) covered; return its parts that were not covered before."""
        if end <= start:
            return []
        free = []
        i = bisect.bisect_right(self._ends, start)
        pos = start
        j = i
        while j < len(self._starts) and self._starts[j] < end:
            if self._starts[j] > pos:
                free.append((pos, self._starts[j]))
            pos = max(pos, self._ends[j])
            j += 1
        if pos < end:
            free.append((pos, end))
        # merge [start, end) with the overlapped/adjacent ranges i..j-1
        new_start = min(start, self._starts[i]) if i < j else start
        new_end = max(end, self._ends[j - 1]) if i < j else end
        self._starts[i:j] = [new_start]
        self._ends[i:j] = [new_end]
        return free


class Ranges:
    """A set of integers kept as disjoint, sorted ``[start, end)`` ranges: memory grows
    with the number of ranges, never with their lengths."""

    def __init__(self):
        self._starts: list[int] = []
        self._ends: list[int] = []

    def add(self, start: int, end: int) -> None:
        if end > start:
            self.remove(start, end)
            i = bisect.bisect_left(self._starts, start)
            self._starts.insert(i, start)
            self._ends.insert(i, end)

    def remove(self, start: int, end: int) -> None:
        """Take ``[start, end)`` out, splitting a range that holds it."""
        i = bisect.bisect_right(self._ends, start)
        j = i
        keep_s, keep_e = [], []
        while j < len(self._starts) and self._starts[j] < end:
            if self._starts[j] < start:
                keep_s.append(self._starts[j])
                keep_e.append(start)
            if self._ends[j] > end:
                keep_s.append(end)
                keep_e.append(self._ends[j])
            j += 1
        self._starts[i:j] = keep_s
        self._ends[i:j] = keep_e

    def __contains__(self, value: int) -> bool:
        i = bisect.bisect_right(self._starts, value) - 1
        return i >= 0 and value < self._ends[i]
