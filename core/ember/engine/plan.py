"""The restore plan: a chain's ``_metadata`` documents checked against the volume before
anything reads an object or writes a byte.

Every document is hostile until checked. A plan is accepted only when:

* each member's ``_metadata`` names that member (``backup_id``), the chain's volume
  (``volume_id``, as the catalogue row records it when it knows one) and the parent the
  catalogue gives it (``parent_id``: none for the full backup);
* every entry has a known codec and lies inside ``[0, volume size)`` with a positive
  length, and no two entries of one member overlap;
* the full backup covers ``[0, volume size)`` without a gap (its objects are the whole
  volume), and the volume size is at most what the catalogue row allows.

A violation raises ``InvalidBackup`` with one line naming the backup and the entry. The
documents themselves are read through ``read_document``, which refuses one larger than
a backup of the volume can have before holding it in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ember.engine import compression
from ember.engine import format as fmt
from ember.errors import InvalidBackup, ObjectNotFound, UnsupportedCompression
from ember.engine.extents import Coverage

#: the largest volume a catalogue row can describe (Cinder: a 32-bit count of GiB)
MAX_VOLUME = (2**31 - 1) << 30
#: a volume id the catalogue uses when a record named none (nothing to compare)
UNKNOWN_VOLUME = "00000000-0000-0000-0000-000000000000"
#: bytes of a document besides its per-object or per-block lines (ids, names, meta)
_DOCUMENT_BASE = 1 << 20
#: bytes of one ``objects`` entry besides its name (keys, numbers, md5, indentation)
_ENTRY_BYTES = 256
#: bytes of one ``sha256s`` line (64 hex digits, quotes, comma, indentation)
_DIGEST_BYTES = 80


def metadata_limit(volume_bytes: int, block_size: int, prefix: str) -> int:
    """Largest ``_metadata`` a backup of ``volume_bytes`` can have: one entry per SHA
    block at most (an incremental's runs are whole blocks)."""
    blocks = -(-max(0, volume_bytes) // max(1, block_size))
    return _DOCUMENT_BASE + blocks * (_ENTRY_BYTES + len(prefix))


def sha256file_limit(volume_bytes: int, block_size: int) -> int:
    """Largest ``_sha256file`` a backup of ``volume_bytes`` can have."""
    return _DOCUMENT_BASE + -(-max(0, volume_bytes) // max(1, block_size)) * _DIGEST_BYTES


READ_PIECE = 1 << 20


def read_document(driver, container: str, name: str, limit: int, backup_id: str) -> bytes:
    """The whole object ``name``, refused (``InvalidBackup``) when it holds more than
    ``limit`` bytes: at most ``limit + 1`` bytes are ever read into memory."""
    try:
        reader = driver.open_reader(container, name)
    except ObjectNotFound:
        raise InvalidBackup("backup %s: object %s is missing from container %s; the backup "
                            "is incomplete or was deleted" % (backup_id, name, container)
                            ) from None
    try:
        # in pieces: a file's read(n) allocates n bytes first, and limit may be huge
        pieces, size = [], 0
        while size <= limit:
            piece = reader.read(min(READ_PIECE, limit + 1 - size))
            if not piece:
                break
            pieces.append(piece)
            size += len(piece)
        data = b"".join(pieces)
    finally:
        close = getattr(reader, "close", None)
        if close:
            close()
    if len(data) > limit:
        raise InvalidBackup("backup %s: object %s holds more than the %d bytes a backup of "
                            "its volume can have; it is damaged or not a backup document"
                            % (backup_id, name, limit))
    return data


@dataclass(frozen=True)
class Step:
    """One object to read and the byte ranges of it to write (newer members' ranges
    removed)."""

    member: object  # ember.engine.ChainMember
    entry: fmt.ObjectEntry
    ranges: tuple


@dataclass
class RestorePlan:
    chain: list
    metas: list
    volume_size: int
    steps: list
    #: the tip's SHA-256 list, scanned (``imagecheck.ListShape``); None: md5 checks only
    image: object = None

    @property
    def total(self) -> int:
        return sum(e - s for step in self.steps for s, e in step.ranges)

    @property
    def volume_meta(self):
        return self.metas[-1].volume_meta


def _entry(backup_id: str, entry: fmt.ObjectEntry) -> str:
    return "backup %s: entry %s (offset %d, length %d)" % (backup_id, entry.name,
                                                          entry.offset, entry.length)


def check_entries(backup_id: str, md: fmt.BackupMetadata, volume_size: int, *,
                  full: bool) -> None:
    """Every entry of one member inside ``[0, volume_size)``, with a known codec, no two
    overlapping; a full backup's entries cover the volume without a gap."""
    if full and not md.objects:
        raise InvalidBackup("backup %s: its _metadata lists no object; a full backup must "
                            "cover its volume" % backup_id)
    end = 0
    for entry in sorted(md.objects, key=lambda e: (e.offset, e.length)):
        where = _entry(backup_id, entry)
        try:
            compression.canonical(entry.compression)
        except UnsupportedCompression as exc:
            raise UnsupportedCompression("%s: %s; the backup is damaged or needs a newer "
                                         "Ember" % (where, exc)) from None
        if entry.length <= 0:
            raise InvalidBackup("%s is empty; the backup is damaged" % where)
        if entry.end > volume_size:
            raise InvalidBackup("%s ends beyond the volume's %d bytes; the backup is damaged"
                                % (where, volume_size))
        if entry.offset < end:
            raise InvalidBackup("%s overlaps the entry before it (which ends at %d); the "
                                "backup is damaged" % (where, end))
        if full and entry.offset > end:
            raise InvalidBackup("%s leaves bytes %d to %d of the full backup uncovered; the "
                                "backup is damaged" % (where, end, entry.offset))
        end = entry.end
    if full and end != volume_size:
        raise InvalidBackup("backup %s: its objects end at %d, not at the volume's %d bytes; "
                            "the backup is damaged" % (backup_id, end, volume_size))


def full_size(backup_id: str, md: fmt.BackupMetadata, size_limit: int) -> int:
    """The volume size a full backup's ``_metadata`` declares (the end of its last
    object), refused when beyond ``size_limit`` (what the catalogue row allows)."""
    size = max((o.end for o in md.objects), default=0)
    if size <= 0:
        raise InvalidBackup("backup %s: its _metadata lists no data; a full backup must cover "
                            "its volume" % backup_id)
    if size > size_limit:
        raise InvalidBackup("backup %s: its objects reach %d bytes, beyond the %d bytes its "
                            "record allows; the backup is damaged or its record is wrong"
                            % (backup_id, size, size_limit))
    return size


def check_identity(member, md: fmt.BackupMetadata, parent_id, volume_id) -> None:
    """The document names this member, its catalogue parent and the chain's volume."""
    if md.backup_id != member.backup_id:
        raise InvalidBackup("backup %s: its _metadata names backup %s; the record points at "
                            "another backup's objects" % (member.backup_id, md.backup_id))
    if (md.parent_id or None) != parent_id:
        raise InvalidBackup("backup %s: its _metadata names parent %s but the catalogue "
                            "records %s; import the record that matches the repository"
                            % (member.backup_id, md.parent_id or "none", parent_id or "none"))
    if volume_id not in (None, UNKNOWN_VOLUME) and md.volume_id != volume_id:
        raise InvalidBackup("backup %s: its _metadata is of volume %s, not the chain's %s"
                            % (member.backup_id, md.volume_id, volume_id))


def build(chain: Sequence, metas: Sequence[fmt.BackupMetadata], size_limit: int
          ) -> RestorePlan:
    """Check the whole chain (oldest first, ``metas`` its parsed documents) and return
    what to read and write: each byte range from the newest member holding it."""
    volume_id = getattr(chain[0], "volume_id", None)
    for i, (member, md) in enumerate(zip(chain, metas)):
        known = getattr(member, "volume_id", None)
        check_identity(member, md, chain[i - 1].backup_id if i else None,
                       known if known not in (None, UNKNOWN_VOLUME) else volume_id)
        if volume_id in (None, UNKNOWN_VOLUME):
            volume_id = md.volume_id
    volume_size = full_size(chain[0].backup_id, metas[0], size_limit)
    for i, (member, md) in enumerate(zip(chain, metas)):
        check_entries(member.backup_id, md, volume_size, full=i == 0)
    coverage, steps = Coverage(), []
    for member, md in zip(reversed(chain), reversed(metas)):
        for entry in md.objects:
            ranges = coverage.claim(entry.offset, entry.end)
            if ranges:
                steps.append(Step(member, entry, tuple(ranges)))
    steps.sort(key=lambda s: s.entry.offset)
    return RestorePlan(list(chain), list(metas), volume_size, steps)
