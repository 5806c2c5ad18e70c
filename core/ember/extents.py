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
    start = None
    for i, digest in enumerate(digests):
        changed = digest != parent[first_block + i]
        if changed and start is None:
            start = i
        elif not changed and start is not None:
            yield chunk_offset + start * block_size, (i - start) * block_size
            start = None
    if start is not None:
        off = start * block_size
        yield chunk_offset + off, chunk_length - off


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
