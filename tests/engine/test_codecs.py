"""Codecs: every name round-trips (aliases too), zstd frames carry the content size and
decode with python-zstd (the module Cinder uses), unknown names are refused."""

from __future__ import annotations

import bz2
import io
import zlib

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from ember.engine import compression
from ember.errors import UnsupportedCompression

NAMES = ["none", "off", "no", "zlib", "gzip", "bz2", "bzip2", "zstd", "ZLIB", "Gzip"]


def _stream(name, data, piece=4096, threads=0):
    sc = compression.StreamCompressor(name, len(data), threads=threads)
    out = b"".join(sc.feed(data[i:i + piece]) for i in range(0, len(data), piece))
    return out + sc.finish()


def _read_all(name, blob, n=1000):
    reader = compression.DecompressingReader(name, io.BytesIO(blob))
    parts = []
    while True:
        part = reader.read(n)
        if not part:
            return b"".join(parts)
        assert len(part) <= n
        parts.append(part)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(NAMES),
       data=st.one_of(st.binary(max_size=20000),
                      st.builds(lambda n, b: b * n, st.integers(0, 30000), st.binary(min_size=1, max_size=3))))
def test_every_codec_round_trips_streamed_and_one_shot(name, data):
    blob = _stream(name, data)
    assert compression.decompress(name, blob) == data
    assert _read_all(name, blob) == data
    assert compression.decompress(name, compression.compress(name, data)) == data


@pytest.mark.parametrize("threads", [0, 2])
def test_zstd_is_one_frame_with_content_size_readable_by_python_zstd(threads):
    zstd = pytest.importorskip("zstd", reason="python-zstd is in the test extra")
    data = (b"ember " * 300000) + bytes(1 << 20)
    blob = _stream("zstd", data, piece=1 << 20, threads=threads)
    params = zstandard.get_frame_parameters(blob)
    assert params.content_size == len(data)
    assert zstd.decompress(blob) == data
    assert zstandard.ZstdDecompressor().decompress(blob) == data


def test_pigz_style_zlib_is_a_standard_zlib_stream():
    data = bytes(100000) + b"text " * 50000 + bytes(range(256)) * 400
    blob = _stream("zlib", data, piece=65536)
    assert zlib.decompress(blob) == data
    assert blob[:2] == compression.zlib_header(6)
    assert (blob[0] * 256 + blob[1]) % 31 == 0


def test_concatenated_bz2_streams_are_read_like_cinder_does():
    blob = bz2.compress(b"a" * 5000) + bz2.compress(b"b" * 7000)
    assert compression.decompress("bzip2", blob) == bz2.decompress(blob)
    assert _read_all("bz2", blob, n=100) == b"a" * 5000 + b"b" * 7000


def test_decompressing_reader_memory_is_bounded_by_read_size():
    blob = _stream("zlib", bytes(8 << 20), piece=1 << 20)
    reader = compression.DecompressingReader("zlib", io.BytesIO(blob))
    assert len(reader.read(4096)) == 4096


@pytest.mark.parametrize("bad", ["lz4", "", None, "gzip2"])
def test_unknown_codec_is_refused(bad):
    with pytest.raises(UnsupportedCompression,
                       match="unsupported compression algorithm: %s" % bad):
        compression.canonical(bad)


def test_incompressible_data_is_recognised():
    import os
    assert compression.looks_incompressible(os.urandom(65536))
    assert not compression.looks_incompressible(b"abc" * 30000)
