"""Backup creation: claim the source, run the engine, and end in ``available``, ``error``
or cancelled, with the source volume or snapshot given its status back.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import uuid

import sqlalchemy as sa

from ember import errors
from ember.engine import cbt
from ember.engine import format as fmt
from ember import policy as rules
from ember import volumes as vols
from ember.catalog import ownership, tenancy, views
from ember.catalog.models import Backup, Snapshot, Volume, utcnow
from ember.catalog.states import (
    BackupStatus,
    SnapshotStatus,
    VolumeStatus,
    add_dependent,
    conditional_update,
    restore_volume_status,
)
from ember.catalog.retry import until_answered
from ember.catalog.tokens import StatusToken
from ember.service.base import Progress, Shared, chain_member, release_source
from ember.service.recovery import with_note

LOG = logging.getLogger(__name__)

NO_INCREMENTAL_PARENT = "No backups available to do an incremental backup."
IN_USE_NEEDS_FORCE = "Backing up an in-use volume must use the force flag."


class BackupCreation:
    """``create_backup`` and the steps around the engine's backup."""

    def __init__(self, shared: Shared, quotas, queries):
        self.shared = shared
        self.catalog, self.conf, self.policy = shared.catalog, shared.conf, shared.policy
        self.quotas = quotas
        self.queries = queries

    def create_backup(self, ctx, volume_ref, *, name=None, description=None,
                      container=None, incremental=False, force=False, snapshot=None,
                      metadata=None, availability_zone=None,
                      progress: Progress | None = None) -> dict:
        """Run a whole backup in the foreground. On failure the row is ``error`` with
        ``fail_reason``, the volume is back in its previous status, and the error is
        raised; a force delete (or any status reset) from elsewhere cancels it with
        ``BackupCancelled`` and no objects left behind."""
        backup = self.begin_create_backup(
            ctx, volume_ref, name=name, description=description, container=container,
            incremental=incremental, force=force, snapshot=snapshot, metadata=metadata,
            availability_zone=availability_zone)
        return self.run_create_backup(ctx, backup["id"], progress=progress)

    def begin_create_backup(self, ctx, volume_ref, *, name=None, description=None,
                            container=None, incremental=False, force=False, snapshot=None,
                            metadata=None, availability_zone=None) -> dict:
        """The begin step: policy, checks, quota, then in one transaction the source
        claimed (volume or snapshot ``backing-up``) and the row made ``creating``;
        returns the backup at once. Nothing is read or written in the repository yet:
        the row has no object prefix (``service_metadata``) until its run starts.

        The calling process owns the claim (``owner_host``, ``owner_pid``) until it runs
        the work itself or a worker takes it over (``take_over``). While the owner lives,
        crash repair leaves the row alone; once it is gone, repair fails the backup and
        gives the source back. A force delete before the run starts deletes the row at
        once, and the run then refuses."""
        backup_id = str(uuid.uuid4())
        self.shared.check_backup_target(
            container or self.shared.layout.default_container(backup_id))
        with self.catalog.session() as session:
            volume = self.shared.volume(session, ctx, volume_ref)
            self.policy.enforce(ctx, rules.CREATE, volume.project_id)
            snap = self._backup_source_snapshot(session, ctx, volume, snapshot)
            if snap is None:
                self._check_backup_source(volume, force)
            self._check_source_image(volume, snap)
            parent = (self._incremental_parent(session, ctx, volume, snap)
                      if incremental else None)
            if container:  # never write among another project's objects
                tenancy.refuse_foreign_container(session, container, volume.project_id)
            now = self.shared.clock()
            if snap is not None:
                claimed = conditional_update(session, Snapshot, snap.id,
                                             [SnapshotStatus.AVAILABLE],
                                             status=SnapshotStatus.BACKING_UP)
            else:
                allowed = [VolumeStatus.AVAILABLE] + ([VolumeStatus.IN_USE] if force else [])
                claimed = self._claim_volume(session, volume.id, allowed)
            if not claimed:
                session.refresh(snap if snap is not None else volume)
                self._check_backup_source(volume, force, snap)
                raise errors.InvalidState("%s changed status meanwhile; try again."
                                          % (snap.id if snap else volume.id))
            self.quotas.reserve_backup(session, volume.project_id, volume.size)
            row = Backup(id=backup_id, user_id=ctx.user_id, project_id=volume.project_id,
                         volume_id=volume.id, snapshot_id=snap.id if snap else None,
                         display_name=name, display_description=description,
                         container=container, parent_id=parent.id if parent else None,
                         status=BackupStatus.CREATING, size=volume.size,
                         size_bytes=volume.size_bytes, host=self.conf.host,
                         availability_zone=availability_zone
                         or self.conf.storage_availability_zone,
                         properties=dict(metadata or {}), created_at=now,
                         data_timestamp=snap.created_at if snap else now,
                         encryption_key_id=volume.encryption_key_id, **self.shared.owner())
            session.add(row)
            session.flush()
            return views.backup_view(row)

    def run_create_backup(self, ctx, backup_id: str, progress: Progress | None = None) -> dict:
        """The run step of a begun backup, from the catalogue alone: read the source,
        write the objects, end ``available`` (or ``error``, or cancelled).

        It starts only when the row is still ``creating``, owned by the calling process
        and not started (no object prefix yet); recording the prefix is one conditional
        UPDATE, so of two runs of one id exactly one starts. Otherwise nothing is done
        and ``InvalidState`` is raised: a refusal is always safe to ignore or retry."""
        with self.catalog.session() as session:
            row = session.get(Backup, backup_id)
            if not self.shared.runnable(row, BackupStatus.CREATING) or row.service_metadata:
                raise self.shared.not_runnable(backup_id, row)
            volume = session.get(Volume, row.volume_id)
            snap = session.get(Snapshot, row.snapshot_id) if row.snapshot_id else None
            parent = session.get(Backup, row.parent_id) if row.parent_id else None
            volume_meta = self._volume_meta(volume)
            chain_parent = None if parent is None else chain_member(parent)
            source = snap.path if snap else volume.path
            # the claim moved the volume's status to previous_status
            from_in_use = snap is None and volume.previous_status == VolumeStatus.IN_USE
        return self.shared.observed(
            "backup.create", ctx, row.id, row.volume_id,
            lambda report: self._run_backup(row, source, from_in_use, chain_parent,
                                            volume_meta, report), progress)

    def _claim_volume(self, session, volume_id: str, allowed) -> bool:
        # previous_status first: MySQL assigns SET items left to right
        stmt = (sa.update(Volume).where(Volume.id == volume_id, Volume.deleted.is_(False),
                                        Volume.status.in_(allowed))
                .ordered_values((Volume.previous_status, Volume.status),
                                (Volume.status, VolumeStatus.BACKING_UP),
                                (Volume.updated_at, utcnow())))
        return session.execute(stmt, execution_options={"synchronize_session": False}
                               ).rowcount == 1

    @staticmethod
    def _check_backup_source(volume, force, snap=None) -> None:
        if snap is not None:
            if snap.status != SnapshotStatus.AVAILABLE:
                raise errors.InvalidState('Snapshot %s must be available to back it up, but '
                                          'the current status is "%s".'
                                          % (snap.id, snap.status))
            return
        if volume.status not in (VolumeStatus.AVAILABLE, VolumeStatus.IN_USE):
            raise errors.InvalidState('Volume to be backed up must be available or in-use, '
                                      'but the current status is "%s".' % volume.status)
        if volume.status == VolumeStatus.IN_USE and not force:
            raise errors.InvalidState(IN_USE_NEEDS_FORCE)

    def _check_source_image(self, volume, snap) -> None:
        """The image to read is there (on this host: another host's local disk is its
        worker's to read), so a vanished file is refused before a row exists."""
        path = snap.path if snap is not None else volume.path
        if volume.host == self.conf.host and path and not os.path.exists(path):
            what = ("snapshot %s of volume %s" % (snap.id, volume.display_name)
                    if snap is not None else "volume %s (%s)" % (volume.display_name,
                                                                  volume.id))
            raise errors.NotFound("The image of %s is gone: %s does not exist; put it back, "
                                  "or delete the volume's record (ember volume delete)."
                                  % (what, path))

    def _backup_source_snapshot(self, session, ctx, volume, ref):
        if ref is None:
            return None
        snap = self.shared.snapshot(session, ctx, ref)
        if snap.volume_id != volume.id:
            raise errors.InvalidInput("Snapshot %s is not a snapshot of volume %s."
                                      % (snap.id, volume.id))
        self._check_backup_source(volume, True, snap)
        return snap

    def _incremental_parent(self, session, ctx, volume, snap) -> Backup:
        """Cinder's choice: the latest ``available`` backup of the volume by
        data_timestamp (before the snapshot's time for a snapshot backup)."""
        candidates = session.scalars(sa.select(Backup).where(
            Backup.volume_id == volume.id, Backup.deleted.is_(False),
            Backup.project_id == ctx.project_id)).all()
        usable = [b for b in candidates if b.status == BackupStatus.AVAILABLE
                  and b.data_timestamp is not None
                  and (snap is None or b.data_timestamp < snap.created_at)]
        if not usable:
            raise errors.InvalidBackup(NO_INCREMENTAL_PARENT)
        return max(usable, key=lambda b: (b.data_timestamp, b.created_at))

    def _volume_meta(self, volume: Volume) -> str:
        """The ``volume_meta`` JSON string written into the backup (``docs/format.md``,
        volume_meta)."""
        base = {"id": volume.id, "size": volume.size, "status": VolumeStatus.BACKING_UP,
                "display_name": volume.display_name,
                "display_description": volume.display_description,
                "volume_type_id": volume.volume_type_id,
                "encryption_key_id": volume.encryption_key_id, "host": volume.host,
                "availability_zone": volume.availability_zone,
                "bootable": bool(volume.bootable), "user_id": volume.user_id,
                "project_id": volume.project_id, "created_at": views.iso(volume.created_at)}
        meta = {"version": self.conf.backup_metadata_version, "volume-base-metadata": base}
        if volume.properties:
            meta["volume-metadata"] = dict(volume.properties)
        return json.dumps(meta)

    def _run_backup(self, row: Backup, source: str, from_in_use: bool, parent, volume_meta,
                    progress) -> dict:
        """Name the backup's objects and start the run (one conditional UPDATE), back up
        through the engine, and record how it ended."""
        token = StatusToken(
            self.catalog, row.id,
            # a force delete or any reset (even to available: its objects are not all
            # written) stops it; Cinder would run on and mark it available
            # (``docs/format.md``, Cancellation)
            lambda s: s != BackupStatus.CREATING,
            # replaced by _end_cancelled_backup's message, which names the new status
            errors.BackupCancelled, "Backup %s was cancelled while it ran." % row.id)
        try:
            layout = self.shared.layout
            container = row.container or layout.default_container(row.id)
            prefix = layout.object_prefix(row.volume_id, row.id, fmt.timestamp())
        except Exception as exc:
            self._fail_backup(row, exc)
            raise
        self._start_run(row, container, prefix, layout.cinder_service)
        result, tracked = self._back_up(row, source, from_in_use, parent, volume_meta,
                                        progress, token, container, prefix)
        done = self._finish_backup(row, result, prefix)
        # not done: cancelled after the engine's last check (the finalize window of
        # docs/format.md, Cancellation)
        if not done:
            self._discard_clone(row, tracked)
            if self._superseded(row.id, prefix):
                self.shared.delete_objects(row.id, container, prefix)
                raise errors.BackupCancelled(
                    "Backup %s was started again by another worker while this attempt ran "
                    "(its process was taken for dead); this attempt's objects were removed."
                    % row.id)
            raise self._end_cancelled_backup(row, (container, prefix))
        self._tracker(row.volume_id).keep(tracked, row.id)
        return self.queries.get_backup_row(row.id)

    def _back_up(self, row: Backup, source: str, from_in_use: bool, parent, volume_meta,
                 progress, token, container: str, prefix: str):
        """The engine's backup of the source (or of a point-in-time copy of it); on any
        failure the row is ended (cancelled, interrupted or ``error``) and it re-raises.
        Returns the engine's result and the change tracking used."""
        from ember.engine.engine import BackupSpec

        temp_path, tracked = None, None
        try:
            # the clone is a point-in-time copy too: an in-use volume needs no other
            tracked = self._track(row, source, parent)
            LOG.info("Backup %s of volume %s: %s", row.id, row.volume_id, tracked.note)
            # crash-consistent: otherwise an in-use volume is read from a point-in-time
            # copy, recorded before it is made, so a crash at any point leaves nothing
            # that repair or delete do not find
            temp_id = str(uuid.uuid4()) if tracked.clone is None and from_in_use else None
            self._record_tracking(row, temp_id, tracked.note)
            if temp_id is not None:
                temp_path = os.path.join(self.shared.state_dir("snapshots"),
                                         "snapshot-%s" % temp_id)
                vols.copy_point_in_time(source, temp_path)
                tracked.path = temp_path
            token.raise_if_cancelled()
            spec = BackupSpec(backup_id=row.id, volume_id=row.volume_id,
                              source_path=tracked.path, container=container, prefix=prefix,
                              created_at=str(row.created_at.replace(
                                  tzinfo=datetime.timezone.utc)),
                              name=row.display_name, description=row.display_description,
                              parent=parent, volume_meta=volume_meta,
                              changed=tracked.changed)
            return self.shared.engine().backup(spec, cancel=token, progress=progress), tracked
        except errors.Cancelled:
            self._discard_clone(row, tracked)
            raise self._end_cancelled_backup(row, None) from None
        except KeyboardInterrupt:
            self._discard_clone(row, tracked)
            raise self._end_interrupted_backup(row, (container, prefix)) from None
        except Exception as exc:
            self._discard_clone(row, tracked)
            self._fail_backup(row, exc)
            raise
        finally:
            if temp_path:
                vols.remove(temp_path)

    @until_answered
    def _start_run(self, row: Backup, container: str, prefix: str, service: str) -> None:
        """Record the object prefix: the run starts here; another run of the same id, or
        a delete, may have won (or this very write, when its answer was lost)."""
        with self.catalog.session() as session:
            if session.execute(sa.update(Backup).where(
                    Backup.id == row.id, Backup.deleted.is_(False),
                    Backup.status == BackupStatus.CREATING,
                    Backup.service_metadata.is_(None), *self.shared.owned()).values(
                    container=container, service_metadata=prefix,
                    service=service, updated_at=utcnow()),
                    execution_options={"synchronize_session": False}).rowcount == 1:
                return
            now = session.get(Backup, row.id)
            if now is None or now.status in (BackupStatus.DELETING, BackupStatus.DELETED):
                raise errors.BackupCancelled(
                    "Backup %s was cancelled: it was force-deleted before it started; "
                    "nothing was written." % row.id)
            if not (self.shared.runnable(now, BackupStatus.CREATING)
                    and now.service_metadata == prefix):
                raise self.shared.not_runnable(row.id, now)

    @until_answered
    def _record_tracking(self, row: Backup, temp_id, note: str) -> None:
        with self.catalog.session() as session:
            conditional_update(session, Backup, row.id, [BackupStatus.CREATING],
                               temp_snapshot_id=temp_id, change_tracking=note[:255])

    @until_answered
    def _finish_backup(self, row: Backup, result, prefix: str) -> bool:
        """The backup ``available`` and its source released; False if it was cancelled
        after the engine's last check, or this attempt (``prefix``) was superseded by
        another one started meanwhile (this process was taken for dead). An earlier try
        whose answer was lost is found by its object count (a reset leaves none)."""
        with self.catalog.session() as session:
            if conditional_update(session, Backup, row.id, [BackupStatus.CREATING],
                                  where=(Backup.service_metadata == prefix,),
                                  status=BackupStatus.AVAILABLE,
                                  object_count=result.object_count, temp_snapshot_id=None,
                                  stored_bytes=result.bytes_stored, **ownership.RELEASE):
                if row.parent_id:
                    add_dependent(session, row.parent_id, +1)
                release_source(session, row, failed=False)
                return True
            return bool(session.scalar(sa.select(sa.func.count()).select_from(Backup).where(
                Backup.id == row.id, Backup.deleted.is_(False),
                Backup.status == BackupStatus.AVAILABLE, Backup.service_metadata == prefix,
                Backup.object_count == result.object_count,
                Backup.owner_pid.is_(None))))

    def _superseded(self, backup_id: str, prefix: str) -> bool:
        """True when the row records another attempt than ``prefix``, whatever its status
        (``ember.service.recovery`` started it again, and that attempt may have ended)."""
        with self.catalog.session() as session:
            row = session.get(Backup, backup_id)
            return row is not None and row.service_metadata != prefix

    # ---- change tracking (ember.engine.cbt) ------------------------------------------
    def _tracker(self, volume_id: str) -> cbt.Tracker:
        return cbt.Tracker(self.conf.backup_change_tracking_dir, volume_id)

    def _track(self, row: Backup, source: str, parent) -> cbt.Tracked:
        if not self.conf.backup_change_tracking:
            return cbt.Tracked(source, None, "read everything: backup_change_tracking is off")
        return self._tracker(row.volume_id).begin(
            source, row.id, parent.backup_id if parent else None,
            self.conf.backup_sha_block_size_bytes)

    def _discard_clone(self, row: Backup, tracked) -> None:
        if tracked is not None:
            self._tracker(row.volume_id).discard(tracked)

    @until_answered
    def _fail_backup(self, row: Backup, exc: Exception) -> None:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:255]
        with self.catalog.session() as session:
            conditional_update(session, Backup, row.id, [BackupStatus.CREATING],
                               status=BackupStatus.ERROR,
                               fail_reason=with_note(row.fail_reason, reason),
                               **ownership.RELEASE)
            release_source(session, row, failed=True)

    @until_answered
    def _end_interrupted_backup(self, row: Backup, objects) -> errors.Interrupted:
        """Ctrl-C: remove what the backup wrote and its row at once (not at the next
        command's repair), give the source its status back, and say so."""
        if objects is not None:  # the engine removed its own; this also covers a put
            self.shared.delete_objects(row.id, *objects)  # that raced the interrupt
        with self.catalog.session() as session:
            conditional_update(session, Backup, row.id, [BackupStatus.CREATING],
                               status=BackupStatus.DELETED, deleted=True,
                               deleted_at=utcnow(), **ownership.RELEASE)
            release_source(session, row, failed=False)
        source = ("snapshot %s" % row.snapshot_id if row.snapshot_id
                  else "volume %s" % row.volume_id)
        return errors.Interrupted("Interrupted: backup %s was stopped; the objects it wrote "
                                  "and its catalogue row were removed, and %s has its status "
                                  "back." % (row.id, source))

    @until_answered
    def _end_cancelled_backup(self, row: Backup, objects) -> errors.BackupCancelled:
        """Finish a backup cancelled by a force delete (row deleted) or a reset (row
        ends error); ``objects`` = (container, prefix) still to remove. Returns the error
        to raise, which says which of the two happened."""
        if objects is not None:
            self.shared.delete_objects(row.id, *objects)
        with self.catalog.session() as session:
            status = session.scalar(sa.select(Backup.status).where(Backup.id == row.id))
            if status in (None, BackupStatus.DELETING, BackupStatus.DELETED):
                conditional_update(session, Backup, row.id, None, status=BackupStatus.DELETED,
                                   deleted=True, deleted_at=utcnow(), **ownership.RELEASE)
                what = "it was force-deleted"
            else:
                conditional_update(session, Backup, row.id, None, status=BackupStatus.ERROR,
                                   fail_reason="Cancelled by a reset to %s while running; its "
                                   "objects were removed." % status, **ownership.RELEASE)
                what = "its status was changed to %s" % status
            release_source(session, row, failed=False)
        return errors.BackupCancelled("Backup %s was cancelled: %s while it ran; its objects "
                                      "were removed." % (row.id, what))
