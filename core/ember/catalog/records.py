"""Backup records in Cinder's export format (``docs/format.md``, Records), both ways.

``backup_url`` is standard base64 (with padding) of UTF-8 JSON: ``driver_info`` (``{}``
for chunked drivers) then every Backup field in Cinder's field order, datetimes as
``YYYY-MM-DDTHH:MM:SSZ``. Decoding validates everything before the caller touches the
catalogue, so a malformed record changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import uuid

from ember import errors
from ember.catalog.models import Backup

#: Cinder's Backup object fields, in the order its export writes them
FIELDS = ("id", "user_id", "project_id", "volume_id", "host", "availability_zone",
          "container", "parent_id", "status", "fail_reason", "size", "display_name",
          "display_description", "service_metadata", "service", "object_count",
          "temp_volume_id", "temp_snapshot_id", "num_dependent_backups", "snapshot_id",
          "data_timestamp", "restore_volume_id", "metadata", "encryption_key_id",
          "created_at", "updated_at", "deleted_at", "deleted")
DATETIME_FIELDS = ("data_timestamp", "created_at", "updated_at", "deleted_at")
#: what Cinder's importing service requires (``docs/format.md``, Records)
REQUIRED = ("display_name", "display_description", "container", "size",
            "service_metadata", "object_count", "id")
#: the largest size (GiB) and count a record may carry (Cinder's columns are 32-bit)
MAX_COUNT = 2**31 - 1
#: the longest backup_url accepted (a real record is a few KiB)
MAX_URL = 256 << 10
#: user metadata of a record: at most this many keys, each key and value this long
MAX_PROPERTIES, MAX_PROPERTY = 128, 255
#: not taken from a record: the importer's own values are used instead (owner, status,
#: the service and host that now hold it), or they describe the old row's life (deletion,
#: a failure, temporary volumes and snapshots of a backup that has finished). Cinder's
#: import drops the name and availability zone too; Ember keeps them, so a backup can be
#: named after an import as before it.
DROPPED = ("user_id", "project_id", "deleted_at", "deleted", "fail_reason", "status",
           "service", "host", "temp_volume_id", "temp_snapshot_id")


def _zulu(value: datetime.datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def encode(row: Backup) -> str:
    """The ``backup_url`` of ``row``. Its exact size in bytes rides in ``driver_info``
    (the part of a record Cinder hands to its driver, whose chunked drivers ignore it),
    so an import shows and limits the size as the original does."""
    record = {"driver_info": {"size_bytes": row.size_bytes} if row.size_bytes else {}}
    for field in FIELDS:
        if field == "metadata":
            value = dict(row.properties or {})
        elif field in DATETIME_FIELDS:
            value = _zulu(getattr(row, field))
        elif field == "deleted":
            value = bool(row.deleted)
        else:
            value = getattr(row, field)
        record[field] = value
    return base64.b64encode(json.dumps(record).encode("utf-8")).decode("ascii")


def _bad(reason: str) -> errors.InvalidInput:
    return errors.InvalidInput("Invalid backup record: %s." % reason)


def _parse_datetime(field: str, value) -> datetime.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad("%s must be a date string, not %s" % (field, _shown(value)))
    text = value.strip().replace(" ", "T")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.datetime.fromisoformat(text)
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise _bad("%s %s is not a date" % (field, _shown(value))) from None
    return parsed


def _uuid(field: str, value, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise _bad("%s %s is not a UUID" % (field, _shown(value)))
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise _bad("%s %s is not a UUID" % (field, _shown(value))) from None


def _count(field: str, value, required: bool = False) -> int | None:
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise _bad("%s must be an integer from 0 to %d, not %s"
                   % (field, MAX_COUNT, _shown(value)))
    return value


def _shown(value) -> str:
    """``repr`` of a hostile value, cut to one short line."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _size_bytes(driver_info, size: int) -> int | None:
    """The exact byte size an Ember export recorded, checked against ``size`` (GiB)."""
    if not isinstance(driver_info, dict) or driver_info.get("size_bytes") is None:
        return None
    value = driver_info["size_bytes"]
    if isinstance(value, bool) or not isinstance(value, int) or \
            not (size - 1) << 30 < value <= size << 30:
        raise _bad("driver_info size_bytes %s does not fit size %d (GiB)"
                   % (_shown(value), size))
    return value


def decode(backup_url: str) -> dict:
    """Validated column values (Ember's names) from a ``backup_url``; InvalidInput with
    one line naming the problem otherwise."""
    if len(str(backup_url)) > MAX_URL:
        raise _bad("backup_url is longer than %d characters" % MAX_URL)
    try:
        raw = base64.b64decode(str(backup_url).strip(), validate=True)
        record = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise errors.InvalidInput("Invalid backup record: can't decode backup_url; it must "
                                  "be the base64 text a record export printed.") from None
    if not isinstance(record, dict):
        raise _bad("backup_url holds %s, not a JSON object" % type(record).__name__)
    missing = [key for key in REQUIRED if key not in record]
    if missing:
        raise _bad("missing %s" % ", ".join(missing))
    for field in ("container", "service_metadata", "display_name", "display_description",
                  "availability_zone", "volume_id", "parent_id", "snapshot_id",
                  "encryption_key_id"):
        value = record.get(field)
        if value is not None and (not isinstance(value, str) or len(value) > 255):
            raise _bad("%s must be a string of at most 255 characters" % field)
    if not record.get("container") or not record.get("service_metadata"):
        raise _bad("container and service_metadata must name where the backup's objects "
                   "are")
    metadata = record.get("metadata") or {}
    if not isinstance(metadata, dict) or len(metadata) > MAX_PROPERTIES:
        raise _bad("metadata must be an object of at most %d keys" % MAX_PROPERTIES)
    properties = {str(k): str(v) for k, v in metadata.items()}
    if any(len(k) > MAX_PROPERTY or len(v) > MAX_PROPERTY for k, v in properties.items()):
        raise _bad("metadata keys and values must be at most %d characters" % MAX_PROPERTY)
    size = _count("size", record["size"], required=True)
    if size == 0:
        raise _bad("size must be at least 1 (GiB)")
    return {
        "size_bytes": _size_bytes(record.get("driver_info"), size),
        "id": _uuid("id", record["id"], required=True),
        "volume_id": _uuid("volume_id", record.get("volume_id"))
        or "00000000-0000-0000-0000-000000000000",
        "parent_id": _uuid("parent_id", record.get("parent_id")),
        "snapshot_id": _uuid("snapshot_id", record.get("snapshot_id")),
        "container": record["container"],
        "service_metadata": record["service_metadata"],
        "display_description": record.get("display_description"),
        "display_name": record.get("display_name"),
        "availability_zone": record.get("availability_zone"),
        "size": size,
        "object_count": _count("object_count", record["object_count"], required=True),
        "num_dependent_backups": _count("num_dependent_backups",
                                        record.get("num_dependent_backups")) or 0,
        "encryption_key_id": _uuid("encryption_key_id", record.get("encryption_key_id")),
        "restore_volume_id": _uuid("restore_volume_id", record.get("restore_volume_id")),
        "properties": properties,
        "created_at": _parse_datetime("created_at", record.get("created_at")),
        "data_timestamp": _parse_datetime("data_timestamp", record.get("data_timestamp")),
        "updated_at": _parse_datetime("updated_at", record.get("updated_at")),
    }
