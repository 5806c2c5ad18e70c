"""An NFSv3 client in user space: libnfs's synchronous API, every return code checked.

The PyPI ``libnfs`` bindings are a thin SWIG layer whose convenience classes drop
return codes (``NFSFH.write`` ignores a failed write, ``NFS()`` ignores a failed
mount), so this module calls the ``nfs_*`` functions directly: each returns a
negative errno on failure, which becomes an ``OSError`` carrying that errno and
libnfs's own message. One ``LibnfsClient`` is one NFS context; its calls are
serialised by a lock (a libnfs context must never be entered by two threads).

Only NFSv3: libnfs 4.0's NFSv4 client cannot encode a WRITE larger than ~4 KB.

libnfs 4.0 reports every failed WRITE as EFAULT with a garbage message, whatever the
server said (NFS3ERR_NOSPC included), and the bindings lack ``nfs_statvfs64``; so after
a failed write the free space is asked for through ctypes on the same library, and a
share without room for the write becomes ENOSPC.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os
import threading

try:
    import libnfs as _nfs
    IMPORT_ERROR = None
except ImportError as exc:  # the [userspace] extra is not installed (or cannot load)
    _nfs = None
    IMPORT_ERROR = "%s" % exc

AVAILABLE = _nfs is not None


class _StatVFS64(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree",
        "f_favail", "f_fsid", "f_flag", "f_namemax")]


def _load_statvfs():
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("nfs") or "libnfs.so.13")
        function = lib.nfs_statvfs64
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(_StatVFS64)]
    function.restype = ctypes.c_int
    return function


_statvfs64 = _load_statvfs() if AVAILABLE else None


def _locked(method):
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)
    return call


class LibnfsClient:
    """One mounted NFSv3 export. Paths are absolute within the export (``/a/b``)."""

    def __init__(self, host: str, export: str):
        if _nfs is None:
            raise ImportError("libnfs")
        self._lock = threading.RLock()
        self._ctx = _nfs.nfs_init_context()
        if self._ctx is None:
            raise OSError(errno.ENOMEM, "libnfs could not create a context")
        self.host, self.export = host, export
        self._check(_nfs.nfs_mount(self._ctx, host, export), "mount %s:%s" % (host, export))
        # a WRITE/READ RPC carries at most this many bytes
        self.write_max = max(4096, _nfs.nfs_get_writemax(self._ctx))
        self.read_max = max(4096, _nfs.nfs_get_readmax(self._ctx))

    def _check(self, result: int, what: str) -> int:
        if result is not None and result < 0:
            message = _nfs.nfs_get_error(self._ctx) or os.strerror(-result)
            raise OSError(-result, "%s: %s" % (what, message))
        return result

    @_locked
    def close(self) -> None:
        if self._ctx is not None:
            _nfs.nfs_destroy_context(self._ctx)
            self._ctx = None

    # ---- metadata ---------------------------------------------------------------------
    @_locked
    def stat(self, path: str):
        """``nfs_stat_64`` (fields ``nfs_size``, ``nfs_mode`` ...); ENOENT raises."""
        st = _nfs.nfs_stat_64()
        self._check(_nfs.nfs_stat64(self._ctx, path, st), "stat " + path)
        return st

    @_locked
    def mkdir(self, path: str, mode: int | None = None) -> bool:
        """Create a directory; False if it already existed."""
        result = _nfs.nfs_mkdir(self._ctx, path)
        if result == -errno.EEXIST:
            return False
        self._check(result, "mkdir " + path)
        if mode is not None:
            self.chmod(path, mode)
        return True

    @_locked
    def chmod(self, path: str, mode: int) -> None:
        self._check(_nfs.nfs_chmod(self._ctx, path, mode), "chmod " + path)

    @_locked
    def listdir(self, path: str) -> list[tuple[str, bool]]:
        """``(name, is_directory)`` of every entry but ``.`` and ``..``."""
        handle = _nfs.new_NFSDirHandle()
        self._check(_nfs.nfs_opendir(self._ctx, path, handle), "opendir " + path)
        handle = _nfs.NFSDirHandle_value(handle)
        entries = []
        try:
            while True:
                entry = _nfs.nfs_readdir(self._ctx, handle)
                if entry is None:
                    break
                if entry.name not in (".", ".."):
                    entries.append((entry.name, (entry.mode & 0o170000) == 0o040000))
        finally:
            _nfs.nfs_closedir(self._ctx, handle)
        return entries

    @_locked
    def unlink(self, path: str) -> None:
        self._check(_nfs.nfs_unlink(self._ctx, path), "unlink " + path)

    @_locked
    def rename(self, old: str, new: str) -> None:
        """NFSv3 RENAME: atomic on the server, replaces ``new``."""
        self._check(_nfs.nfs_rename(self._ctx, old, new), "rename %s to %s" % (old, new))

    # ---- files ------------------------------------------------------------------------
    @_locked
    def create_exclusive(self, path: str, mode: int):
        """Create a new file (fails with EEXIST if it exists) open for writing."""
        handle = _nfs.new_NFSFileHandle()
        self._check(_nfs.nfs_create(self._ctx, path, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                                    mode, handle), "create " + path)
        return _nfs.NFSFileHandle_value(handle)

    @_locked
    def open_read(self, path: str):
        handle = _nfs.new_NFSFileHandle()
        self._check(_nfs.nfs_open(self._ctx, path, os.O_RDONLY, handle), "open " + path)
        return _nfs.NFSFileHandle_value(handle)

    @_locked
    def pwrite(self, fh, offset: int, data, path: str) -> None:
        """Write all of ``data`` at ``offset``, one RPC-sized piece at a time, checking
        that the server took every byte (a short write is an error, not progress lost)."""
        view = memoryview(bytearray(data)) if not _writable(data) else memoryview(data)
        done = 0
        while done < len(view):
            piece = view[done:done + self.write_max]
            result = _nfs.nfs_pwrite(self._ctx, fh, offset + done, len(piece), piece)
            if result == -errno.EFAULT and self._free_bytes(path) < len(piece):
                raise OSError(errno.ENOSPC, "write %s: no space left on the share" % path)
            written = self._check(result, "write " + path)
            if written <= 0:
                raise OSError(errno.EIO, "write %s: server accepted 0 bytes" % path)
            done += written

    def _free_bytes(self, path: str) -> float:
        """Bytes available to this user on the export holding ``path`` (inf if unknown)."""
        if _statvfs64 is None:
            return float("inf")
        info = _StatVFS64()
        if _statvfs64(int(self._ctx), path.encode("utf-8"), ctypes.byref(info)) < 0:
            return float("inf")
        return info.f_bavail * (info.f_frsize or info.f_bsize)

    @_locked
    def pread(self, fh, offset: int, size: int, path: str) -> bytes:
        """Up to ``size`` bytes at ``offset`` (fewer only at end of file)."""
        buf = bytearray(size)
        view = memoryview(buf)
        done = 0
        while done < size:
            piece = view[done:done + self.read_max]
            got = self._check(_nfs.nfs_pread(self._ctx, fh, offset + done, len(piece), piece),
                              "read " + path)
            if got == 0:
                break
            done += got
        return bytes(view[:done])

    @_locked
    def fsync(self, fh, path: str) -> None:
        self._check(_nfs.nfs_fsync(self._ctx, fh), "fsync " + path)

    @_locked
    def close_file(self, fh, path: str) -> None:
        self._check(_nfs.nfs_close(self._ctx, fh), "close " + path)


def _writable(data) -> bool:
    # nfs_pwrite's SWIG typemap asks for a writable buffer (it never writes to it)
    try:
        return not memoryview(data).readonly
    except TypeError:
        return False
