"""Rows → the dicts the service returns, with Cinder's API field names (what Cinder's
clients read)."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: quickread passes plain rows, without the ORM
    from ember.catalog.models import Backup, Snapshot, Volume


def iso(value: datetime.datetime | None) -> str | None:
    """``2023-06-23T11:56:02.509831`` (naive UTC, as Cinder's API shows it)."""
    if value is None:
        return None
    return value.replace(tzinfo=None).isoformat(timespec="microseconds")


def backup_view(row: Backup) -> dict:
    dependents = row.num_dependent_backups or 0
    return {
        "id": row.id,
        "name": row.display_name,
        "description": row.display_description,
        "status": row.status,
        "size": row.size,
        "size_bytes": row.size_bytes,
        "object_count": row.object_count or 0,
        "availability_zone": row.availability_zone,
        "container": row.container,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "data_timestamp": iso(row.data_timestamp),
        "fail_reason": row.fail_reason,
        "volume_id": row.volume_id,
        "snapshot_id": row.snapshot_id,
        "parent_id": row.parent_id,
        "is_incremental": bool(row.parent_id),
        "has_dependent_backups": dependents > 0,
        "num_dependent_backups": dependents,
        "metadata": dict(row.properties or {}),
        "encryption_key_id": row.encryption_key_id,
        "project_id": row.project_id,
        "user_id": row.user_id,
        "service": row.service,
        "service_metadata": row.service_metadata,
        "restore_volume_id": row.restore_volume_id,
        "host": row.host,
        "change_tracking": row.change_tracking,
        "protected": bool(row.protected),
    }


def volume_view(row: Volume) -> dict:
    return {
        "id": row.id,
        "name": row.display_name,
        "description": row.display_description,
        "size": row.size,
        "size_bytes": row.size_bytes,
        "status": row.status,
        "previous_status": row.previous_status,
        "path": row.path,
        "attachments": [{"server_id": row.instance_id}] if row.instance_id else [],
        "instance_id": row.instance_id,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "metadata": dict(row.properties or {}),
        "encryption_key_id": row.encryption_key_id,
        "volume_type": row.volume_type_id,
        "bootable": bool(row.bootable),
        "availability_zone": row.availability_zone,
        "project_id": row.project_id,
        "user_id": row.user_id,
    }


def snapshot_view(row: Snapshot) -> dict:
    return {
        "id": row.id,
        "name": row.display_name,
        "description": row.display_description,
        "volume_id": row.volume_id,
        "size": row.size,
        "size_bytes": row.size_bytes,
        "status": row.status,
        "created_at": iso(row.created_at),
        "path": row.path,
        "project_id": row.project_id,
    }
