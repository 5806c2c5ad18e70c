"""Changed-block tracking for image files on file systems that can reflink.

Every backup of an image file first makes a reflink clone of it (``FICLONE``: instant,
no data copied, a point-in-time copy) and reads the backup from that clone. After the
backup succeeds the clone is kept, named after the backup, as the volume exactly as that
backup recorded it. The next incremental clones the volume again and compares the
extent maps (``FIEMAP``, after a sync) of the two clones: a range that both map to the
same physical blocks was not written in between, because a write to a shared block
always goes to a new one (copy on write). Only the ranges that differ are read and
hashed; every other block keeps its digest from the parent's ``_sha256file``.

Any doubt reads everything, and the reason is recorded: no clone of the parent (first
backup, deleted, or made by another setting), a file system that cannot reflink, a
block device, an extent without a known physical place (delayed allocation, inline or
encoded data: those ranges are read), or a FIEMAP the kernel refuses.
"""

from __future__ import annotations

import bisect
import errno
import fcntl
import glob
import os
import stat
import struct
from dataclasses import dataclass
from typing import Optional

from ember.volumes import FICLONE

FS_IOC_FIEMAP = 0xC020660B  # linux/fs.h _IOWR('f', 11, struct fiemap)
FIEMAP_FLAG_SYNC = 0x1  # write dirty pages back before mapping
_HEADER = struct.Struct("=QQLLLL")  # struct fiemap, before its extent array
_EXTENT = struct.Struct("=QQQ16xL12x")  # struct fiemap_extent: logical, physical, length, flags
_BATCH = 1024  # extents asked per ioctl
FIEMAP_EXTENT_LAST = 0x1
FIEMAP_EXTENT_UNWRITTEN = 0x800  # allocated, reads as zeros
#: the extent's physical address says nothing about its data: read such ranges
_UNKNOWN = (0x2 | 0x4 | 0x8  # UNKNOWN, DELALLOC, ENCODED
            | 0x80 | 0x100 | 0x200 | 0x400)  # ENCRYPTED, NOT_ALIGNED, DATA_INLINE, DATA_TAIL
_REFUSED = (errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS,
            errno.EPERM, errno.EBADF)


class Doubt(Exception):
    """The extent maps cannot be trusted; read everything (the message says why)."""


@dataclass(frozen=True)
class Extent:
    logical: int
    physical: int
    length: int
    flags: int

    @property
    def end(self) -> int:
        return self.logical + self.length


def fiemap(fd: int, size: int) -> list[Extent]:
    """The extents of ``fd`` over [0, size), after syncing its dirty pages."""
    out, start = [], 0
    while start < size:
        buf = bytearray(_HEADER.size + _BATCH * _EXTENT.size)
        _HEADER.pack_into(buf, 0, start, size - start, FIEMAP_FLAG_SYNC, 0, _BATCH, 0)
        try:
            fcntl.ioctl(fd, FS_IOC_FIEMAP, buf)
        except OSError as exc:
            raise Doubt("the file system refused FIEMAP (%s)" % os.strerror(exc.errno)) from None
        mapped = _HEADER.unpack_from(buf, 0)[3]
        if not mapped:
            break
        last = None
        for i in range(mapped):
            logical, physical, length, flags = _EXTENT.unpack_from(
                buf, _HEADER.size + i * _EXTENT.size)
            last = Extent(logical, physical, length, flags)
            out.append(last)
        if last.flags & FIEMAP_EXTENT_LAST or last.end <= start:
            break
        start = last.end
    return out


def _place(extents: list[Extent], starts: list[int], pos: int):
    """(physical identity, end of the stretch it holds for) at byte ``pos``: a hole is
    None, an unknown extent a fresh object (equal to nothing)."""
    i = bisect.bisect_right(starts, pos) - 1
    if i >= 0 and extents[i].end > pos:
        ext = extents[i]
        if ext.flags & _UNKNOWN:
            return object(), ext.end
        return (ext.physical - ext.logical, ext.flags & FIEMAP_EXTENT_UNWRITTEN), ext.end
    nxt = starts[i + 1] if i + 1 < len(starts) else None
    return None, nxt


def differing_ranges(old: list[Extent], new: list[Extent], old_size: int,
                     new_size: int) -> list[tuple[int, int]]:
    """Byte ranges [start, end) of the new file that may differ from the old one: every
    range not mapped identically (same physical blocks at the same offsets, or a hole in
    both), plus everything past the old file's end."""
    old_starts, new_starts = [e.logical for e in old], [e.logical for e in new]
    limit = min(old_size, new_size)
    out: list[tuple[int, int]] = []
    pos = 0
    while pos < limit:
        a, a_end = _place(old, old_starts, pos)
        b, b_end = _place(new, new_starts, pos)
        end = min(x for x in (a_end, b_end, limit) if x is not None)
        # the same physical offset shift over the stretch means the same blocks
        if a != b or (a is None) != (b is None):
            if out and out[-1][1] == pos:
                out[-1] = (out[-1][0], end)
            else:
                out.append((pos, end))
        pos = end
    if new_size > limit:
        _add(out, limit, new_size)
    return out


def _add(ranges: list, start: int, end: int) -> None:
    if ranges and ranges[-1][1] >= start:
        ranges[-1] = (ranges[-1][0], max(end, ranges[-1][1]))
    else:
        ranges.append((start, end))


class ChangedSet:
    """Sorted, disjoint byte ranges that may have changed, widened to whole SHA blocks."""

    def __init__(self, ranges, block_size: int, size: int):
        merged: list[tuple[int, int]] = []
        for start, end in sorted(ranges):
            start = start // block_size * block_size
            end = min(size, -(-end // block_size) * block_size)
            if start < end:
                _add(merged, start, end)
        self.ranges = merged
        self._starts = [s for s, _ in merged]

    @property
    def bytes(self) -> int:
        return sum(e - s for s, e in self.ranges)

    def within(self, offset: int, length: int) -> list[tuple[int, int]]:
        """The changed ranges clipped to [offset, offset+length), in order."""
        end = offset + length
        i = max(0, bisect.bisect_right(self._starts, offset) - 1)
        out = []
        for start, stop in self.ranges[i:]:
            if start >= end:
                break
            if stop > offset:
                out.append((max(start, offset), min(stop, end)))
        return out


@dataclass
class Tracked:
    """How one backup reads its source: from ``path`` (a clone, or the source itself),
    only ``changed`` when it is not None, and ``note`` says which and why."""

    path: str
    changed: Optional[ChangedSet]
    note: str
    clone: Optional[str] = None  # the new clone, to keep once the backup succeeded


class Tracker:
    """The clones of one volume in ``directory``: ``<volume>.<backup>.clone`` is the
    volume as backup ``<backup>`` recorded it; ``.new`` is one being backed up."""

    def __init__(self, directory: str, volume_id: str):
        self.directory, self.volume_id = directory, volume_id

    def _path(self, backup_id: str, suffix: str = "clone") -> str:
        return os.path.join(self.directory, "%s.%s.%s" % (self.volume_id, backup_id, suffix))

    def begin(self, source: str, backup_id: str, parent_id: Optional[str],
              block_size: int) -> Tracked:
        """Clone ``source`` for backup ``backup_id`` and work out what to read. Never
        raises for a reason to read everything: that goes into the note."""
        why = self._unclonable(source)
        if why:
            return Tracked(source, None, "read everything: %s" % why)
        new = self._path(backup_id, "new")
        try:
            os.makedirs(self.directory, exist_ok=True)
            _clone(source, new)
        except OSError as exc:
            remove(new)
            if exc.errno == errno.EXDEV:
                why = ("the change-tracking directory %s is on another file system than the "
                       "volume (set backup_change_tracking_dir to one on the same file system)"
                       % self.directory)
            elif exc.errno in _REFUSED:
                why = "the file system cannot reflink (%s)" % os.strerror(exc.errno)
            else:
                why = "the clone could not be made (%s)" % os.strerror(exc.errno)
            return Tracked(source, None, "read everything: %s" % why)
        if parent_id is None:
            return Tracked(new, None, "full backup; a clone is kept for the next incremental",
                           clone=new)
        old = self._path(parent_id)
        try:
            changed = self._compare(old, new, block_size)
        except Doubt as exc:
            return Tracked(new, None, "read everything: %s" % exc, clone=new)
        size = os.stat(new).st_size
        return Tracked(new, changed, "read only what changed since backup %s: %d of %d bytes "
                       "in %d ranges" % (parent_id, changed.bytes, size, len(changed.ranges)),
                       clone=new)

    def keep(self, tracked: Tracked, backup_id: str) -> None:
        """The backup succeeded: its clone replaces every older clone of the volume."""
        if tracked.clone is None:
            return
        final = self._path(backup_id)
        os.replace(tracked.clone, final)
        for path in self._files():
            if path != final:
                remove(path)

    def discard(self, tracked: Tracked) -> None:
        if tracked.clone is not None:
            remove(tracked.clone)

    def _files(self) -> list[str]:
        """Every clone of the volume, kept or left by a backup that crashed."""
        pattern = os.path.join(glob.escape(self.directory), glob.escape(self.volume_id) + ".*")
        return [p for p in glob.glob(pattern) if p.endswith((".clone", ".new"))]

    def forget(self) -> None:
        """Remove every clone of the volume (it is deleted)."""
        for path in self._files():
            remove(path)

    @staticmethod
    def _unclonable(source: str) -> Optional[str]:
        try:
            mode = os.stat(source).st_mode
        except OSError as exc:
            return "cannot stat the volume (%s)" % exc.strerror
        if stat.S_ISBLK(mode):
            return "the volume is a block device (no extent map to compare)"
        if not stat.S_ISREG(mode):
            return "the volume is not a regular file"
        return None

    @staticmethod
    def _compare(old: str, new: str, block_size: int) -> ChangedSet:
        try:
            old_fd = os.open(old, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise Doubt("no clone of the parent backup is kept (first backup with change "
                        "tracking, or the clone was removed)") from None
        except OSError as exc:
            raise Doubt("the parent's clone cannot be opened (%s)" % exc.strerror) from None
        try:
            new_fd = os.open(new, os.O_RDONLY | os.O_CLOEXEC)
            try:
                old_size, new_size = os.fstat(old_fd).st_size, os.fstat(new_fd).st_size
                ranges = differing_ranges(fiemap(old_fd, old_size), fiemap(new_fd, new_size),
                                          old_size, new_size)
            finally:
                os.close(new_fd)
        finally:
            os.close(old_fd)
        if old_size != new_size:
            # the last SHA block of the shorter size has another length now
            ranges.append((min(old_size, new_size) // block_size * block_size, new_size))
        return ChangedSet(ranges, block_size, new_size)


def _clone(source: str, dest: str) -> None:
    src = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    try:
        dst = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            fcntl.ioctl(dst, FICLONE, src)
        finally:
            os.close(dst)
    finally:
        os.close(src)


def remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
