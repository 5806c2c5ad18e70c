"""The repository format, byte-compatible with Cinder's chunked backup drivers.

Two JSON documents describe each backup, next to its data objects:

* ``<prefix>_metadata``: the object list (name, offset, uncompressed length,
  compression, md5 of the uncompressed bytes), ids, names, ``volume_meta``.
* ``<prefix>_sha256file``: one SHA-256 per ``chunk_size`` (= SHA block size) block of
  the *whole* volume, which the next incremental compares against.

Both are ``json.dumps(doc, sort_keys=True, indent=2)`` encoded as UTF-8: ASCII escapes,
no trailing newline, exactly as Cinder writes them, so parsing a Cinder document and
serialising it again gives the identical bytes (the fixtures test this).
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from ember.errors import InvalidBackup, UnsupportedVersion
from ember.naming import (  # noqa: F401 - part of the format, re-exported
    object_store_prefix,
    posix_container,
    posix_prefix,
    timestamp,
)

METADATA_VERSION = "1.0.0"


# ---- object naming (containers and prefixes: ember.naming) ----------------------------
def object_name(prefix: str, object_id: int) -> str:
    """Data object ``n`` (from 1) of a backup: ``<prefix>-00001``."""
    return "%s-%05d" % (prefix, object_id)


def metadata_name(prefix: str) -> str:
    return prefix + "_metadata"


def sha256file_name(prefix: str) -> str:
    return prefix + "_sha256file"


def is_document(prefix: str, name: str) -> bool:
    """True for the backup's ``_metadata`` / ``_sha256file`` (not data objects)."""
    return name in (metadata_name(prefix), sha256file_name(prefix))


# ---- documents ----------------------------------------------------------------------
@dataclass
class ObjectEntry:
    """One data object: ``length`` and ``md5`` describe the *uncompressed* bytes."""

    name: str
    offset: int
    length: int
    compression: str
    md5: Optional[str]  # None only in documents that lack it (never written so)

    @property
    def end(self) -> int:
        return self.offset + self.length


@dataclass
class BackupMetadata:
    """The ``_metadata`` document. ``volume_meta`` is the JSON *string* Cinder stores."""

    backup_id: str
    volume_id: str
    created_at: str
    objects: list[ObjectEntry] = field(default_factory=list)
    backup_name: Optional[str] = None
    backup_description: Optional[str] = None
    parent_id: Optional[str] = None
    volume_meta: Optional[str] = None
    version: str = METADATA_VERSION
    #: written only when not None (no in-tree Cinder driver sets it)
    extra_metadata: Any = None


@dataclass
class Sha256File:
    """The ``_sha256file`` document: ``chunk_size`` is the SHA *block* size."""

    backup_id: str
    volume_id: str
    created_at: str
    chunk_size: int
    sha256s: list[str]
    backup_name: Optional[str] = None
    backup_description: Optional[str] = None
    version: str = METADATA_VERSION


def _dumps(doc: dict) -> bytes:
    # Cinder: json.dumps(..., sort_keys=True, indent=2).encode('utf-8')
    return json.dumps(doc, sort_keys=True, indent=2).encode("utf-8")


def dump_metadata(md: BackupMetadata) -> bytes:
    """Serialise ``_metadata`` byte-identically to Cinder."""
    doc = {
        "version": md.version,
        "backup_id": md.backup_id,
        "volume_id": md.volume_id,
        "backup_name": md.backup_name,
        "backup_description": md.backup_description,
        "created_at": md.created_at,
        "objects": [
            {o.name: {"offset": o.offset, "length": o.length,
                      "compression": o.compression, "md5": o.md5}}
            for o in md.objects
        ],
        "parent_id": md.parent_id,
        "volume_meta": md.volume_meta,
    }
    if md.extra_metadata is not None:
        doc["extra_metadata"] = md.extra_metadata
    return _dumps(doc)


def dump_sha256file(sf: Sha256File) -> bytes:
    """Serialise ``_sha256file`` byte-identically to Cinder."""
    return _dumps({
        "version": sf.version,
        "backup_id": sf.backup_id,
        "volume_id": sf.volume_id,
        "backup_name": sf.backup_name,
        "backup_description": sf.backup_description,
        "created_at": sf.created_at,
        "chunk_size": sf.chunk_size,
        "sha256s": sf.sha256s,
    })


def _load(data: bytes, backup_id: str, name: str) -> dict:
    """Decode one document; every failure is an ``InvalidBackup`` naming backup and object."""
    where = "backup %s: object %s" % (backup_id, name)
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidBackup("%s is not UTF-8 (%s); the backup is damaged" % (where, exc)) from None
    except json.JSONDecodeError as exc:
        raise InvalidBackup("%s is not valid JSON, truncated or damaged (%s at byte %d of %d)"
                            % (where, exc.msg, exc.pos, len(data))) from None
    if not isinstance(doc, dict):
        raise InvalidBackup("%s is JSON but not an object; the backup is damaged" % where)
    version = doc.get("version")
    if version != METADATA_VERSION:
        raise UnsupportedVersion("%s has format version %r; Ember reads only %r "
                                 "(No support to restore backup version %s)"
                                 % (where, version, METADATA_VERSION, version))
    return doc


def _require(doc: dict, key: str, types, backup_id: str, name: str, optional=False):
    value = doc.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, types) or isinstance(value, bool):
        raise InvalidBackup("backup %s: object %s has a missing or malformed %r field (%r)"
                            % (backup_id, name, key, value))
    return value


def _parse_entry(item: Any, backup_id: str, name: str) -> ObjectEntry:
    if not isinstance(item, dict) or len(item) != 1:
        raise InvalidBackup("backup %s: object %s has a malformed entry in 'objects' (%r)"
                            % (backup_id, name, item))
    (obj_name, entry), = item.items()
    if not isinstance(entry, dict):
        raise InvalidBackup("backup %s: object %s: entry of %s is not an object"
                            % (backup_id, name, obj_name))
    where = "%s entry %s" % (name, obj_name)
    offset = _require(entry, "offset", int, backup_id, where)
    length = _require(entry, "length", int, backup_id, where)
    if offset < 0 or length < 0:
        raise InvalidBackup("backup %s: object %s has a negative offset or length"
                            % (backup_id, where))
    return ObjectEntry(
        name=obj_name, offset=offset, length=length,
        compression=_require(entry, "compression", str, backup_id, where),
        md5=_require(entry, "md5", str, backup_id, where, optional=True))


def parse_metadata(data: bytes, backup_id: str, name: str) -> BackupMetadata:
    """Parse ``_metadata``. Keys missing in pre-Kilo documents read as None.

    Raises ``UnsupportedVersion`` for a version other than "1.0.0" and
    ``InvalidBackup`` for anything unreadable; messages name backup and object."""
    doc = _load(data, backup_id, name)
    objects = _require(doc, "objects", list, backup_id, name)
    return BackupMetadata(
        backup_id=_require(doc, "backup_id", str, backup_id, name),
        volume_id=_require(doc, "volume_id", str, backup_id, name),
        created_at=doc.get("created_at"),
        objects=[_parse_entry(item, backup_id, name) for item in objects],
        backup_name=doc.get("backup_name"),
        backup_description=doc.get("backup_description"),
        parent_id=doc.get("parent_id"),
        volume_meta=doc.get("volume_meta"),
        version=doc["version"],
        extra_metadata=doc.get("extra_metadata"),
    )


def parse_sha256file(data: bytes, backup_id: str, name: str) -> Sha256File:
    """Parse ``_sha256file`` (same error rules as ``parse_metadata``)."""
    doc = _load(data, backup_id, name)
    shas = _require(doc, "sha256s", list, backup_id, name)
    if not all(isinstance(s, str) for s in shas):
        raise InvalidBackup("backup %s: object %s has a non-string entry in 'sha256s'"
                            % (backup_id, name))
    chunk_size = _require(doc, "chunk_size", int, backup_id, name)
    if chunk_size <= 0:
        raise InvalidBackup("backup %s: object %s has chunk_size %d; it must be positive"
                            % (backup_id, name, chunk_size))
    return Sha256File(
        backup_id=_require(doc, "backup_id", str, backup_id, name),
        volume_id=_require(doc, "volume_id", str, backup_id, name),
        created_at=doc.get("created_at"),
        chunk_size=chunk_size,
        sha256s=shas,
        backup_name=doc.get("backup_name"),
        backup_description=doc.get("backup_description"),
        version=doc["version"],
    )


# ---- _sha256file, streamed ----------------------------------------------------------
# A 1 TiB volume's list has 33 million entries (2.4 GB of JSON): it is written as the
# digests are computed and read as they are compared, never held whole. Digests travel
# as raw bytes, 32 per block, concatenated.
DIGEST_SIZE = 32
_ENTRY_INDENT = "\n    "
_CANONICAL_UNIT = 72  # '\n    "' + 64 hex + '",' : one entry of Cinder's layout
#: (column, character) of every entry of Cinder's layout but its 64 hex digits
_CANONICAL_COLUMNS = tuple(enumerate('\n    "')) + ((70, '"'), (71, ","))
_QUOTES_COMMAS = str.maketrans("", "", '",')  # fromhex skips the newlines and spaces
_ITEM = re.compile(r'\s*"([0-9a-fA-F]{64})"\s*([,\]])')


class Sha256Writer:
    """Writes a ``_sha256file`` byte-identical to ``dump_sha256file`` while its digests
    arrive in volume order. ``doc.sha256s`` is ignored; ``write`` receives the bytes."""

    def __init__(self, doc: Sha256File, write, buffer_size: int = 1 << 20):
        text = dump_sha256file(dataclasses.replace(doc, sha256s=["-"])).decode("ascii")
        # strings never hold a raw newline, so this pattern is the array's and unique
        at = text.index('"sha256s": [\n') + len('"sha256s": [')
        self._head, self._tail = text[:at], text[text.index("\n  ]", at):]
        self._write, self._buffer_size = write, buffer_size
        self._parts: list[str] = [self._head]
        self._size = len(self._head)
        self.count = 0

    def add(self, digests: bytes) -> None:
        """Append the digests of the next blocks (``DIGEST_SIZE`` bytes each)."""
        hexes = digests.hex()
        lines = [hexes[i:i + 64] for i in range(0, len(hexes), 64)]
        if lines:
            self._emit('"' + ('",' + _ENTRY_INDENT + '"').join(lines) + '"', len(lines))

    def add_repeated(self, digest: bytes, count: int) -> None:
        """Append ``count`` blocks of one digest (zero blocks of a hole) in bounded writes."""
        line = '"%s",%s' % (digest.hex(), _ENTRY_INDENT)
        while count > 0:
            n = min(count, 1 << 16)
            self._emit((line * n)[:-len(_ENTRY_INDENT) - 1], n)
            count -= n

    def _emit(self, items: str, n: int) -> None:
        text = ("," if self.count else "") + _ENTRY_INDENT + items
        self._parts.append(text)
        self._size += len(text)
        self.count += n
        if self._size >= self._buffer_size:
            self._drain()

    def _drain(self) -> None:
        self._write("".join(self._parts).encode("ascii"))
        self._parts, self._size = [], 0

    def close(self) -> None:
        """Write the end of the document (the caller then commits its writer)."""
        self._parts.append(self._tail if self.count else "]" + self._tail[len("\n  ]"):])
        self._drain()


class Sha256Reader:
    """Reads a ``_sha256file`` from ``read(n)`` (a driver's reader) as a stream: ``take(n)``
    returns the next ``n`` digests as bytes (fewer only at the end of the list).

    Any JSON layout is accepted; Cinder's (and Ember's) is parsed at C speed, anything
    else one entry at a time. The other fields are read when met; ``finish()`` reads to
    the end, checks the document as ``parse_sha256file`` does and returns it with an
    empty ``sha256s``. Only what ``finish()`` returned may be trusted: compare first,
    act after. Errors are ``InvalidBackup`` naming backup and object."""

    READ_SIZE = 1 << 20
    MAX_FIELD = 1 << 20  # a field other than the list larger than this is refused

    def __init__(self, read, backup_id: str, name: str, limit: Optional[int] = None):
        self._read, self._backup_id, self._name = read, backup_id, name
        self._limit = limit  # the most bytes the document may hold
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._text, self._pos, self._eof = "", 0, False
        self._fields: dict = {}
        self._pending = bytearray()  # digests decoded, from _taken on not yet taken
        self._taken = 0
        self._in_list = False
        self._list_done = False
        self._first_item = True
        self._slow_until = 0  # the fast path failed before this position of the text
        self._size = 0  # bytes read
        self._open_document()
        self._seek_list()

    # ---- input ----------------------------------------------------------------------
    def _fail(self, what: str):
        raise InvalidBackup("backup %s: object %s %s" % (self._backup_id, self._name, what))

    def _more(self) -> bool:
        if self._eof:
            return False
        data = self._read(self.READ_SIZE)
        if self._pos > 1 << 16:
            self._slow_until = max(0, self._slow_until - self._pos)
            self._text, self._pos = self._text[self._pos:], 0
        try:
            self._text += self._decoder.decode(data or b"", final=not data)
        except UnicodeDecodeError as exc:
            self._fail("is not UTF-8 (%s); the backup is damaged" % exc)
        self._size += len(data or b"")
        self._eof = not data
        if self._limit is not None and self._size > self._limit:
            self._fail("holds more than the %d bytes a backup of its volume can have; it is "
                       "damaged or not a backup document" % self._limit)
        return True

    def _skip_ws(self) -> str:
        while True:
            text, pos = self._text, self._pos
            while pos < len(text) and text[pos] in " \t\r\n":
                pos += 1
            self._pos = pos
            if pos < len(text):
                return text[pos]
            if not self._more():
                self._fail("ends early (%d bytes); it is truncated or damaged" % self._size)

    def _expect(self, char: str) -> None:
        if self._skip_ws() != char:
            self._fail("is not a valid _sha256file (expected %r at byte %d)"
                       % (char, self._size - len(self._text) + self._pos))
        self._pos += 1

    def _value(self, limit: int):
        """Decode the JSON value at the cursor (reading more until it is complete)."""
        self._skip_ws()
        decoder = json.JSONDecoder()
        while True:
            try:
                value, end = decoder.raw_decode(self._text, self._pos)
            except json.JSONDecodeError:
                value = end = None
            # a number or literal cut by the buffer's end decodes early: need more then
            if end is not None and (end < len(self._text) or self._eof):
                self._pos = end
                return value
            if len(self._text) - self._pos > limit:
                self._fail("has a field larger than %d bytes; the backup is damaged" % limit)
            if not self._more():
                if end is not None:
                    self._pos = end
                    return value
                self._fail("is not valid JSON, truncated or damaged")

    # ---- structure ------------------------------------------------------------------
    def _open_document(self) -> None:
        self._expect("{")
        self._first_key = True

    def _seek_list(self) -> None:
        """Read fields up to the ``sha256s`` array's first entry (or the document's end)."""
        while True:
            if self._skip_ws() == "}":
                self._pos += 1
                return
            if not self._first_key:
                self._expect(",")
            self._first_key = False
            key = self._value(self.MAX_FIELD)
            if not isinstance(key, str):
                self._fail("is not a valid _sha256file (a key is not a string)")
            self._expect(":")
            if key == "sha256s":
                if "sha256s" in self._fields:
                    self._fail("has two 'sha256s' fields; the backup is damaged")
                if self._skip_ws() != "[":
                    self._fail("has a missing or malformed 'sha256s' field")
                self._pos += 1
                self._fields["sha256s"] = True
                self._in_list = True
                return
            self._fields[key] = self._value(self.MAX_FIELD)

    def _decode_items(self) -> None:
        """Decode the next batch of entries into ``_pending``."""
        if self._first_item:
            self._first_item = False
            start = self._pos  # just after '[': the first entry keeps its indent
            if self._skip_ws() == "]":
                self._pos += 1
                self._close_list()
                return
            # the cursor then sits on a ',' before every entry, the first one too
            self._text, self._pos = "," + self._text[start:], 0
        text, pos = self._text, self._pos
        if pos >= self._slow_until and self._decode_canonical(text, pos):
            return
        if text[pos] == ",":
            m = _ITEM.match(text, pos + 1)
        else:
            m = None
        if m is None or m.end() == len(text) and not self._eof:
            if self._more():
                return
            if m is None and "]" not in text[pos:]:
                self._fail("ends early (%d bytes); it is truncated or damaged" % self._size)
            if m is None:
                self._fail("has a malformed entry in 'sha256s' near byte %d (not a SHA-256 "
                           "hex digest)" % (self._size - len(self._text) + self._pos))
        self._pending += bytes.fromhex(m.group(1))
        if m.group(2) == "]":
            self._pos = m.end()
            self._close_list()
        else:
            self._pos = m.end() - 1  # leave the ',' for the next entry

    def _decode_canonical(self, text: str, pos: int) -> bool:
        """The fast path: the whole entries of the canonical layout from ``pos`` (a ','),
        checked column by column (strided slices, so C speed), the hex digits then by
        fromhex; True if it decoded some, the cursor then past them. The batch stops
        before the list's last entry (no ',' follows it), so a document whose fields go
        on after the list is decoded in batches too. Where the layout is another, or an
        entry not hex, the text up to there is left to the entry-by-entry path, so any
        layout costs linear time."""
        end = text.find("]", pos)
        k = ((len(text) if end < 0 else end) - pos - 1) // _CANONICAL_UNIT - (end >= 0)
        if k <= 0:
            return False
        body = text[pos + 1:pos + 1 + k * _CANONICAL_UNIT]
        if all(body[i::_CANONICAL_UNIT] == char * k for i, char in _CANONICAL_COLUMNS):
            try:
                self._pending += bytes.fromhex(body.translate(_QUOTES_COMMAS))
            except ValueError:  # not hex: entry by entry up to there, naming it
                pass
            else:
                # the cursor now sits on the ',' before the next entry, as before
                self._pos = pos + k * _CANONICAL_UNIT
                return True
        self._slow_until = pos + k * _CANONICAL_UNIT
        return False

    def _close_list(self) -> None:
        self._in_list = False
        self._list_done = True
        self._seek_list()

    def take(self, n: int) -> bytes:
        """The next ``n`` digests (``n * DIGEST_SIZE`` bytes; fewer at the list's end)."""
        want = n * DIGEST_SIZE
        while len(self._pending) - self._taken < want and self._in_list:
            self._decode_items()
        start = self._taken
        self._taken = min(len(self._pending), start + want)
        out = bytes(self._pending[start:self._taken])
        if self._taken > 1 << 20:
            del self._pending[:self._taken]
            self._taken = 0
        return out

    def finish(self, exact: bool = True) -> Sha256File:
        """Read to the end; the checked document (``sha256s`` empty). With ``exact``,
        raises if any digest was left untaken (the list is longer than expected)."""
        while self._in_list and (not exact or len(self._pending) == self._taken):
            self._decode_items()
            if not exact:
                self._pending, self._taken = bytearray(), 0
        if len(self._pending) > self._taken:
            self._fail("lists more blocks than the volume has; the backup is damaged")
        if self._skip_ws_or_end():
            self._fail("has data after the document; it is damaged")
        doc = self._fields
        version = doc.get("version")
        if version != METADATA_VERSION:
            raise UnsupportedVersion("backup %s: object %s has format version %r; Ember reads "
                                     "only %r (No support to restore backup version %s)"
                                     % (self._backup_id, self._name, version,
                                        METADATA_VERSION, version))
        if "sha256s" not in doc:
            _require(doc, "sha256s", list, self._backup_id, self._name)
        chunk_size = self.chunk_size()
        return Sha256File(
            backup_id=_require(doc, "backup_id", str, self._backup_id, self._name),
            volume_id=_require(doc, "volume_id", str, self._backup_id, self._name),
            created_at=doc.get("created_at"), chunk_size=chunk_size, sha256s=[],
            backup_name=doc.get("backup_name"),
            backup_description=doc.get("backup_description"), version=version)

    def chunk_size(self) -> Optional[int]:
        """The block size, once read (Cinder's layout has it before the list)."""
        if "chunk_size" not in self._fields and not self._list_done:
            return None
        size = _require(self._fields, "chunk_size", int, self._backup_id, self._name)
        if size <= 0:
            self._fail("has chunk_size %d; it must be positive" % size)
        return size

    def _skip_ws_or_end(self) -> bool:
        """True if anything but whitespace follows the document."""
        while True:
            rest = self._text[self._pos:].strip()
            if rest:
                return True
            self._pos = len(self._text)
            if not self._more():
                return False
