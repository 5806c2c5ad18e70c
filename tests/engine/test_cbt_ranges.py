"""Which ranges change tracking reads, from extent maps given as data (the real
FIEMAP on XFS is exercised by tests/service/test_change_tracking.py)."""

from ember.engine.cbt import ChangedSet, Extent, differing_ranges

K = 4096
UNWRITTEN, DELALLOC = 0x800, 0x4


def ext(logical, physical, length, flags=0):
    return Extent(logical * K, physical * K, length * K, flags)


def test_shared_blocks_are_unchanged_and_moved_blocks_changed():
    old = [ext(0, 100, 10)]
    new = [ext(0, 100, 3), ext(3, 500, 2), ext(5, 105, 5)]  # blocks 3-4 rewritten (CoW)
    assert differing_ranges(old, new, 10 * K, 10 * K) == [(3 * K, 5 * K)]


def test_holes_equal_holes_and_differ_from_data():
    old = [ext(0, 100, 2), ext(6, 106, 2)]  # blocks 2-5 a hole
    new = [ext(0, 100, 2), ext(4, 900, 1), ext(6, 106, 2)]  # block 4 written into it
    assert differing_ranges(old, new, 8 * K, 8 * K) == [(4 * K, 5 * K)]
    # a range punched out of the new file differs too
    assert differing_ranges(old, [ext(0, 100, 1), ext(6, 106, 2)], 8 * K, 8 * K) == [
        (1 * K, 2 * K)]


def test_unwritten_or_unknown_extents_are_read():
    old = [ext(0, 100, 4)]
    assert differing_ranges(old, [ext(0, 100, 4, UNWRITTEN)], 4 * K, 4 * K) == [(0, 4 * K)]
    # delayed allocation has no physical place: never equal, even to itself
    delayed = [ext(0, 0, 4, DELALLOC)]
    assert differing_ranges(delayed, delayed, 4 * K, 4 * K) == [(0, 4 * K)]


def test_growth_and_truncation():
    old = [ext(0, 100, 4)]
    assert differing_ranges(old, [ext(0, 100, 4), ext(4, 300, 2)], 4 * K, 6 * K) == [
        (4 * K, 6 * K)]  # everything past the old end
    assert differing_ranges(old, [ext(0, 100, 2)], 4 * K, 2 * K) == []  # cut: same prefix


def test_changed_set_widens_to_sha_blocks_and_clips_to_pieces():
    block, size = 32768, 100 * 1024
    changed = ChangedSet([(70000, 70001), (5000, 5001)], block, size)
    assert changed.ranges == [(0, block), (2 * block, 3 * block)]
    assert changed.bytes == 2 * block
    assert changed.within(block // 2, 2 * block) == [(block // 2, block),
                                                     (2 * block, 2 * block + block // 2)]
    assert changed.within(block, block) == []
    # adjacent ranges merge; the last block ends at the volume's end
    assert ChangedSet([(0, 1), (block, block + 1)], block, size).ranges == [(0, 2 * block)]
    assert ChangedSet([(size - 1, size)], block, size).ranges == [(3 * block, size)]
