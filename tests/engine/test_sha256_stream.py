"""The streamed ``_sha256file``: written byte-identical to Cinder's document as digests
arrive, read back from any JSON layout in any read size, damaged lists named."""

from __future__ import annotations

import hashlib
import io
import json
import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ember.engine import format as fmt
from ember.errors import InvalidBackup

FIXTURES = sorted(pathlib.Path(__file__).parent.parent.joinpath("data").rglob("*_sha256file"))
ZERO = hashlib.sha256(bytes(32768)).digest()


def _write(doc, digests: bytes, splits) -> bytes:
    out = io.BytesIO()
    writer = fmt.Sha256Writer(doc, out.write, buffer_size=500)
    pos = 0
    for n in splits + [len(digests) // 32]:
        part = digests[pos * 32:(pos + n) * 32]
        if part and part == part[:32] * (len(part) // 32):
            writer.add_repeated(part[:32], len(part) // 32)
        else:
            writer.add(part)
        pos += n
    writer.close()
    return out.getvalue()


def _read(data: bytes, read_size: int, take: int):
    reader = fmt.Sha256Reader(io.BytesIO(data).read, "b", "n")
    reader.READ_SIZE = read_size
    got = b""
    while part := reader.take(take):
        got += part
    return got, reader.finish()


@settings(max_examples=60, deadline=None)
@given(pattern=st.lists(st.sampled_from([0, 1, 2]), max_size=60),
       splits=st.lists(st.integers(0, 7), max_size=8),
       name=st.one_of(st.none(), st.text(max_size=12)),
       read_size=st.sampled_from([1, 7, 100, 1 << 20]), take=st.integers(1, 9))
def test_streamed_documents_equal_cinder_bytes_and_read_back(pattern, splits, name,
                                                             read_size, take):
    digests = b"".join(ZERO if p == 0 else hashlib.sha256(b"%d" % p).digest()
                       for p in pattern)
    doc = fmt.Sha256File(backup_id="b", volume_id="v", created_at="2025", chunk_size=32768,
                         sha256s=[digests[i:i + 32].hex() for i in range(0, len(digests), 32)],
                         backup_name=name, backup_description='"sha256s": [\n')
    splits = [s for s in splits if s] or [1]
    data = _write(doc, digests, splits)
    assert data == fmt.dump_sha256file(doc)
    compact = json.dumps(json.loads(data)).encode()  # another layout, same document
    for payload in (data, compact):
        got, back = _read(payload, read_size, take)
        assert got == digests
        assert (back.chunk_size, back.backup_name, back.volume_id) == (32768, name, "v")


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.parent.parent.parent.parent.name)
def test_cinder_fixture_lists_read_as_parsed(path):
    data = path.read_bytes()
    doc = fmt.parse_sha256file(data, "b", path.name)
    got, back = _read(data, 4096, 100)
    assert got == b"".join(bytes.fromhex(h) for h in doc.sha256s)
    assert back.chunk_size == doc.chunk_size


def test_a_damaged_entry_is_named_and_found_in_linear_time():
    doc = fmt.Sha256File(backup_id="b", volume_id="v", created_at="x", chunk_size=32768,
                         sha256s=[hashlib.sha256(b"%d" % i).hexdigest() for i in range(50000)])
    data = bytearray(fmt.dump_sha256file(doc))
    data[data.index(doc.sha256s[40000].encode())] = ord("g")
    with pytest.raises(InvalidBackup, match=r"^backup b: object n has a malformed entry in "
                       r"'sha256s' near byte \d+ \(not a SHA-256 hex digest\)$"):
        _read(bytes(data), 1 << 20, 1000)


def test_a_truncated_list_and_a_longer_list_are_refused():
    doc = fmt.Sha256File(backup_id="b", volume_id="v", created_at="x", chunk_size=32768,
                         sha256s=[ZERO.hex()] * 10)
    data = fmt.dump_sha256file(doc)
    with pytest.raises(InvalidBackup, match=r"^backup b: object n ends early"):
        _read(data[:200], 64, 3)
    reader = fmt.Sha256Reader(io.BytesIO(data).read, "b", "n")
    reader.take(9)
    with pytest.raises(InvalidBackup, match=r"^backup b: object n lists more blocks than the "
                       r"volume has; the backup is damaged$"):
        reader.finish()


def _counting(monkeypatch, name: str) -> list:
    calls = []
    original = getattr(fmt.Sha256Reader, name)

    def counted(self, *args):
        calls.append(self._pos)
        return original(self, *args)

    monkeypatch.setattr(fmt.Sha256Reader, name, counted)
    return calls


@pytest.mark.parametrize("layout", ["cinder", "compact"])
def test_a_long_list_is_read_in_linear_time_whatever_follows_it(monkeypatch, layout):
    """Cinder's document has fields after the list ("version", "volume_id"). The batch
    of the fast path once ran to the end of the text read, so it took those fields in,
    failed its check, and left every entry of that text to the entry-by-entry path,
    copying the rest of the text at each: 0.31 s for the 8,192 digests of a 256 MiB
    volume, 1.0 s for 32,768 in another layout. Now Cinder's layout is decoded in
    batches (two calls here), and any other layout tries the fast path once per text
    read, so the work is linear."""
    n = 8192
    doc = fmt.Sha256File(backup_id="b", volume_id="v", created_at="x", chunk_size=32768,
                         sha256s=[hashlib.sha256(b"%d" % i).hexdigest() for i in range(n)])
    data = fmt.dump_sha256file(doc)
    assert data.rstrip().endswith(b'"volume_id": "v"\n}')  # fields after the list
    if layout == "compact":
        data = json.dumps(json.loads(data)).encode()
    batches = _counting(monkeypatch, "_decode_items")
    tries = _counting(monkeypatch, "_decode_canonical")
    got, back = _read(data, 1 << 20, 1000)
    assert got == b"".join(bytes.fromhex(h) for h in doc.sha256s)
    assert back.volume_id == "v"
    if layout == "cinder":
        assert len(batches) <= 3, len(batches)  # the batch, then the last entry alone
    else:
        assert len(batches) >= n  # entry by entry ...
        assert len(tries) <= 2, len(tries)  # ... with the fast path tried once
