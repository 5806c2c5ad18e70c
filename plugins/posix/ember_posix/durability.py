"""Batch durability: small objects are synced once per batch, not once each.

A put of a small object (an incremental's changed run: a few KiB) cost one ``fsync``
each, i.e. one journal commit and one device cache flush per object, which is most of an
incremental's time. Here a small object's commit only renames it into place and is
noted as unsynced; the driver's ``flush`` (which the engine calls before any
``_sha256file`` or ``_metadata`` names the objects, and again at the end) makes the
whole batch durable with one ``syncfs`` on file systems whose ``syncfs`` writes data to
stable storage (local block file systems and the kernel NFS client), or with one
``fsync`` per noted file elsewhere (FUSE, e.g. glusterfs: its ``syncfs`` does not reach
the server's disks). Large objects are still synced by their own commit: their sync
overlaps the next object's work, and a ``syncfs`` would then wait for less.

The flush-order guarantee is unchanged: nothing that names an object is written before
the flush that makes the object durable (``plugins/posix/tests``, ``tests/crash``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import threading

#: objects at least this large are fsynced by their own commit
SYNC_AT_COMMIT = 8 << 20

# statfs f_type of file systems whose syncfs makes file data durable
_SYNCFS_TYPES = {
    0xEF53,  # ext2/3/4
    0x58465342,  # xfs
    0x9123683E,  # btrfs
    0xF2F52010,  # f2fs
    0x2FC12FC1,  # zfs
    0x01021994,  # tmpfs (nothing to sync: a no-op)
    0x6969,  # nfs (the kernel client commits written pages on a sync writeback)
}

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def fs_type(path: str) -> int | None:
    """The ``statfs`` f_type of the file system holding ``path`` (None if unknown)."""
    buf = ctypes.create_string_buffer(256)  # struct statfs; f_type is its first field
    if _libc.statfs(os.fsencode(path), buf) != 0:
        return None
    return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF


def syncfs(fd: int) -> None:
    if _libc.syncfs(fd) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


class BatchSync:
    """Files committed without their own fsync, per directory, until ``sync``."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pending: dict[str, set[str]] = {}

    def note(self, directory: str, path: str) -> None:
        with self._lock:
            self._pending.setdefault(os.path.normpath(directory), set()).add(path)

    def sync(self, directory: str) -> None:
        """Make every file noted for ``directory`` durable (their data and inodes; the
        renames are the directory fsync's job). Raises ``OSError``."""
        directory = os.path.normpath(directory)
        with self._lock:
            paths = self._pending.pop(directory, None)
        if not paths:
            return
        try:
            if fs_type(directory) in _SYNCFS_TYPES:  # asked each time: a share remounts
                fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    syncfs(fd)
                finally:
                    os.close(fd)
            else:
                for path in sorted(paths):
                    _fsync_file(path)
        except BaseException:
            with self._lock:  # not synced: the next flush tries them again
                self._pending.setdefault(directory, set()).update(paths)
            raise


def _fsync_file(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return  # deleted since (an abandoned backup): nothing left to make durable
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    finally:
        os.close(fd)
