"""Compression codecs of the repository format: none, zlib, bz2, zstd.

Names as Cinder records them: ``none``/``off``/``no`` (raw), ``zlib``/``gzip`` (an
RFC 1950 zlib stream despite the alias), ``bz2``/``bzip2`` (level 9 by default) and
``zstd`` (one standard frame that carries the content size, readable by python-zstd's
``zstd.decompress``, which Cinder uses, and by ``zstandard``).

Everything here streams: a compressor takes an object piece by piece, a decompressing
reader yields bounded pieces, so no object (posix's default is 1.86 GiB) is ever held
whole. zlib objects are written pigz-style: each piece is an independent raw-deflate
run ended by a sync flush (so pieces compress in parallel and an all-zero piece has a
cached encoding), wrapped in one zlib header and an adler32 trailer.

zlib's deflate and inflate run on ISA-L (the ``isal`` package, a core dependency with
manylinux wheels) when it imports, else on the stdlib: ISA-L deflates this kind of data
about 7x faster and inflates about 2x faster. The stream is the same standard zlib stream
either way (stdlib ``zlib.decompress`` and Cinder read it); only the deflate choices, and
so the exact bytes, differ. Which ISA-L level serves which zlib level: ``ISAL_LEVELS``.
"""

from __future__ import annotations

import bz2
import functools
import struct
import zlib
from typing import BinaryIO, Optional

import zstandard

from ember.errors import UnsupportedCompression

try:
    from isal import igzip_lib as _igzip
    from isal import isal_zlib as _isal
except ImportError:  # a platform without isal wheels: the stdlib writes the same format
    _igzip = _isal = None

_ISAL_ERRORS = (_igzip.error,) if _igzip is not None else ()
_adler32 = _isal.adler32 if _isal is not None else zlib.adler32  # 3x faster with ISA-L

NONE, ZLIB, BZ2, ZSTD = "none", "zlib", "bz2", "zstd"

_ALIASES = {"none": NONE, "off": NONE, "no": NONE,
            "zlib": ZLIB, "gzip": ZLIB,
            "bz2": BZ2, "bzip2": BZ2,
            "zstd": ZSTD}

#: levels Cinder gets from the libraries' defaults
DEFAULT_LEVELS = {ZLIB: 6, BZ2: 9, ZSTD: 3}
LEVEL_RANGES = {ZLIB: (0, 9), BZ2: (1, 9), ZSTD: (-7, 22)}


def canonical(algorithm: Optional[str]) -> str:
    """Map a recorded or configured name (any case, aliases) to none/zlib/bz2/zstd."""
    try:
        return _ALIASES[(algorithm or "").lower()]
    except KeyError:
        raise UnsupportedCompression(
            "unsupported compression algorithm: %s (known: %s)"
            % (algorithm, ", ".join(sorted(_ALIASES)))) from None


def recorded_name(configured: str) -> str:
    """What a compressed object records: the configured name lower-cased, as Cinder does."""
    canonical(configured)
    return configured.lower()


#: zlib level -> the ISA-L level (0-3) used for it when ``isal`` is installed: the one
#: whose ratio is nearest, measured on text (zlib 1: 2.03, 2-3: 2.05-2.07, 4: 2.20,
#: 5-6: 2.23; ISA-L 1: 2.00, 2: 2.17, 3: 2.20, at 470/400/330 MB/s against zlib-6's
#: 46 MB/s). Levels 7-9 ask for the best ratio ISA-L cannot give, and 0 for stored
#: blocks (ISA-L's 0 compresses): those stay on the stdlib.
ISAL_LEVELS = {1: 1, 2: 2, 3: 2, 4: 3, 5: 3, 6: 3}


#: zlib levels at or below this one are "fast": a piece whose first 64 KiB does not
#: compress is stored whole without looking further (``looks_incompressible``). Above it
#: (the default 6) a piece is judged in ``SPAN``-byte spans by a ``SPAN_SAMPLE``-byte
#: sample each, so a piece that starts with random bytes and goes on with text is still
#: compressed: on a volume of interleaved data the whole-piece sample stored 27 % more
#: than Cinder's zlib, the spans 1 % more, for the same CPU (docs/performance.md).
FAST_LEVEL_MAX = 3
SPAN, SPAN_SAMPLE = 16384, 1024


def samples_pieces(codec: str, level: int) -> bool:
    """True when a piece that looks incompressible by one sample is stored whole."""
    return codec == ZLIB and level <= FAST_LEVEL_MAX


def deflate_backend(level: int) -> str:
    """``"isal"`` or ``"zlib"``: which library deflates at zlib level ``level``."""
    return "isal" if _isal is not None and level in ISAL_LEVELS else "zlib"


def _raw_deflater(level: int):
    """A raw-deflate (no header) compressor object for zlib level ``level``."""
    if deflate_backend(level) == "isal":
        return _isal.compressobj(ISAL_LEVELS[level], _isal.DEFLATED, -15)
    return zlib.compressobj(level, zlib.DEFLATED, -15)


def level_for(codec: str, level: Optional[int]) -> int:
    """The level to use: ``level`` if given and valid for ``codec``, else its default."""
    if codec == NONE:
        return 0
    if level is None:
        return DEFAULT_LEVELS[codec]
    low, high = LEVEL_RANGES[codec]
    return max(low, min(high, level))


# ---- one-shot (small objects and tests) ---------------------------------------------
def compress(algorithm: str, data: bytes, level: Optional[int] = None) -> bytes:
    """Compress a whole object the way Cinder does (one zlib/bz2 stream, one zstd frame)."""
    codec = canonical(algorithm)
    level = level_for(codec, level)
    if codec == ZLIB:
        if deflate_backend(level) == "isal":
            return _isal.compress(data, ISAL_LEVELS[level])
        return zlib.compress(data, level)
    if codec == BZ2:
        return bz2.compress(data, level)
    if codec == ZSTD:
        return zstandard.ZstdCompressor(level=level, write_content_size=True).compress(data)
    return bytes(data)


def decompress(algorithm: str, data: bytes) -> bytes:
    """Decompress a whole object (concatenated bz2 streams accepted, as ``bz2.decompress``)."""
    codec = canonical(algorithm)
    if codec == ZLIB:
        if _isal is not None:
            try:
                return _isal.decompress(data)
            except _isal.error as exc:
                raise zlib.error(str(exc)) from None
        return zlib.decompress(data)
    if codec == BZ2:
        return bz2.decompress(data)
    if codec == ZSTD:
        return zstandard.ZstdDecompressor().decompress(data)
    return bytes(data)


# ---- incompressibility test -----------------------------------------------------------
SAMPLE_SIZE = 65536
_INCOMPRESSIBLE_RATIO = 0.97


def looks_incompressible(sample) -> bool:
    """Cheap test (deflate level 1 on at most 64 KiB: ISA-L's, 4-30x faster than the
    stdlib's, when installed): would compressing this gain < 3 %?"""
    sample = memoryview(sample)[:SAMPLE_SIZE]
    if not len(sample):
        return False
    deflate = _isal.compress if _isal is not None else zlib.compress
    return len(deflate(sample, 1)) >= len(sample) * _INCOMPRESSIBLE_RATIO


# ---- streaming compression ------------------------------------------------------------
_ZLIB_FLEVEL = {0: 0, 1: 0, 2: 1, 3: 1, 4: 1, 5: 1, 6: 2, 7: 3, 8: 3, 9: 3}


def zlib_header(level: int) -> bytes:
    """The two RFC 1950 header bytes zlib itself writes for ``level`` (32 KiB window)."""
    cmf = 0x78
    flg = _ZLIB_FLEVEL[level] << 6
    flg += 31 - ((cmf << 8) + flg) % 31
    return bytes((cmf, flg))


def deflate_piece(piece, level: int, last: bool, stored: bool = False) -> bytes:
    """One independent raw-deflate run of ``piece``, byte-aligned by a sync flush
    (or finished, for the object's last piece). Safe to call from any thread.
    ``stored`` writes stored blocks (level 0): incompressible data costs a copy."""
    if not last and not stored and len(piece) and not any(memoryview(piece)[:1]) \
            and _is_zero(piece):
        return _deflated_zeros(len(piece), level)
    if stored or level <= FAST_LEVEL_MAX or len(piece) <= SPAN:
        c = _raw_deflater(0 if stored else level)
        return c.compress(piece) + c.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)
    spans = _spans(memoryview(piece).cast("B"))
    out = []
    for i, (start, end, raw) in enumerate(spans):
        c = _raw_deflater(0 if raw else level)
        end_mode = zlib.Z_FINISH if last and i == len(spans) - 1 else zlib.Z_SYNC_FLUSH
        out.append(c.compress(piece[start:end]) + c.flush(end_mode))
    return b"".join(out)


def _spans(view) -> list:
    """``[start, end, incompressible]`` runs of ``view``: each ``SPAN`` judged by its
    first ``SPAN_SAMPLE`` bytes, neighbours of one kind merged (one deflate run each,
    so compressible data keeps its window across spans)."""
    spans: list = []
    for start in range(0, len(view), SPAN):
        end = min(start + SPAN, len(view))
        raw = looks_incompressible(view[start:start + SPAN_SAMPLE])
        if spans and spans[-1][2] == raw:
            spans[-1][1] = end
        else:
            spans.append([start, end, raw])
    return spans


def _is_zero(piece) -> bool:
    mv = memoryview(piece).cast("B")
    return _zeros(len(mv)).startswith(mv)  # a memcmp (see blocks.is_zero)


@functools.lru_cache(maxsize=8)
def _zeros(n: int) -> bytes:
    return bytes(n)


@functools.lru_cache(maxsize=16)
def _deflated_zeros(n: int, level: int) -> bytes:
    c = _raw_deflater(level)
    return c.compress(_zeros(n)) + c.flush(zlib.Z_SYNC_FLUSH)


@functools.lru_cache(maxsize=4)
def dense_zero_piece(n: int) -> bytes:
    """A raw-deflate piece of ``n`` zeros at the stdlib's level 9 (about 1,000:1, where
    ISA-L reaches about 250:1): for bodies computed once and reused (hole objects)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(_zeros(n)) + c.flush(zlib.Z_SYNC_FLUSH)


class StreamCompressor:
    """Compresses one object fed in order, piece by piece, into one stream.

    ``feed(piece, precompressed=None)`` returns bytes to write; ``finish()`` returns the
    tail. For zlib the caller may hand in ``precompressed``, the ``deflate_piece``
    output for that piece computed elsewhere (in parallel); otherwise it is computed
    here. ``size`` (the object's uncompressed length) is pledged to zstd so its frame
    header carries the content size."""

    def __init__(self, algorithm: str, size: int, level: Optional[int] = None,
                 threads: int = 0):
        self.codec = canonical(algorithm)
        self.level = level_for(self.codec, level)
        self._started = False
        if self.codec == ZLIB:
            self._adler = 1
        elif self.codec == BZ2:
            self._c = bz2.BZ2Compressor(self.level)
        elif self.codec == ZSTD:
            cctx = zstandard.ZstdCompressor(level=self.level, write_content_size=True,
                                            threads=threads)
            self._c = cctx.compressobj(size=size)

    def feed(self, piece, precompressed: Optional[bytes] = None) -> bytes:
        if self.codec == NONE:
            return bytes(piece)
        if self.codec == ZLIB:
            head = b""
            if not self._started:
                self._started = True
                head = zlib_header(self.level)
            self._adler = _adler32(piece, self._adler)
            body = precompressed if precompressed is not None else \
                deflate_piece(piece, self.level, last=False)
            return head + body
        return self._c.compress(piece)

    def finish(self) -> bytes:
        if self.codec == NONE:
            return b""
        if self.codec == ZLIB:
            head = b"" if self._started else zlib_header(self.level)
            # an empty final block closes the stream of sync-flushed pieces
            return head + b"\x03\x00" + struct.pack(">I", self._adler & 0xFFFFFFFF)
        return self._c.flush()


# ---- streaming decompression -----------------------------------------------------------
class DecompressingReader:
    """``read(n)`` returns at most ``n`` decompressed bytes (b"" at the end) from a raw
    object reader; memory stays bounded however well the object compressed.
    A truncated or damaged stream shows as fewer bytes or ``zlib.error``/``OSError``/
    ``zstandard.ZstdError``; the engine checks length and md5 anyway."""

    READ_SIZE = 1 << 20

    def __init__(self, algorithm: str, raw: BinaryIO):
        self.codec = canonical(algorithm)
        self._raw = raw
        self._pending = b""
        # ISA-L's inflater has bz2's interface (needs_input); the stdlib's keeps the
        # input it could not use yet in unconsumed_tail
        self._isal = self.codec == ZLIB and _igzip is not None
        if self._isal:
            self._d = _igzip.IgzipDecompressor(_igzip.DECOMP_ZLIB)
        elif self.codec == ZLIB:
            self._d = zlib.decompressobj()
        elif self.codec == BZ2:
            self._d = bz2.BZ2Decompressor()
        elif self.codec == ZSTD:
            self._d = zstandard.ZstdDecompressor().stream_reader(
                raw, read_size=self.READ_SIZE, read_across_frames=False)
        self._eof = False

    def read(self, n: int) -> bytes:
        if self.codec == NONE:
            return self._raw.read(n)
        if self.codec == ZSTD:
            return self._d.read(n)
        while not self._eof:
            if self._pending or not self._needs_input():
                out = self._step(n)
                if out:
                    return out
                continue
            chunk = self._raw.read(self.READ_SIZE)
            if not chunk:
                self._eof = True
                break
            self._pending = chunk
        return b""

    def _needs_input(self) -> bool:
        if self.codec == ZLIB:
            # after the end only trailing bytes are left to read (and refuse)
            return self._d.eof or (self._d.needs_input if self._isal
                                   else not self._d.unconsumed_tail)
        return self._d.needs_input

    def _step(self, n: int) -> bytes:
        if self.codec == ZLIB:
            return self._inflate(n)
        # bz2: Cinder reads with bz2.decompress, which accepts concatenated streams
        if self._d.eof:
            rest = self._d.unused_data + self._pending
            self._d = bz2.BZ2Decompressor()
            self._pending = rest
        data, self._pending = self._pending, b""
        return self._d.decompress(data, n)

    def _inflate(self, n: int) -> bytes:
        d, out = self._d, b""
        data, self._pending = self._pending, b""
        if not d.eof:
            if not self._isal:
                data = data or d.unconsumed_tail
            try:
                out = d.decompress(data, n)
            except _ISAL_ERRORS as exc:  # callers catch zlib.error for a damaged stream
                raise zlib.error(str(exc)) from None
            # the stdlib leaves input beyond the end in unconsumed_tail when n cut it short
            data = (d.unused_data + (b"" if self._isal else d.unconsumed_tail)) \
                if d.eof else b""
        if data.strip(b"\0"):  # zero padding after the stream is tolerated, as before
            raise zlib.error("data after the end of the zlib stream")
        return out
