"""The service facade: one object over the catalogue, the engine, volumes and policy.

The CLI calls only this. Every method takes a ``RequestContext`` first, checks policy,
applies Cinder's rules and status transitions, and returns plain dicts with Cinder's API
field names (datetimes as ISO strings). Errors are ``ember.errors`` classes with one-line
messages; a refused request changes nothing in the catalogue.

Status changes are conditional UPDATEs (``ember.catalog.states``): of two processes
racing for one volume, exactly one gets it and the other a clear ``InvalidState``.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import time
import uuid
from collections.abc import Callable

import sqlalchemy as sa

from ember import errors
from ember import format as fmt
from ember import policy as rules
from ember import volumes as vols
from ember.catalog import Catalog, ownership, records, views
from ember.catalog.models import Backup, Snapshot, Volume, utcnow
from ember.catalog.states import (
    BackupStatus,
    SnapshotStatus,
    VolumeStatus,
    add_dependent,
    conditional_update,
    restore_volume_status,
)
from ember.catalog.tokens import StatusToken
from ember.hooks import Hooks, plugin_manager
from ember.notifications import Notifications
from ember.policy import Policy
from ember.progress import ProgressReporter, progress_view

LOG = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

NO_INCREMENTAL_PARENT = "No backups available to do an incremental backup."
IN_USE_NEEDS_FORCE = "Backing up an in-use volume must use the force flag."
HAS_DEPENDENTS = "Incremental backups exist for this backup."
#: how long a force delete waits for a running backup to notice and finish the delete
FORCE_DELETE_WAIT = 30.0
_ZERO_UUID = "00000000-0000-0000-0000-000000000000"


def _not_found(kind: str, ref) -> errors.NotFound:
    return errors.NotFound("No %s with a name or ID of '%s' exists." % (kind, ref))


class Ember:
    """Backups, volumes and snapshots of one Ember installation."""

    def __init__(self, conf, *, catalog=None, driver=None, repair=True, hooks=None):
        """Open (and migrate) the catalogue named by ``[database] connection``; the
        driver is loaded lazily on first use unless ``driver`` is given. With ``repair``
        (the default) rows left behind by crashed processes are repaired first.
        ``hooks`` (an ``ember.hooks.Hooks``) receives lifecycle and progress events;
        the default loads the ``ember.hooks`` entry points plus the built-in OpenStack
        notifications (``ember.notifications``; off unless configured)."""
        self.conf = conf
        self.catalog = catalog if catalog is not None else Catalog.open(conf)
        self.policy = Policy(conf)
        self._driver = driver
        self.hooks = (hooks if hooks is not None
                      else Hooks(plugin_manager(Notifications(conf))))
        if repair:
            self.repair()

    # --- crash safety ---------------------------------------------------------------
    def repair(self) -> list[str]:
        """Cinder's start-up cleanup, for rows whose owning process is gone (a live
        owner's rows are never touched): ``creating`` → ``error`` with the source back
        in its previous status; ``restoring`` → ``available`` with the target volume
        ``error_restoring``; ``deleting`` → the delete is resumed. Then volumes and
        snapshots left busy with no busy backup using them get their status back
        (``ember.repair``). Returns the ids repaired; a repair that fails is left for
        the next run."""
        busy = (BackupStatus.CREATING, BackupStatus.RESTORING, BackupStatus.DELETING)
        with self.catalog.session() as session:
            rows = session.scalars(sa.select(Backup).where(
                Backup.deleted.is_(False), Backup.status.in_(busy))).all()
        repaired = []
        for row in rows:
            if ownership.owner_alive(row, self.conf.host):
                continue
            try:
                if self._repair(row):
                    repaired.append(row.id)
            except errors.EmberError as exc:
                LOG.warning("Could not repair backup %s: %s", row.id, exc)
        from ember.repair import release_stuck_sources  # volumes/snapshots nothing uses

        return repaired + release_stuck_sources(self.catalog)

    def _repair(self, row: Backup) -> bool:
        # the owner columns in the WHERE make two repairing processes pick one winner
        same_owner = (Backup.id == row.id, Backup.status == row.status,
                      Backup.owner_pid.is_(None) if row.owner_pid is None
                      else Backup.owner_pid == row.owner_pid)
        with self.catalog.session() as session:
            if row.status == BackupStatus.CREATING:
                values = dict(status=BackupStatus.ERROR, fail_reason="incomplete backup "
                              "reset: the process running it is gone", **ownership.RELEASE)
            else:
                values = dict(ownership.claim(self.conf.host))
                if row.status == BackupStatus.RESTORING:
                    values = dict(status=BackupStatus.AVAILABLE, **ownership.RELEASE)
            won = session.execute(sa.update(Backup).where(*same_owner).values(
                updated_at=utcnow(), **values),
                execution_options={"synchronize_session": False}).rowcount == 1
            if not won:
                return False
            if row.status == BackupStatus.CREATING:
                self._release_source(session, row, failed=True)
            elif row.status == BackupStatus.RESTORING and row.restore_volume_id:
                conditional_update(session, Volume, row.restore_volume_id,
                                   [VolumeStatus.RESTORING_BACKUP],
                                   status=VolumeStatus.ERROR_RESTORING)
        if row.status == BackupStatus.CREATING and row.temp_snapshot_id:
            vols.remove(os.path.join(self._dir("snapshots"), "snapshot-%s"
                                     % row.temp_snapshot_id))
        if row.status == BackupStatus.DELETING:
            # no object_count: it never finished, so it was force-deleted while creating
            was = BackupStatus.CREATING if row.object_count is None else BackupStatus.DELETING
            self._delete_objects_and_row(row.id, was)
        return True

    # --- plumbing -----------------------------------------------------------------
    @property
    def driver(self):
        if self._driver is None:
            from ember.loader import load_driver

            self._driver = load_driver(self.conf)
        return self._driver

    def _engine(self):
        from ember.engine import Engine

        return Engine(self.driver, self.conf)

    def _observed(self, operation: str, ctx, backup_id: str, volume_id, run,
                  progress: Progress | None = None):
        """``run(report)`` between ``ember_operation_start`` and ``ember_operation_end``;
        ``report(done, total)`` feeds ``progress`` and the ``ember_progress`` hook."""
        backup = self._backup_dict(backup_id)
        reporter = []  # built on the first report: only create and restore need the driver

        def report(done: int, total: int) -> None:
            if not reporter:  # rate-limited as Cinder's notifications (ember.progress)
                reporter.append(ProgressReporter.for_driver(
                    self.hooks, operation, lambda: progress_view(self._backup_dict(backup_id)),
                    self.conf, self.driver, forward=progress))
            reporter[0](done, total)

        self.hooks.call("ember_operation_start", operation=operation, backup=backup,
                        volume=self._volume_dict(volume_id), context=ctx)
        error = None
        try:
            result = run(report)
            if reporter:
                reporter[0].finish()  # 100 percent only for a success
            return result
        except BaseException as exc:
            error = exc
            raise
        finally:
            self.hooks.call("ember_operation_end", operation=operation,
                            backup=self._backup_dict(backup_id),
                            volume=self._volume_dict(volume_id), context=ctx, error=error)

    def _backup_dict(self, backup_id: str) -> dict | None:
        with self.catalog.session() as session:
            row = session.get(Backup, backup_id)
            return None if row is None else views.backup_view(row)

    def _volume_dict(self, volume_id) -> dict | None:
        if volume_id is None:
            return None
        with self.catalog.session() as session:
            row = session.get(Volume, volume_id)
            return None if row is None else views.volume_view(row)

    def _dir(self, kind: str) -> str:
        return os.path.join(self.conf.state_path, kind)

    def _owner(self) -> dict:
        return ownership.claim(self.conf.host)

    def _find(self, session, model, kind: str, ctx, ref):
        """The live row whose id or name is ``ref`` in the caller's project; an admin
        also reaches other projects' rows (names: only when none matches at home)."""
        if ref is None or ref == "":
            raise errors.InvalidInput("A %s name or ID is required." % kind)
        ref = str(ref)
        live = sa.select(model).where(model.deleted.is_(False))
        home = live.where(model.project_id == ctx.project_id)
        scopes = [home, live] if ctx.is_admin else [home]
        for scope in scopes:
            row = session.scalar(scope.where(model.id == ref))
            if row is not None:
                return row
        for scope in scopes:
            rows = session.scalars(scope.where(model.display_name == ref)).all()
            if len(rows) > 1:
                raise errors.InvalidInput("More than one %s exists with the name '%s'; use "
                                          "its ID." % (kind, ref))
            if rows:
                return rows[0]
        raise _not_found(kind, ref)

    def _volume(self, session, ctx, ref) -> Volume:
        return self._find(session, Volume, "volume", ctx, ref)

    def _snapshot(self, session, ctx, ref) -> Snapshot:
        return self._find(session, Snapshot, "snapshot", ctx, ref)

    def _backup(self, session, ctx, ref) -> Backup:
        return self._find(session, Backup, "backup", ctx, ref)

    def _scope(self, ctx, stmt, model, all_projects: bool):
        if all_projects:
            self.policy.enforce(ctx, rules.ALL_PROJECTS)
            return stmt
        return stmt.where(model.project_id == ctx.project_id)

    # --- volumes -------------------------------------------------------------------
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
            path = os.path.abspath(path)
            size_bytes, owns = vols.source_size(path), False
        else:
            size_bytes, owns = vols.parse_size(size), True
            path = os.path.join(self._dir("volumes"), "volume-%s" % volume_id)
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
                session.add(row)
        except BaseException:
            if owns:
                vols.remove(path)
            raise
        return views.volume_view(row)

    def list_volumes(self, ctx, *, name=None, status=None, all_projects=False) -> list[dict]:
        """Volumes of the caller's project (all projects for admins who ask)."""
        self.policy.enforce(ctx, rules.VOLUME_GET_ALL)
        stmt = self._scope(ctx, sa.select(Volume).where(Volume.deleted.is_(False)), Volume,
                           all_projects)
        if name is not None:
            stmt = stmt.where(Volume.display_name == name)
        if status is not None:
            stmt = stmt.where(Volume.status == status)
        with self.catalog.session() as session:
            rows = session.scalars(stmt.order_by(Volume.created_at.desc())).all()
        return [views.volume_view(r) for r in rows]

    def get_volume(self, ctx, ref) -> dict:
        """One volume by id or name; NotFound otherwise."""
        with self.catalog.session() as session:
            row = self._volume(session, ctx, ref)
            self.policy.enforce(ctx, rules.VOLUME_GET, row.project_id)
            return views.volume_view(row)

    def update_volume(self, ctx, ref, *, name=None, description=None, metadata=None,
                      status=None) -> dict:
        """Rename, re-describe, replace metadata or (admin) set the status."""
        with self.catalog.session() as session:
            row = self._volume(session, ctx, ref)
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
            row = self._volume(session, ctx, ref)
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
        if owns:
            vols.remove(path)

    def attach_volume(self, ctx, ref, *, instance=None) -> dict:
        """Record an attachment: available → in-use."""
        with self.catalog.session() as session:
            row = self._volume(session, ctx, ref)
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
            row = self._volume(session, ctx, ref)
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
            volume = self._volume(session, ctx, volume_ref)
            self.policy.enforce(ctx, rules.SNAPSHOT_CREATE, volume.project_id)
            if volume.status not in allowed:
                hint = (" (an in-use volume needs force)"
                        if volume.status == VolumeStatus.IN_USE else "")
                raise errors.InvalidState('Volume %s must be available to snapshot it%s, but '
                                          'the current status is "%s".'
                                          % (volume.id, hint, volume.status))
            row = Snapshot(id=snap_id, user_id=ctx.user_id, project_id=volume.project_id,
                           volume_id=volume.id, display_name=name,
                           display_description=description, size=volume.size,
                           size_bytes=volume.size_bytes, status=SnapshotStatus.CREATING,
                           path=os.path.join(self._dir("snapshots"), "snapshot-%s" % snap_id))
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
        stmt = self._scope(ctx, sa.select(Snapshot).where(Snapshot.deleted.is_(False)),
                           Snapshot, all_projects)
        with self.catalog.session() as session:
            if volume is not None:
                stmt = stmt.where(Snapshot.volume_id == self._volume(session, ctx, volume).id)
            rows = session.scalars(stmt.order_by(Snapshot.created_at.desc())).all()
        return [views.snapshot_view(r) for r in rows]

    def get_snapshot(self, ctx, ref) -> dict:
        with self.catalog.session() as session:
            row = self._snapshot(session, ctx, ref)
            self.policy.enforce(ctx, rules.SNAPSHOT_GET, row.project_id)
            return views.snapshot_view(row)

    def delete_snapshot(self, ctx, ref) -> None:
        with self.catalog.session() as session:
            row = self._snapshot(session, ctx, ref)
            self.policy.enforce(ctx, rules.SNAPSHOT_DELETE, row.project_id)
            if not conditional_update(session, Snapshot, row.id,
                                      [SnapshotStatus.AVAILABLE, SnapshotStatus.ERROR],
                                      status="deleted", deleted=True, deleted_at=utcnow()):
                raise errors.InvalidState('Snapshot %s status must be available or error, but '
                                          'the current status is "%s".' % (row.id, row.status))
            path = row.path
        vols.remove(path)

    # --- backups: create ----------------------------------------------------------------
    def create_backup(self, ctx, volume_ref, *, name=None, description=None,
                      container=None, incremental=False, force=False, snapshot=None,
                      metadata=None, availability_zone=None,
                      progress: Progress | None = None) -> dict:
        """Run a whole backup in the foreground. On failure the row is ``error`` with
        ``fail_reason``, the volume is back in its previous status, and the error is
        raised; a force delete (or any status reset) from elsewhere cancels it with
        ``BackupCancelled`` and no objects left behind."""
        backup_id = str(uuid.uuid4())
        with self.catalog.session() as session:
            volume = self._volume(session, ctx, volume_ref)
            self.policy.enforce(ctx, rules.CREATE, volume.project_id)
            snap = self._backup_source_snapshot(session, ctx, volume, snapshot)
            if snap is None:
                self._check_backup_source(volume, force)
            parent = (self._incremental_parent(session, ctx, volume, snap)
                      if incremental else None)
            now = utcnow()
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
                         encryption_key_id=volume.encryption_key_id, **self._owner())
            session.add(row)
            volume_meta = self._volume_meta(volume)
            chain_parent = None if parent is None else _member(parent)
            source = snap.path if snap else volume.path
            from_in_use = snap is None and volume.status == VolumeStatus.IN_USE
        return self._observed(
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

    def _backup_source_snapshot(self, session, ctx, volume, ref):
        if ref is None:
            return None
        snap = self._snapshot(session, ctx, ref)
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
        """The ``volume_meta`` JSON string written into the backup (spec §1.7)."""
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
        from ember.engine import BackupSpec

        temp_path = None
        token = StatusToken(
            self.catalog, row.id,
            # a force delete or any reset (even to available: its objects are not all
            # written) stops it; Cinder would run on and mark it available (spec 2.8)
            lambda s: s != BackupStatus.CREATING,
            # replaced by _end_cancelled_backup's message, which names the new status
            errors.BackupCancelled, "Backup %s was cancelled while it ran." % row.id)
        try:
            driver = self.driver
            container = row.container or driver.default_container(row.id)
            prefix = driver.object_prefix(row.volume_id, row.id, fmt.timestamp())
            if from_in_use:  # crash-consistent: read a point-in-time copy, not the live image
                temp_id = str(uuid.uuid4())
                temp_path = os.path.join(self._dir("snapshots"), "snapshot-%s" % temp_id)
                vols.copy_point_in_time(source, temp_path)
                source = temp_path
            else:
                temp_id = None
            with self.catalog.session() as session:
                conditional_update(session, Backup, row.id, [BackupStatus.CREATING],
                                   container=container, service_metadata=prefix,
                                   service=driver.cinder_service, temp_snapshot_id=temp_id)
            token.raise_if_cancelled()
            spec = BackupSpec(backup_id=row.id, volume_id=row.volume_id, source_path=source,
                              container=container, prefix=prefix,
                              created_at=str(row.created_at.replace(
                                  tzinfo=datetime.timezone.utc)),
                              name=row.display_name, description=row.display_description,
                              parent=parent, volume_meta=volume_meta)
            result = self._engine().backup(spec, cancel=token, progress=progress)
        except errors.Cancelled:
            raise self._end_cancelled_backup(row, None) from None
        except Exception as exc:
            self._fail_backup(row, exc)
            raise
        finally:
            if temp_path:
                vols.remove(temp_path)
        with self.catalog.session() as session:
            done = conditional_update(session, Backup, row.id, [BackupStatus.CREATING],
                                      status=BackupStatus.AVAILABLE,
                                      object_count=result.object_count, temp_snapshot_id=None,
                                      **ownership.RELEASE)
            if done:
                if row.parent_id:
                    add_dependent(session, row.parent_id, +1)
                self._release_source(session, row, failed=False)
        if not done:  # cancelled after the engine's last check (spec 2.8's finalize window)
            raise self._end_cancelled_backup(row, (container, prefix))
        return self.get_backup_row(row.id)

    def _release_source(self, session, row: Backup, failed: bool) -> None:
        if row.snapshot_id:
            conditional_update(session, Snapshot, row.snapshot_id,
                               [SnapshotStatus.BACKING_UP], status=SnapshotStatus.AVAILABLE)
        else:
            restore_volume_status(session, row.volume_id,
                                  VolumeStatus.ERROR_BACKING_UP if failed
                                  else VolumeStatus.BACKING_UP)

    def _fail_backup(self, row: Backup, exc: Exception) -> None:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:255]
        with self.catalog.session() as session:
            conditional_update(session, Backup, row.id, [BackupStatus.CREATING],
                               status=BackupStatus.ERROR, fail_reason=reason,
                               **ownership.RELEASE)
            self._release_source(session, row, failed=True)

    def _end_cancelled_backup(self, row: Backup, objects) -> errors.BackupCancelled:
        """Finish a backup cancelled by a force delete (row deleted) or a reset (row
        ends error); ``objects`` = (container, prefix) still to remove. Returns the error
        to raise, which says which of the two happened."""
        if objects is not None:
            self._engine().delete(*objects)
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
            self._release_source(session, row, failed=False)
        return errors.BackupCancelled("Backup %s was cancelled: %s while it ran; its objects "
                                      "were removed." % (row.id, what))

    # --- backups: read -----------------------------------------------------------------
    def get_backup_row(self, backup_id: str) -> dict:
        with self.catalog.session() as session:
            return views.backup_view(session.get(Backup, backup_id))

    def list_backups(self, ctx, *, name=None, status=None, volume=None, all_projects=False,
                     marker=None, limit=None, sort=None) -> list[dict]:
        """Live backups, newest first unless ``sort`` ("key[:asc|desc],...") says
        otherwise; ``marker`` = the id after which the page starts."""
        self.policy.enforce(ctx, rules.GET_ALL)
        stmt = self._scope(ctx, sa.select(Backup).where(Backup.deleted.is_(False)), Backup,
                           all_projects)
        if name is not None:
            stmt = stmt.where(Backup.display_name == name)
        if status is not None:
            stmt = stmt.where(Backup.status == status)
        with self.catalog.session() as session:
            if volume is not None:
                try:
                    volume_id = self._volume(session, ctx, volume).id
                except errors.NotFound:
                    volume_id = str(volume)  # backups may outlive their volume
                stmt = stmt.where(Backup.volume_id == volume_id)
            stmt = stmt.order_by(*_sort_clauses(sort))
            rows = session.scalars(stmt).all()
        if marker is not None:
            ids = [r.id for r in rows]
            if marker not in ids:
                raise errors.InvalidInput("Marker %s is not a backup in this listing." % marker)
            rows = rows[ids.index(marker) + 1:]
        if limit is not None:
            if int(limit) < 0:
                raise errors.InvalidInput("Limit must be zero or more, not %s." % limit)
            rows = rows[:int(limit)]
        return [views.backup_view(r) for r in rows]

    def get_backup(self, ctx, ref) -> dict:
        with self.catalog.session() as session:
            row = self._backup(session, ctx, ref)
            self.policy.enforce(ctx, rules.GET, row.project_id)
            return views.backup_view(row)

    def backup_chain(self, ctx, ref, *, purpose: str = "read") -> list:
        """The chain that reading backup ``ref`` (id or name) needs: ``ChainMember``s,
        oldest (the full) first. Needs ``backup:get``. Refused: a backup being written or
        deleted (``InvalidState``, saying to ``purpose`` it once it is available), one the
        configured driver cannot read or whose chain is broken (``InvalidBackup``)."""
        with self.catalog.session() as session:
            row = self._backup(session, ctx, ref)
            self.policy.enforce(ctx, rules.GET, row.project_id)
            if row.status in (BackupStatus.CREATING, BackupStatus.DELETING):
                raise errors.InvalidState('Backup %s is being %s; %s it once it is available '
                                          '(its status is "%s").'
                                          % (row.id, "written" if row.status ==
                                             BackupStatus.CREATING else "deleted", purpose,
                                             row.status))
            self._check_service(row)
            return self._chain(session, row)

    # --- backups: restore ---------------------------------------------------------------
    def restore_backup(self, ctx, backup_ref, volume_ref=None, *, name=None, force=False,
                       progress: Progress | None = None) -> dict:
        """Restore onto the existing available volume ``volume_ref`` (at least the
        backup's size) or a new ``restore_backup_<id>`` volume (or ``name``). ``force``
        is accepted as OpenStackClient spells it. Returns ``{"backup_id", "volume_id",
        "volume_name"}``. The backup ends ``available`` whatever happens; the volume
        ends ``available``, ``error_restoring`` (failure) or ``error`` (cancelled)."""
        with self.catalog.session() as session:
            backup = self._backup(session, ctx, backup_ref)
            self.policy.enforce(ctx, rules.RESTORE, backup.project_id)
            if backup.status != BackupStatus.AVAILABLE:
                raise errors.InvalidState('Backup %s status must be available to restore it, '
                                          'but the current status is "%s".'
                                          % (backup.id, backup.status))
            if not backup.size:
                raise errors.InvalidBackup("Backup %s has no size; it cannot be restored."
                                           % backup.id)
            self._check_service(backup)
            chain = self._chain(session, backup)
            if volume_ref is not None:
                target = self._volume(session, ctx, volume_ref)
                self.policy.enforce(ctx, rules.RESTORE, target.project_id)
                self._check_restore_target(backup, target)
                is_new = False
                if not conditional_update(session, Volume, target.id, [VolumeStatus.AVAILABLE],
                                          status=VolumeStatus.RESTORING_BACKUP):
                    raise errors.InvalidState("Volume %s changed status meanwhile; try again."
                                              % target.id)
            else:
                target, is_new = self._new_restore_volume(session, ctx, backup, chain, name), True
            if not conditional_update(session, Backup, backup.id, [BackupStatus.AVAILABLE],
                                      status=BackupStatus.RESTORING,
                                      restore_volume_id=target.id, **self._owner()):
                raise errors.InvalidState("Backup %s changed status meanwhile; try again."
                                          % backup.id)
            target_id, target_path = target.id, target.path
        self._observed("backup.restore", ctx, backup.id, target_id,
                       lambda report: self._run_restore(backup, chain, target_id, target_path,
                                                        is_new, report), progress)
        with self.catalog.session() as session:
            volume = session.get(Volume, target_id)
            return {"backup_id": backup.id, "volume_id": volume.id,
                    "volume_name": volume.display_name}

    def _check_service(self, backup: Backup) -> None:
        """Ember restores a posix-family backup with any posix-family driver (Cinder
        insists on the same driver); other services need their own driver."""
        from ember.loader import same_layout

        mine = self.driver.cinder_service
        if backup.service and backup.service != mine:
            try:
                ok = same_layout(backup.service, mine)
            except errors.DriverNotFound:
                ok = False
            if not ok:
                raise errors.InvalidBackup(
                    "Backup %s was made by %s; the configured driver %s cannot read it "
                    "(set backup_driver to match)." % (backup.id, backup.service, mine))

    def _chain(self, session, backup: Backup) -> list:
        """The restore chain from the catalogue's parent ids, oldest (the full) first."""
        chain, row, seen = [], backup, set()
        while True:
            if row.id in seen:
                raise errors.InvalidBackup("Backup %s has a parent cycle." % backup.id)
            seen.add(row.id)
            if not row.container or not row.service_metadata:
                raise errors.InvalidBackup("Backup %s records no container or object prefix; "
                                           "it cannot be read." % row.id)
            chain.append(_member(row))
            if not row.parent_id:
                return chain[::-1]
            parent = session.scalar(sa.select(Backup).where(Backup.id == row.parent_id,
                                                            Backup.deleted.is_(False)))
            if parent is None:
                raise errors.InvalidBackup("Backup %s needs its parent %s, which is not in the "
                                           "catalogue; import that record first."
                                           % (row.id, row.parent_id))
            row = parent

    @staticmethod
    def _check_restore_target(backup: Backup, target: Volume) -> None:
        if target.status != VolumeStatus.AVAILABLE:
            raise errors.InvalidState('Volume %s to restore into must be available, but the '
                                      'current status is "%s".' % (target.id, target.status))
        if backup.size > target.size:
            raise errors.InvalidInput("volume size %d is too small to restore backup of size "
                                      "%d." % (target.size, backup.size))
        if backup.size_bytes and backup.size_bytes > target.size_bytes:
            raise errors.InvalidInput("volume %s has %d bytes, too few to restore backup of %d "
                                      "bytes." % (target.id, target.size_bytes,
                                                  backup.size_bytes))

    def _new_restore_volume(self, session, ctx, backup: Backup, chain, name) -> Volume:
        volume_id = str(uuid.uuid4())
        size_bytes = backup.size_bytes or self._repository_size(chain) or backup.size * vols.GiB
        path = os.path.join(self._dir("volumes"), "volume-%s" % volume_id)
        vols.create_sparse(path, size_bytes)
        row = Volume(id=volume_id, user_id=ctx.user_id, project_id=ctx.project_id,
                     display_name=name or "restore_backup_%s" % backup.id,
                     display_description="auto-created_from_restore_from_backup",
                     size=max(backup.size, vols.gib(size_bytes)), size_bytes=size_bytes,
                     status=VolumeStatus.RESTORING_BACKUP, path=path, owns_path=True,
                     properties={}, host=self.conf.host,
                     availability_zone=self.conf.storage_availability_zone)
        session.add(row)
        return row

    def _repository_size(self, chain) -> int | None:
        """Bytes the full backup read (end of its last object), for records imported
        without Ember's size_bytes; None when the repository cannot tell."""
        full = chain[0]
        try:
            doc = json.loads(self.driver.get_object(full.container,
                                                    fmt.metadata_name(full.prefix)))
            return max(info["offset"] + info["length"]
                       for obj in doc["objects"] for info in obj.values()) or None
        except Exception:  # noqa: BLE001 - only a sizing hint; restore reports real errors
            return None

    def _run_restore(self, backup: Backup, chain, target_id, target_path, is_new,
                     progress) -> None:
        token = StatusToken(self.catalog, backup.id, lambda s: s != BackupStatus.RESTORING,
                            errors.RestoreCancelled,
                            "Restore of backup %s into volume %s was cancelled; the volume is "
                            "now in error." % (backup.id, target_id))
        try:
            result = self._engine().restore(chain, target_path, target_is_new=is_new,
                                            cancel=token, progress=progress)
            with self.catalog.session() as session:
                self._apply_volume_meta(session, backup, target_id, result.volume_meta)
        except errors.Cancelled:
            self._end_restore(backup.id, target_id, VolumeStatus.ERROR, None)
            raise
        except Exception as exc:
            self._end_restore(backup.id, target_id, VolumeStatus.ERROR_RESTORING, exc)
            raise
        self._end_restore(backup.id, target_id, VolumeStatus.AVAILABLE, None)

    def _end_restore(self, backup_id, volume_id, volume_status, exc) -> None:
        with self.catalog.session() as session:
            # Cinder: the backup ends available even if reset to error to cancel
            conditional_update(session, Backup, backup_id,
                               [BackupStatus.RESTORING, BackupStatus.ERROR],
                               status=BackupStatus.AVAILABLE, **ownership.RELEASE)
            conditional_update(session, Volume, volume_id, [VolumeStatus.RESTORING_BACKUP],
                               status=volume_status)

    def _apply_volume_meta(self, session, backup: Backup, volume_id, meta_text) -> None:
        """Spec §3.4: name/description onto unnamed or ``restore_backup_*`` targets,
        the key id (v2), user metadata replaced; ``src_backup_id`` when crossing volumes."""
        volume = session.get(Volume, volume_id)
        props = dict(volume.properties or {})
        if meta_text:
            try:
                meta = json.loads(meta_text)
            except ValueError:
                raise errors.InvalidBackup("Backup %s has unreadable volume metadata."
                                           % backup.id) from None
            version = meta.get("version")
            if version not in (1, 2):
                raise errors.InvalidBackup("Metadata restore failed due to incompatible "
                                           "version")
            base = meta.get("volume-base-metadata") or {}
            if base.get("display_name") and (not volume.display_name or
                                             volume.display_name.startswith("restore_backup_")):
                volume.display_name = base["display_name"]
                volume.display_description = base.get("display_description")
            if version >= 2 and base.get("encryption_key_id"):
                volume.encryption_key_id = base["encryption_key_id"]
            if "volume-metadata" in meta:
                props = dict(meta["volume-metadata"])
        if backup.volume_id != volume.id or "src_backup_id" in props:
            props["src_backup_id"] = backup.id
        volume.properties = props
        volume.updated_at = utcnow()

    # --- backups: delete, update, reset ------------------------------------------------
    def delete_backup(self, ctx, ref, *, force=False) -> None:
        """Delete a backup and its objects. Needs ``available``/``error`` unless
        ``force`` (admin), and no incremental children. Force-deleting a running backup
        cancels it: its process removes the objects and the row."""
        with self.catalog.session() as session:
            row = self._backup(session, ctx, ref)
            self.policy.enforce(ctx, rules.DELETE, row.project_id)
            if force:
                self.policy.enforce(ctx, rules.FORCE_DELETE, row.project_id)
            allowed = [BackupStatus.AVAILABLE, BackupStatus.ERROR]
            if force:
                allowed += [BackupStatus.CREATING, BackupStatus.RESTORING,
                            BackupStatus.ERROR_DELETING, BackupStatus.DELETING]
            if row.status not in allowed:
                raise errors.InvalidState('Backup %s status must be available or error, but '
                                          'the current status is "%s".' % (row.id, row.status))
            if session.scalar(sa.select(sa.func.count()).select_from(Backup).where(
                    Backup.parent_id == row.id, Backup.deleted.is_(False))):
                raise errors.InvalidBackup(HAS_DEPENDENTS)
            was = row.status
            running = (was in (BackupStatus.CREATING, BackupStatus.DELETING)
                       and ownership.owner_alive(row, self.conf.host))
            claim = {} if running else self._owner()
            if not conditional_update(session, Backup, row.id, [was],
                                      status=BackupStatus.DELETING, **claim):
                raise errors.InvalidState("Backup %s changed status meanwhile; try again."
                                          % row.id)
            backup_id = row.id
        def run(_report):
            if running:  # its own process finishes the delete
                self._wait_gone(backup_id)
            else:
                self._delete_objects_and_row(backup_id, was)

        self._observed("backup.delete", ctx, backup_id, None, run)

    def _wait_gone(self, backup_id: str) -> None:
        """Let the running backup notice the delete and finish it (bounded wait)."""
        deadline = time.monotonic() + FORCE_DELETE_WAIT
        while time.monotonic() < deadline:
            with self.catalog.session() as session:
                if session.scalar(sa.select(Backup.deleted).where(Backup.id == backup_id)):
                    return
            time.sleep(0.2)

    def _delete_objects_and_row(self, backup_id: str, was: str) -> None:
        with self.catalog.session() as session:
            row = session.get(Backup, backup_id)
        try:
            if row.service and row.container and row.service_metadata:
                self._check_service(row)
                self._engine().delete(row.container, row.service_metadata)
        except Exception as exc:
            with self.catalog.session() as session:
                conditional_update(session, Backup, backup_id, [BackupStatus.DELETING],
                                   status=BackupStatus.ERROR,
                                   fail_reason=str(exc).splitlines()[0][:255] if str(exc)
                                   else type(exc).__name__, **ownership.RELEASE)
            raise
        with self.catalog.session() as session:
            if conditional_update(session, Backup, backup_id, [BackupStatus.DELETING],
                                  status=BackupStatus.DELETED, deleted=True,
                                  deleted_at=utcnow(), **ownership.RELEASE):
                if row.parent_id:
                    add_dependent(session, row.parent_id, -1)
                if was == BackupStatus.CREATING:  # its owner died: free the source too
                    self._release_source(session, row, failed=True)

    def update_backup(self, ctx, ref, *, name=None, description=None, properties=None,
                      no_property=False, remove_properties=()) -> dict:
        """Rename, re-describe, and edit properties: ``no_property`` clears them first,
        ``properties`` are merged in, ``remove_properties`` keys are dropped."""
        with self.catalog.session() as session:
            row = self._backup(session, ctx, ref)
            self.policy.enforce(ctx, rules.UPDATE, row.project_id)
            if name is not None:
                row.display_name = name
            if description is not None:
                row.display_description = description
            props = {} if no_property else dict(row.properties or {})
            props.update({str(k): str(v) for k, v in (properties or {}).items()})
            for key in remove_properties:
                props.pop(key, None)
            row.properties = props
            row.updated_at = utcnow()
            return views.backup_view(row)

    def reset_backup_status(self, ctx, ref, status) -> dict:
        """Admin: force the status to ``available`` or ``error``. Resetting a running
        backup to ``error`` stops it; moving a restoring one cancels the restore."""
        wanted = str(status).strip().lower()
        with self.catalog.session() as session:
            row = self._backup(session, ctx, ref)
            self.policy.enforce(ctx, rules.RESET_STATUS, row.project_id)
            if wanted not in BackupStatus.RESETTABLE:
                raise errors.InvalidInput("Invalid backup status '%s': reset-state takes "
                                          "available or error." % status)
            backup_id = row.id
        self._observed("backup.reset_status", ctx, backup_id, None, lambda report: self._reset(
            backup_id, wanted))
        return self._backup_dict(backup_id)

    def _reset(self, backup_id: str, status: str) -> None:
        with self.catalog.session() as session:
            conditional_update(session, Backup, backup_id, None, status=status)

    # --- backups: records ---------------------------------------------------------------
    def export_record(self, ctx, ref) -> dict:
        """``{"backup_service", "backup_url"}`` exactly as Cinder exports it."""
        with self.catalog.session() as session:
            row = self._backup(session, ctx, ref)
            self.policy.enforce(ctx, rules.EXPORT, row.project_id)
            if row.status != BackupStatus.AVAILABLE:
                raise errors.InvalidState('Backup %s status must be available to export it, '
                                          'but the current status is "%s".'
                                          % (row.id, row.status))
            return {"backup_service": row.service, "backup_url": records.encode(row)}

    def import_record(self, ctx, backup_service, backup_url) -> dict:
        """Import a record exported by Ember or Cinder; returns the backup (status
        ``available``, owned by the caller). Everything is checked first: a refused
        record changes nothing."""
        self.policy.enforce(ctx, rules.IMPORT)
        if not backup_service or len(str(backup_service)) > 255:
            raise errors.InvalidInput("Invalid backup record: backup_service must name the "
                                      "driver that wrote the backup.")
        values = records.decode(backup_url)
        from ember.loader import same_layout

        mine = self.driver.cinder_service
        try:
            usable = backup_service == mine or same_layout(backup_service, mine)
        except errors.DriverNotFound:
            usable = False
        if not usable:
            raise errors.InvalidInput("Invalid backup record: backup service %s cannot be "
                                      "read by the configured driver %s." % (backup_service,
                                                                             mine))
        with self.catalog.session() as session:
            old = session.get(Backup, values["id"])
            if old is not None and not (old.deleted or old.status == BackupStatus.DELETED):
                raise errors.InvalidState("Backup already exists in database.")
            if old is not None:
                session.delete(old)
                session.flush()
            row = Backup(user_id=ctx.user_id, project_id=ctx.project_id,
                         status=BackupStatus.AVAILABLE, service=mine, host=self.conf.host,
                         availability_zone=self.conf.storage_availability_zone, **values)
            if row.created_at is None:
                row.created_at = utcnow()
            if row.data_timestamp is None:
                row.data_timestamp = row.created_at
            session.add(row)
            session.flush()
            return views.backup_view(row)


def _member(row: Backup):
    from ember.engine import ChainMember

    return ChainMember(backup_id=row.id, container=row.container, prefix=row.service_metadata)


_SORT_KEYS = {"created_at": Backup.created_at, "updated_at": Backup.updated_at,
              "name": Backup.display_name, "status": Backup.status, "size": Backup.size,
              "id": Backup.id, "data_timestamp": Backup.data_timestamp,
              "volume_id": Backup.volume_id}


def _sort_clauses(sort):
    """``"key[:asc|desc],..."`` → ORDER BY clauses (default ``created_at:desc``), with
    ``id`` last so pages are stable."""
    clauses = []
    for part in (sort or "created_at:desc").split(","):
        key, _, direction = part.strip().partition(":")
        direction = (direction or "desc").lower()
        if key not in _SORT_KEYS or direction not in ("asc", "desc"):
            raise errors.InvalidInput("Invalid sort '%s': use key[:asc|desc] with key one of "
                                      "%s." % (part, ", ".join(sorted(_SORT_KEYS))))
        column = _SORT_KEYS[key]
        clauses.append(column.asc() if direction == "asc" else column.desc())
    clauses.append(Backup.id.desc())
    return clauses
