"""The repository format, byte-compatible with Cinder's chunked backup drivers.

(Object naming lives here; the ``_metadata`` / ``_sha256file`` documents, their
parsing and validation are added by the engine work.)
"""

import datetime

METADATA_VERSION = "1.0.0"


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
