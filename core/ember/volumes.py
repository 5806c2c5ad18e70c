"""Volume sources on the local machine: sparse images, adopted files and block devices,
and point-in-time snapshot copies of them.

Nothing here touches the catalogue; the service records what these functions make.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import stat

from ember import errors

GiB = 1 << 30
_UNITS = {"M": 1 << 20, "G": GiB, "T": 1 << 40}
_SIZE_RE = re.compile(r"^\s*(\d+)\s*([MGT])?(?:i?B)?\s*$", re.IGNORECASE)
FICLONE = 0x40049409  # linux/fs.h _IOW(0x94, 9, int)
_COPY_CHUNK = 8 << 20
#: the largest volume (GiB) a catalogue row can record (Cinder: a 32-bit count of GiB)
MAX_GIB = 2**31 - 1


def parse_size(size) -> int:
    """Bytes of ``size``: an int (GiB, as openstack takes it) or a string with an
    optional M/G/T suffix ("512M", "10G", "1T"; no suffix means GiB)."""
    if isinstance(size, bool):
        size = str(size)
    shown = size if isinstance(size, int) else str(size)[:64]
    size_bytes = 0
    if isinstance(size, int):
        size_bytes = size * GiB
    else:
        match = _SIZE_RE.match(str(size)[:64])
        if match:
            size_bytes = int(match.group(1)) * _UNITS[(match.group(2) or "G").upper()]
    if size_bytes <= 0:
        raise errors.InvalidInput(
            "Invalid size %r: give a positive whole number of GiB, or a number with an M, G "
            "or T suffix (for example 512M, 10G, 1T)." % (shown,))
    if size_bytes > MAX_GIB * GiB:
        raise errors.InvalidInput("Invalid size %r: a volume has at most %d GiB."
                                  % (shown, MAX_GIB))
    return size_bytes


def gib(size_bytes: int) -> int:
    """Size in whole GiB, rounded up (at least 1), as Cinder records it."""
    return max(1, -(-size_bytes // GiB))


def create_sparse(path: str, size_bytes: int) -> None:
    """A new all-zero image of ``size_bytes`` that takes no space yet (fails if it exists)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        os.ftruncate(fd, size_bytes)
    except OSError as exc:
        os.close(fd)
        remove(path)  # a failed creation leaves no file
        raise errors.InvalidInput("Cannot create an image of %d bytes at %s: %s; choose a "
                                  "smaller size or another file system."
                                  % (size_bytes, path, exc.strerror or exc)) from None
    except BaseException:
        os.close(fd)
        remove(path)
        raise
    os.close(fd)


def source_size(path: str) -> int:
    """Length in bytes of an image file or block device; InvalidInput if neither."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise errors.InvalidInput("Cannot adopt %s: %s." % (path, exc.strerror)) from exc
    if stat.S_ISREG(st.st_mode):
        size = st.st_size
    elif stat.S_ISBLK(st.st_mode):
        fd = os.open(path, os.O_RDONLY)
        try:
            size = os.lseek(fd, 0, os.SEEK_END)
        finally:
            os.close(fd)
    else:
        raise errors.InvalidInput("Cannot adopt %s: not an image file or block device." % path)
    if size == 0:
        raise errors.InvalidInput("Cannot adopt %s: it is empty." % path)
    return size


def same_file(path: str, other: str) -> bool:
    """True when both names lead to one file (equal real paths, or one inode)."""
    if os.path.realpath(path) == os.path.realpath(other):
        return True
    try:
        a, b = os.stat(path), os.stat(other)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def repository_paths(conf) -> list:
    """Directories a posix-family repository may be configured at (registered options
    only): adopting a file there would expose backup objects as a volume."""
    found = []
    for option in ("backup_posix_path", "backup_mount_point_base"):
        try:
            value = getattr(conf, option)
        except Exception:  # noqa: BLE001 - the option belongs to a plugin not loaded
            continue
        if value:
            found.append(str(value))
    return found


def remove(path: str) -> None:
    """Delete an image Ember made; a missing one is fine."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def copy_point_in_time(source: str, dest: str) -> str:
    """Copy ``source`` to the new file ``dest``: a reflink (FICLONE) where the filesystem
    offers it, else a sparse-aware copy (holes stay holes). Returns "reflink" or "copy"."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    src = os.open(source, os.O_RDONLY)
    try:
        dst = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            if stat.S_ISREG(os.fstat(src).st_mode):
                try:
                    fcntl.ioctl(dst, FICLONE, src)
                    return "reflink"
                except OSError as exc:
                    if exc.errno not in (errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV,
                                         errno.EINVAL, errno.ENOSYS, errno.EPERM):
                        raise
            _sparse_copy(src, dst)
            return "copy"
        except BaseException:
            os.close(dst)
            dst = -1
            remove(dest)
            raise
        finally:
            if dst >= 0:
                os.close(dst)
    finally:
        os.close(src)


def _data_extents(fd: int, size: int):
    """(offset, length) of the data regions of ``fd``; the whole range when the file
    system (or a block device) cannot report holes."""
    try:
        offset = 0
        while offset < size:
            start = os.lseek(fd, offset, os.SEEK_DATA)
            end = os.lseek(fd, start, os.SEEK_HOLE)
            yield start, min(end, size) - start
            offset = end
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # no data after offset: the rest is a hole
            return
        if offset == 0 and exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):
            yield 0, size
            return
        raise


def _sparse_copy(src: int, dst: int) -> None:
    size = os.lseek(src, 0, os.SEEK_END)
    os.ftruncate(dst, size)
    for offset, length in _data_extents(src, size):
        done = 0
        while done < length:
            n = min(_COPY_CHUNK, length - done)
            data = os.pread(src, n, offset + done)
            if not data:
                break
            os.pwrite(dst, data, offset + done)
            done += len(data)
    os.fsync(dst)
