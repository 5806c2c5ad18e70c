"""The service facade: one object over the catalogue, the engine, volumes and policy.

The CLI calls only this. Every method takes a ``RequestContext`` first, checks policy,
applies Cinder's rules and status transitions, and returns plain dicts with Cinder's API
field names (datetimes as ISO strings). Errors are ``ember.errors`` classes with one-line
messages. (API contract: bodies are being filled in.)
"""

from __future__ import annotations

from typing import Any, Callable, Optional

Progress = Callable[[int, int], None]


class Ember:
    """Backups, volumes and snapshots of one Ember installation."""

    def __init__(self, conf, *, catalog=None, driver=None):
        """Open (and migrate) the catalogue named by ``[database] connection``; the
        driver is loaded lazily on first use unless ``driver`` is given."""
        raise NotImplementedError

    # --- volumes -------------------------------------------------------------------
    def create_volume(self, ctx, name, *, size=None, path=None, description=None,
                      metadata=None) -> dict:
        """Create a sparse image of ``size`` (int GiB or "512M"/"10G"/"1T") under
        ``$state_path/volumes``, or adopt the existing file/device ``path``."""
        raise NotImplementedError

    def list_volumes(self, ctx, *, name=None, status=None, all_projects=False) -> list[dict]:
        """Volumes of the caller's project (all projects for admins who ask)."""
        raise NotImplementedError

    def get_volume(self, ctx, ref) -> dict:
        """One volume by id or name; NotFound otherwise."""
        raise NotImplementedError

    def update_volume(self, ctx, ref, *, name=None, description=None, metadata=None,
                      status=None) -> dict:
        """Rename, re-describe, replace metadata or (admin) reset the status."""
        raise NotImplementedError

    def delete_volume(self, ctx, ref, *, force=False) -> None:
        """Delete a volume (available/error, or any non-busy status with force)."""
        raise NotImplementedError

    def attach_volume(self, ctx, ref, *, instance=None) -> dict:
        """Record an attachment: available → in-use."""
        raise NotImplementedError

    def detach_volume(self, ctx, ref) -> dict:
        """Remove the attachment: in-use → available."""
        raise NotImplementedError

    # --- snapshots -----------------------------------------------------------------
    def create_snapshot(self, ctx, volume_ref, name, *, description=None,
                        force=False) -> dict:
        """Point-in-time copy of a volume (reflink where possible, else sparse copy)."""
        raise NotImplementedError

    def list_snapshots(self, ctx, *, volume=None, all_projects=False) -> list[dict]:
        raise NotImplementedError

    def get_snapshot(self, ctx, ref) -> dict:
        raise NotImplementedError

    def delete_snapshot(self, ctx, ref) -> None:
        raise NotImplementedError

    # --- backups -------------------------------------------------------------------
    def create_backup(self, ctx, volume_ref, *, name=None, description=None,
                      container=None, incremental=False, force=False, snapshot=None,
                      metadata=None, availability_zone=None,
                      progress: Optional[Progress] = None) -> dict:
        """Run a whole backup in the foreground. On failure the row is ``error`` with
        ``fail_reason`` and the error is raised."""
        raise NotImplementedError

    def list_backups(self, ctx, *, name=None, status=None, volume=None, all_projects=False,
                     marker=None, limit=None, sort=None) -> list[dict]:
        raise NotImplementedError

    def get_backup(self, ctx, ref) -> dict:
        raise NotImplementedError

    def restore_backup(self, ctx, backup_ref, volume_ref=None, *, name=None, force=False,
                       progress: Optional[Progress] = None) -> dict:
        """Restore onto ``volume_ref`` or a new ``restore_backup_<id>`` volume; returns
        ``{"backup_id", "volume_id", "volume_name"}``."""
        raise NotImplementedError

    def delete_backup(self, ctx, ref, *, force=False) -> None:
        raise NotImplementedError

    def update_backup(self, ctx, ref, *, name=None, description=None, properties=None,
                      no_property=False, remove_properties=()) -> dict:
        raise NotImplementedError

    def reset_backup_status(self, ctx, ref, status) -> dict:
        """Admin: force the status to ``available`` or ``error``."""
        raise NotImplementedError

    def export_record(self, ctx, ref) -> dict:
        """``{"backup_service", "backup_url"}`` exactly as Cinder exports it."""
        raise NotImplementedError

    def import_record(self, ctx, backup_service, backup_url) -> dict:
        """Import a record exported by Ember or Cinder; returns the backup."""
        raise NotImplementedError
