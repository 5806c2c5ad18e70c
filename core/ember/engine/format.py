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

import datetime
import json
from dataclasses import dataclass, field
from typing import Any, Optional

from ember.errors import InvalidBackup, UnsupportedVersion

METADATA_VERSION = "1.0.0"


# ---- object naming ------------------------------------------------------------------
def timestamp(now: datetime.datetime | None = None) -> str:
    """UTC ``YYYYmmddHHMMSS``, the timestamp inside object prefixes."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return now.astimezone(datetime.timezone.utc).strftime("%Y%m%d%H%M%S")


def posix_container(backup_id: str) -> str:
    """Posix family default container: ``id[0:2]/id[2:4]/id``."""
    return "/".join((backup_id[0:2], backup_id[2:4], backup_id))


def posix_prefix(volume_id: str, ts: str, backup_id: str) -> str:
    return "volume_%s_%s_backup_%s" % (volume_id, ts, backup_id)


def object_store_prefix(volume_id: str, ts: str, az: str, backup_id: str) -> str:
    return "volume_%s/%s/az_%s_backup_%s" % (volume_id, ts, az, backup_id)


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
