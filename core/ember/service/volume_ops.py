"""Volumes and snapshots: create, list, show, update, delete, attach and detach.

Images Ember makes live under ``$state_path/volumes`` and ``$state_path/snapshots``;
adopted files and devices are recorded but never removed.
"""

from __future__ import annotations

import os
import uuid

import sqlalchemy as sa

from ember import errors
from ember.engine import cbt
from ember import policy as rules
from ember import volumes as vols
from ember.catalog import views
from ember.catalog.models import Snapshot, Volume, utcnow
from ember.catalog.states import (
    SnapshotStatus,
    VolumeStatus,
    conditional_update,
)
from ember.service.base import Shared


class Volumes:
    """Volume and snapshot requests."""

    def __init__(self, shared: Shared, quotas):
        self.shared = shared
        self.catalog, self.conf, self.policy = shared.catalog, shared.conf, shared.policy
        self.quotas = quotas

    def create_volume(self, ctx, name, *, size=None, path=None, description=None,
                      metadata=None, encryption_key_id=None) -> dict:
        """Create a sparse image of ``size`` (int GiB or "512M"/"10G"/"1T") under
        ``$state_path/volumes``, or adopt the existing file/device ``path``.
        ``encryption_key_id`` records the id of the key (never key material) that a
        volume encrypted outside Ember uses; backups and restores carry it along."""
        self.policy.enforce(ctx, rules.VOLUME_CREATE)
        if (size is None) == (path is None):
            raise errors.InvalidInput("Give either a size or a path for volume '%s', not %s."
                                      % (name, "both" if size is not None else "neither"))
        volume_id = str(uuid.uuid4())
        if path is not None:
            self.policy.enforce(ctx, rules.VOLUME_ADOPT)
            path = os.path.abspath(path)
            size_bytes, owns = vols.source_size(path), False
            self._refuse_owned_path(path)
        else:
            size_bytes, owns = vols.parse_size(size), True
            with self.catalog.session() as session:  # checked again as the row goes in
                self.quotas.reserve_volume(session, ctx.project_id, vols.gib(size_bytes))
            path = os.path.join(self.shared.state_dir("volumes"), "volume-%s" % volume_id)
            vols.create_sparse(path, size_bytes)
        row = Volume(id=volume_id, user_id=ctx.user_id, project_id=ctx.project_id,
                     display_name=name, display_description=description,
                     size=vols.gib(size_bytes), size_bytes=size_bytes,
                     status=VolumeStatus.AVAILABLE, path=path, owns_path=owns,
                     properties=dict(metadata or {}), host=self.conf.host,
                     encryption_key_id=encryption_key_id,
                     availability_zone=self.conf.storage_availability_zone)
        try:
            with self.catalog.session() as session:
                self.quotas.reserve_volume(session, ctx.project_id, row.size)
                session.add(row)
        except BaseException:
            if owns:
                vols.remove(path)
            raise
        return views.volume_view(row)

    def _refuse_owned_path(self, path: str) -> None:
        """A path under Ember's own directories (state, repository) or already a live
        volume's (the same file by any name) is refused, for admins too: adopting it
        would let one volume's backups read, and its restores overwrite, another's."""
        real = os.path.realpath(path)
        managed = [self.conf.state_path] + vols.repository_paths(self.conf)
        for top in map(os.path.realpath, managed):
            if real == top or real.startswith(top.rstrip(os.sep) + os.sep):
                raise errors.InvalidInput("Cannot adopt %s: it is under %s, which Ember "
                                          "manages." % (path, top))
        with self.catalog.session() as session:
            paths = session.scalars(sa.select(Volume.path).where(
                Volume.deleted.is_(False))).all()
        for other in paths:
            if other and vols.same_file(real, other):
                raise errors.InvalidInput("Cannot adopt %s: it is already the image of a "
                                          "volume." % path)

    def list_volumes(self, ctx, *, name=None, status=None, all_projects=False) -> list[dict]:
        """Volumes of the caller's project (all projects for admins who ask)."""
        self.policy.enforce(ctx, rules.VOLUME_GET_ALL)
        stmt = self.shared.live(ctx, Volume, all_projects, name=name, status=status)
        with self.catalog.session() as session:
            rows = session.scalars(stmt.order_by(Volume.created_at.desc())).all()
        return [views.volume_view(r) for r in rows]

    def get_volume(self, ctx, ref) -> dict:
        """One volume by id or name; NotFound otherwise."""
        with self.catalog.session() as session:
            row = self.shared.volume(session, ctx, ref)
            self.policy.enforce(ctx, rules.VOLUME_GET, row.project_id)
            return views.volume_view(row)

    def update_volume(self, ctx, ref, *, name=None, description=None, metadata=None,
                      status=None) -> dict:
        """Rename, re-describe, replace metadata or (admin) set the status."""
        with self.catalog.session() as session:
            row = self.shared.volume(session, ctx, ref)
            self.policy.enforce(ctx, rules.VOLUME_UPDATE, row.project_id)
            if status is not None:
                self.policy.enforce(ctx, rules.VOLUME_RESET_STATUS, row.project_id)
                if status not in VolumeStatus.ALL:
                    raise errors.InvalidInput("Invalid volume status '%s': use one of %s."
                                              % (status, ", ".join(VolumeStatus.ALL)))
                row.status = status
            if name is not None:
                row.display_name = name
            if description is not None:
                row.display_description = description
            if metadata is not None:
                row.properties = dict(metadata)
            row.updated_at = utcnow()
            return views.volume_view(row)

    def delete_volume(self, ctx, ref, *, force=False) -> None:
        """Delete a volume: available or error (force: any status but a running backup or
        restore). An image Ember made is removed; an adopted file or device is kept."""
        with self.catalog.session() as session:
            row = self.shared.volume(session, ctx, ref)
            self.policy.enforce(ctx, rules.VOLUME_DELETE, row.project_id)
            busy = (VolumeStatus.BACKING_UP, VolumeStatus.RESTORING_BACKUP)
            allowed = ([s for s in VolumeStatus.ALL if s not in busy] if force
                       else [VolumeStatus.AVAILABLE, VolumeStatus.ERROR,
                             VolumeStatus.ERROR_RESTORING])
            if row.status not in allowed:
                raise errors.InvalidState(
                    'Volume %s status must be available or error%s, but the current status '
                    'is "%s".' % (row.id, "" if force else " (or use force)", row.status))
            if session.scalar(sa.select(sa.func.count()).select_from(Snapshot).where(
                    Snapshot.volume_id == row.id, Snapshot.deleted.is_(False))):
                raise errors.InvalidState("Volume %s still has snapshots; delete them first."
                                          % row.id)
            if not conditional_update(session, Volume, row.id, allowed, status="deleted",
                                      deleted=True, deleted_at=utcnow()):
                raise errors.InvalidState("Volume %s changed status meanwhile; try again."
                                          % row.id)
            path, owns = row.path, row.owns_path
        cbt.Tracker(self.conf.backup_change_tracking_dir, row.id).forget()
        if owns:
            vols.remove(path)

    def attach_volume(self, ctx, ref, *, instance=None) -> dict:
        """Record an attachment: available → in-use."""
        with self.catalog.session() as session:
            row = self.shared.volume(session, ctx, ref)
            self.policy.enforce(ctx, rules.VOLUME_ATTACH, row.project_id)
            instance = instance or str(uuid.uuid4())
            if not conditional_update(session, Volume, row.id, [VolumeStatus.AVAILABLE],
                                      status=VolumeStatus.IN_USE, instance_id=instance):
                raise errors.InvalidState('Volume %s must be available to attach it, but the '
                                          'current status is "%s".' % (row.id, row.status))
            session.refresh(row)
            return views.volume_view(row)

    def detach_volume(self, ctx, ref) -> dict:
        """Remove the attachment: in-use → available."""
        with self.catalog.session() as session:
            row = self.shared.volume(session, ctx, ref)
            self.policy.enforce(ctx, rules.VOLUME_ATTACH, row.project_id)
            if not conditional_update(session, Volume, row.id, [VolumeStatus.IN_USE],
                                      status=VolumeStatus.AVAILABLE, instance_id=None):
                raise errors.InvalidState('Volume %s is not attached (its status is "%s").'
                                          % (row.id, row.status))
            session.refresh(row)
            return views.volume_view(row)

    # --- snapshots -----------------------------------------------------------------
    def create_snapshot(self, ctx, volume_ref, name, *, description=None,
                        force=False) -> dict:
        """Point-in-time copy of a volume (reflink where possible, else a sparse copy).
        An in-use volume needs ``force`` (the copy is then crash-consistent only)."""
        allowed = [VolumeStatus.AVAILABLE] + ([VolumeStatus.IN_USE] if force else [])
        snap_id = str(uuid.uuid4())
        with self.catalog.session() as session:
            volume = self.shared.volume(session, ctx, volume_ref)
            self.policy.enforce(ctx, rules.SNAPSHOT_CREATE, volume.project_id)
            if volume.status not in allowed:
                hint = (" (an in-use volume needs force)"
                        if volume.status == VolumeStatus.IN_USE else "")
                raise errors.InvalidState('Volume %s must be available to snapshot it%s, but '
                                          'the current status is "%s".'
                                          % (volume.id, hint, volume.status))
            self.quotas.reserve_volume(session, volume.project_id, volume.size, snapshot=True)
            row = Snapshot(id=snap_id, user_id=ctx.user_id, project_id=volume.project_id,
                           volume_id=volume.id, display_name=name,
                           display_description=description, size=volume.size,
                           size_bytes=volume.size_bytes, status=SnapshotStatus.CREATING,
                           path=os.path.join(self.shared.state_dir("snapshots"),
                                             "snapshot-%s" % snap_id))
            session.add(row)
            source = volume.path
        try:
            vols.copy_point_in_time(source, row.path)
        except OSError as exc:
            with self.catalog.session() as session:
                conditional_update(session, Snapshot, snap_id, None,
                                   status=SnapshotStatus.ERROR)
            raise errors.InvalidState("Snapshot of volume %s failed: %s." % (volume.id, exc)
                                      ) from exc
        with self.catalog.session() as session:
            conditional_update(session, Snapshot, snap_id, [SnapshotStatus.CREATING],
                               status=SnapshotStatus.AVAILABLE)
            return views.snapshot_view(session.get(Snapshot, snap_id))

    def list_snapshots(self, ctx, *, volume=None, all_projects=False) -> list[dict]:
        self.policy.enforce(ctx, rules.SNAPSHOT_GET)
        stmt = self.shared.live(ctx, Snapshot, all_projects)
        with self.catalog.session() as session:
            if volume is not None:
                stmt = stmt.where(Snapshot.volume_id == self.shared.volume(session, ctx, volume).id)
            rows = session.scalars(stmt.order_by(Snapshot.created_at.desc())).all()
        return [views.snapshot_view(r) for r in rows]

    def get_snapshot(self, ctx, ref) -> dict:
        with self.catalog.session() as session:
            row = self.shared.snapshot(session, ctx, ref)
            self.policy.enforce(ctx, rules.SNAPSHOT_GET, row.project_id)
            return views.snapshot_view(row)

    def reset_snapshot_status(self, ctx, ref, status: str) -> dict:
        """Admin: set a snapshot's status (Cinder's snapshot os-reset_status)."""
        allowed = (SnapshotStatus.AVAILABLE, SnapshotStatus.ERROR, SnapshotStatus.CREATING,
                   SnapshotStatus.DELETING, "error_deleting")
        with self.catalog.session() as session:
            row = self.shared.snapshot(session, ctx, ref)
            self.policy.enforce(ctx, rules.SNAPSHOT_RESET_STATUS, row.project_id)
            if status not in allowed:
                raise errors.InvalidInput("Invalid snapshot status '%s': use one of %s."
                                          % (status, ", ".join(allowed)))
            conditional_update(session, Snapshot, row.id, None, status=status)
            session.refresh(row)
            return views.snapshot_view(row)

    def delete_snapshot(self, ctx, ref) -> None:
        with self.catalog.session() as session:
            row = self.shared.snapshot(session, ctx, ref)
            self.policy.enforce(ctx, rules.SNAPSHOT_DELETE, row.project_id)
            if not conditional_update(session, Snapshot, row.id,
                                      [SnapshotStatus.AVAILABLE, SnapshotStatus.ERROR],
                                      status="deleted", deleted=True, deleted_at=utcnow()):
                raise errors.InvalidState('Snapshot %s status must be available or error, but '
                                          'the current status is "%s".' % (row.id, row.status))
            path = row.path
        vols.remove(path)
