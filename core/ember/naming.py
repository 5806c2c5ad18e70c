"""Where a backup lives: its container and object-name prefix (``docs/format.md``,
"Names by layout family"). The driver contract's naming policy and the repository
format both use these, so they sit below both.
"""

from __future__ import annotations

import datetime


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
