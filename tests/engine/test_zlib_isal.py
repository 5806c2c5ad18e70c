"""zlib on ISA-L (``isal``) and on the stdlib fallback: either writes one standard zlib
stream that the other, stdlib ``zlib.decompress`` and therefore Cinder read; damaged
streams raise ``zlib.error`` whichever library inflates; the default level stores about
what Cinder's zlib stores, and the fast levels stay reachable."""

from __future__ import annotations

import io
import random
import zlib

import pytest

from ember.engine import compression

pytest.importorskip("isal", reason="isal is a core dependency; this tests its use")


def _text(n: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    words = [bytes(rng.choices(b"etaoinshrdlu", k=rng.randint(2, 9))) for _ in range(500)]
    out = bytearray()
    while len(out) < n:
        out += b" ".join(rng.choices(words, k=12)) + b".\n"
    return bytes(out[:n])


# text, a zero run (the cached encoding), random bytes, an odd tail
DATA = _text(300_000) + bytes(200_000) + random.Random(1).randbytes(70_000) + b"tail!"


@pytest.fixture(params=["isal", "stdlib"])
def backend(request, monkeypatch):
    """Run the test with ISA-L, then with the stdlib as if isal were not installed."""
    if request.param == "stdlib":
        monkeypatch.setattr(compression, "_isal", None)
        monkeypatch.setattr(compression, "_igzip", None)
    compression._deflated_zeros.cache_clear()
    yield request.param
    compression._deflated_zeros.cache_clear()


def _stream(data: bytes, piece: int = 65536, level=None) -> bytes:
    sc = compression.StreamCompressor("zlib", len(data), level)
    out = [sc.feed(data[i:i + piece]) for i in range(0, len(data), piece)]
    return b"".join(out) + sc.finish()


def _read(blob: bytes, n: int = 50_000) -> bytes:
    reader = compression.DecompressingReader("zlib", io.BytesIO(blob))
    parts = []
    while part := reader.read(n):
        assert len(part) <= n
        parts.append(part)
    return b"".join(parts)


def test_default_level_deflates_on_isal_and_fallback_on_stdlib(backend):
    expected = "isal" if backend == "isal" else "zlib"
    assert compression.deflate_backend(compression.level_for("zlib", None)) == expected
    for level in (0, 7, 8, 9):  # stored blocks and best-ratio levels: always the stdlib
        assert compression.deflate_backend(level) == "zlib"


def test_level_mapping_is_nearest_isal_ratio():
    assert compression.ISAL_LEVELS == {1: 1, 2: 2, 3: 2, 4: 3, 5: 3, 6: 3}


def test_default_level_stores_about_what_cinders_zlib_stores(backend):
    # pieces that start with random bytes and go on with text (a mixed volume): the
    # default level deflates every piece, so it stores within 5 % of zlib level 6
    rng = random.Random(7)
    data = b"".join(rng.randbytes(16384) + DATA[:49152] for _ in range(16))
    cinder = len(zlib.compress(data, 6))
    assert not compression.samples_pieces("zlib", compression.level_for("zlib", None))
    blob = _stream(data, piece=len(data))  # one engine piece
    assert len(blob) <= 1.05 * cinder
    assert zlib.decompress(blob) == data


def test_fast_levels_stay_reachable():
    # backup_compression_level 1-3: pieces whose sample does not compress are stored
    assert all(compression.samples_pieces("zlib", level) for level in (1, 2, 3))
    assert not any(compression.samples_pieces("zlib", level) for level in range(4, 10))
    assert not compression.samples_pieces("zstd", 1)


def test_stream_is_standard_zlib_read_by_stdlib_and_both_readers(backend, monkeypatch):
    blob = _stream(DATA)
    assert zlib.decompress(blob) == DATA  # what Cinder does with a zlib object
    assert blob[:2] == compression.zlib_header(6)
    assert _read(blob) == DATA
    assert compression.decompress("zlib", blob) == DATA
    monkeypatch.setattr(compression, "_igzip", None)  # the stdlib reader too
    monkeypatch.setattr(compression, "_isal", None)
    assert _read(blob) == DATA
    assert compression.decompress("zlib", blob) == DATA


def test_isal_deflate_really_differs_from_stdlib(monkeypatch):
    """Proves the ISA-L path runs: same input, different (but both valid) deflate bytes,
    and ISA-L's is at most 5 % larger on text."""
    text = _text(1 << 20)
    fast = compression.deflate_piece(text, 6, last=False)
    monkeypatch.setattr(compression, "_isal", None)
    slow = compression.deflate_piece(text, 6, last=False)
    assert fast != slow
    assert len(fast) <= len(slow) * 1.05
    for raw in (fast, slow):
        assert zlib.decompressobj(-15).decompress(raw) == text


def test_stdlib_written_stream_reads_through_isal():
    blob = zlib.compress(DATA, 9)
    assert _read(blob, 4096) == DATA
    assert compression.decompress("zlib", blob) == DATA


def test_one_shot_compress_is_standard_zlib(backend):
    blob = compression.compress("zlib", DATA)
    assert zlib.decompress(blob) == DATA


@pytest.mark.parametrize("where", ["trailer", "body"])
def test_damaged_stream_raises_zlib_error(backend, where):
    blob = bytearray(_stream(DATA))
    blob[-2 if where == "trailer" else 40] ^= 0xFF
    with pytest.raises(zlib.error):
        _read(bytes(blob))
    with pytest.raises(zlib.error):
        compression.decompress("zlib", bytes(blob))


def test_data_after_the_stream_raises_but_zero_padding_does_not(backend):
    blob = _stream(DATA)
    assert _read(blob + bytes(100)) == DATA
    with pytest.raises(zlib.error, match="data after the end of the zlib stream"):
        _read(blob + b"\0junk")


def test_truncated_stream_reads_short(backend):
    blob = _stream(DATA)
    assert len(_read(blob[:len(blob) // 2])) < len(DATA)
