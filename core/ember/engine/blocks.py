"""Reading a volume source in pieces, finding zeros and holes, hashing SHA blocks;
starting write-back of a restore target early.

All-zero data costs no hashing: a piece that lies in a file hole (found with
SEEK_DATA) is not even read, and every all-zero block gets a precomputed digest.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import hashlib
import os
import stat
import threading

from ember.errors import InvalidInput


@functools.lru_cache(maxsize=8)
def zeros(n: int) -> bytes:
    """A shared read-only buffer of ``n`` zero bytes."""
    return bytes(n)


@functools.lru_cache(maxsize=64)
def zero_digest(n: int) -> bytes:
    """SHA-256 (raw bytes) of ``n`` zero bytes."""
    return hashlib.sha256(zeros(n)).digest()


def is_zero(data) -> bool:
    """True if every byte is zero (one memcmp, ~70 GB/s).

    ``bytes.startswith`` takes any buffer and memcmps it; ``memoryview == bytes`` would
    compare item by item at ~1 GB/s, slower than hashing the block."""
    mv = memoryview(data).cast("B")
    return not len(mv) or (mv[0] == 0 and zeros(len(mv)).startswith(mv))


def zero_digests(length: int, block_size: int) -> bytes:
    """The block digests of ``length`` zero bytes (what a hole hashes to)."""
    full, tail = divmod(length, block_size)
    return zero_digest(block_size) * full + (zero_digest(tail) if tail else b"")


def block_digests(data, block_size: int, known_zero: bool = False) -> bytes:
    """Raw SHA-256 of each ``block_size`` block of ``data`` (the last may be short),
    concatenated: 32 bytes per block."""
    mv = memoryview(data).cast("B")
    n = len(mv)
    if known_zero:
        return zero_digests(n, block_size)
    out = []
    zb = zeros(block_size)
    sha256 = hashlib.sha256
    for off in range(0, n, block_size):
        block = mv[off:off + block_size]
        if len(block) == block_size and block[0] == 0 and zb.startswith(block):
            out.append(zero_digest(block_size))
        else:
            out.append(sha256(block).digest())
    return b"".join(out)


class Source:
    """A volume image or block device opened read-only; thread-safe ``pread``."""

    def __init__(self, path: str):
        try:
            self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise InvalidInput("cannot open volume source %s: %s" % (path, exc.strerror)) from None
        self.path = path
        st = os.fstat(self.fd)
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISBLK(st.st_mode)):
            os.close(self.fd)
            raise InvalidInput("volume source %s is not an image file or block device"
                               % path)
        self._regular = stat.S_ISREG(st.st_mode)
        self.size = st.st_size if self._regular else os.lseek(self.fd, 0, os.SEEK_END)
        self._seek_data = self._regular and hasattr(os, "SEEK_DATA")

    def in_hole(self, offset: int, length: int) -> bool:
        """True if [offset, offset+length) is wholly a hole (reads as zeros)."""
        if not self._seek_data or length <= 0:
            return False
        try:
            data = os.lseek(self.fd, offset, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no data after offset
                return True
            return False  # filesystem without SEEK_DATA support
        return data >= offset + length

    def holes(self, offset: int, end: int, minimum: int) -> list[tuple[int, int]]:
        """The holes of at least ``minimum`` bytes in [offset, end), in order (none
        where the source cannot tell, e.g. a block device)."""
        out: list[tuple[int, int]] = []
        pos = offset
        while self._seek_data and pos < end:
            try:
                data = min(end, os.lseek(self.fd, pos, os.SEEK_DATA))
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    return out  # no SEEK_DATA here: no holes known
                data = end
            if data - pos >= minimum:
                out.append((pos, data))
            if data >= end:
                break
            pos = os.lseek(self.fd, data, os.SEEK_HOLE)
        return out

    def digests(self, offset: int, length: int, block_size: int) -> bytes:
        """``block_digests`` of [offset, offset+length), ``offset`` a multiple of
        ``block_size``: the blocks wholly inside a hole get the zero digest unread (the
        kernel would zero a page-cache page for every hole page read)."""
        end, pos, out = offset + length, offset, []
        for start, stop in self.holes(offset, end, 1):
            start = offset + -(-(start - offset) // block_size) * block_size
            if stop < end:
                stop = offset + (stop - offset) // block_size * block_size
            if start >= stop:
                continue
            if pos < start:
                out.append(block_digests(self.read(pos, start - pos), block_size))
            out.append(zero_digests(stop - start, block_size))
            pos = stop
        if pos < end:
            out.append(block_digests(self.read(pos, end - pos), block_size))
        return b"".join(out)

    def read(self, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes at ``offset`` (short only at end of source)."""
        parts = []
        while length > 0:
            chunk = os.pread(self.fd, length, offset)
            if not chunk:
                break
            parts.append(chunk)
            offset += len(chunk)
            length -= len(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_SYNC_FILE_RANGE_WRITE = 2  # <fcntl.h>: start write-out of dirty pages, do not wait


@functools.lru_cache(maxsize=1)
def _sync_file_range():
    """libc's ``sync_file_range`` (Linux), or None where there is none."""
    try:
        fn = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    fn.restype = ctypes.c_int
    return fn


class WriteBehind:
    """Starts the kernel's write-back of a target's dirty pages every ``every`` bytes
    written (``sync_file_range(SYNC_FILE_RANGE_WRITE)`` on the whole file, which does
    not wait for the disk), so the final ``fsync`` of a restore finds little left to
    write instead of the whole volume. Only a hint: durability still comes from that
    ``fsync``; where the call does not exist or fails (not Linux, a pipe) it does
    nothing. Thread-safe."""

    def __init__(self, fd: int, every: int = 32 << 20):
        self._fd, self._every = fd, every
        self._lock = threading.Lock()
        self._pending = 0
        self._call = _sync_file_range()

    def wrote(self, n: int) -> None:
        if self._call is None:
            return
        with self._lock:
            self._pending += n
            if self._pending < self._every:
                return
            self._pending = 0
        if self._call(self._fd, 0, 0, _SYNC_FILE_RANGE_WRITE) != 0:
            self._call = None  # e.g. ESPIPE or EINVAL: this target does not support it
