"""Restore: onto an existing available volume or a new ``restore_backup_<id>`` one, with
the volume metadata applied (``docs/format.md``, volume_meta) and both rows' statuses
ended as Cinder does.
"""

from __future__ import annotations

import json
import os
import uuid

from ember import errors
from ember import policy as rules
from ember import volumes as vols
from ember.catalog import ownership
from ember.catalog.models import Backup, Volume, utcnow
from ember.catalog.states import (
    BackupStatus,
    VolumeStatus,
    conditional_update,
)
from ember.catalog.retry import until_answered
from ember.catalog.tokens import StatusToken
from ember.service.base import Progress, Shared


def size_limit(backup: Backup) -> int:
    """The most bytes the row lets the backup's volume have: its exact byte size when
    Ember recorded one, else its size in GiB (a Cinder record)."""
    from ember.engine.plan import MAX_VOLUME

    return min(MAX_VOLUME, backup.size_bytes or backup.size * vols.GiB)


class Restores:
    """``restore_backup`` and its steps."""

    def __init__(self, shared: Shared, quotas, queries):
        self.shared = shared
        self.catalog, self.conf, self.policy = shared.catalog, shared.conf, shared.policy
        self.quotas = quotas
        self.queries = queries

    def restore_backup(self, ctx, backup_ref, volume_ref=None, *, name=None, force=False,
                       progress: Progress | None = None) -> dict:
        """Restore onto the existing available volume ``volume_ref`` (at least the
        backup's size) or a new volume named ``name``; without either, the new volume is
        created as ``restore_backup_<id>`` and renamed after the backed-up volume when the
        backup records its name (Cinder's behaviour). ``force``
        is the CLI's (OpenStackClient refuses an existing volume without it; the API,
        as Cinder's, does not ask for it). Returns ``{"backup_id", "volume_id",
        "volume_name"}``. The backup ends ``available`` whatever happens; the volume
        ends ``available``, ``error_restoring`` (failure) or ``error`` (cancelled)."""
        begun, plan = self._begin_restore_backup(ctx, backup_ref, volume_ref, name)
        # one process: the run step takes the plan whose documents were just checked
        return self.run_restore_backup(ctx, begun["backup_id"], progress=progress,
                                       target_is_new=begun["target_is_new"], plan=plan)

    def begin_restore_backup(self, ctx, backup_ref, volume_ref=None, *, name=None,
                             force=False) -> dict:
        """The begin step: policy, checks (every repository document read), the target
        claimed (or made) and the backup ``restoring`` (owned by this process until it
        runs the restore or a worker takes it over; crash repair leaves the claim alone
        while its owner lives, then gives the backup back and marks the target
        ``error_restoring``); returns
        ``{"backup_id", "volume_id", "volume_name", "target_is_new"}`` at once (the last
        for ``run_restore_backup``, not for users: a new target is all zeros, so zero
        runs need not be written)."""
        return self._begin_restore_backup(ctx, backup_ref, volume_ref, name)[0]

    def _begin_restore_backup(self, ctx, backup_ref, volume_ref, name) -> tuple:
        """``begin_restore_backup``'s answer, and the plan it checked."""
        made = []  # the new volume's image, removed again if its row is not committed
        try:
            backup, plan, target_id, _path, is_new = self._begin_restore(
                ctx, backup_ref, volume_ref, name, made)
        except BaseException:
            for path in made:
                vols.remove(path)
            raise
        with self.catalog.session() as session:
            volume = session.get(Volume, target_id)
            return {"backup_id": backup.id, "volume_id": volume.id,
                    "volume_name": volume.display_name, "target_is_new": is_new}, plan

    def run_restore_backup(self, ctx, backup_id: str, progress: Progress | None = None, *,
                           target_is_new: bool = False, plan=None) -> dict:
        """The run step of a begun restore, from the catalogue alone: the repository's
        documents are read and checked again here (this may be another host), unless
        ``plan``, the begin step's own within this process, is given. It starts
        only when the backup is still ``restoring`` and owned by the calling process
        (the beginner, or the worker that took it over); otherwise nothing is done and
        ``InvalidState`` is raised."""
        with self.catalog.session() as session:
            backup = session.get(Backup, backup_id)
            if not self.shared.runnable(backup, BackupStatus.RESTORING) or \
                    not backup.restore_volume_id:
                raise self.shared.not_runnable(backup_id, backup)
            target = session.get(Volume, backup.restore_volume_id)
            target_id, target_path = target.id, target.path
            chain = self.queries.chain(session, backup) if plan is None else None
        try:
            if plan is None:
                plan = self.shared.engine().plan_restore(chain, size_limit(backup))
        except KeyboardInterrupt:
            raise self._end_interrupted_restore(backup.id, target_id, target_path,
                                                bool(target_is_new)) from None
        except Exception as exc:
            self._end_restore(backup.id, target_id, VolumeStatus.ERROR_RESTORING, exc)
            raise
        self.shared.observed("backup.restore", ctx, backup.id, target_id,
                             lambda report: self._run_restore(
                                 backup, plan, target_id, target_path, bool(target_is_new),
                                 report),
                             progress)
        with self.catalog.session() as session:
            volume = session.get(Volume, target_id)
            return {"backup_id": backup.id, "volume_id": volume.id,
                    "volume_name": volume.display_name}

    def _begin_restore(self, ctx, backup_ref, volume_ref, name, made):
        """Check everything, then claim the backup and the target (existing, or a new
        volume whose image path is appended to ``made``) in one transaction."""
        with self.catalog.session() as session:
            backup = self.shared.backup(session, ctx, backup_ref)
            self.policy.enforce(ctx, rules.RESTORE, backup.project_id)
            if backup.status != BackupStatus.AVAILABLE:
                raise errors.InvalidState('Backup %s status must be available to restore it, '
                                          'but the current status is "%s".'
                                          % (backup.id, backup.status))
            if not backup.size:
                raise errors.InvalidBackup("Backup %s has no size; it cannot be restored."
                                           % backup.id)
            self.queries.check_service(backup)
            chain = self.queries.chain(session, backup)
            # every document checked before a target is created, claimed or written
            plan = self.shared.engine().plan_restore(chain, size_limit(backup))
            if volume_ref is not None:
                target = self.shared.volume(session, ctx, volume_ref)
                self.policy.enforce(ctx, rules.RESTORE, target.project_id)
                self._check_restore_target(backup, target, plan.volume_size)
                is_new = False
                if not conditional_update(session, Volume, target.id, [VolumeStatus.AVAILABLE],
                                          status=VolumeStatus.RESTORING_BACKUP):
                    raise errors.InvalidState("Volume %s changed status meanwhile; try again."
                                              % target.id)
            else:
                target, is_new = self._new_restore_volume(session, ctx, backup, plan, name,
                                                          made), True
            if not conditional_update(session, Backup, backup.id, [BackupStatus.AVAILABLE],
                                      status=BackupStatus.RESTORING,
                                      restore_volume_id=target.id, **self.shared.owner()):
                raise errors.InvalidState("Backup %s changed status meanwhile; try again."
                                          % backup.id)
            return backup, plan, target.id, target.path, is_new


    @staticmethod
    def _check_restore_target(backup: Backup, target: Volume, volume_size: int) -> None:
        if target.status != VolumeStatus.AVAILABLE:
            raise errors.InvalidState('Volume %s to restore into must be available, but the '
                                      'current status is "%s".' % (target.id, target.status))
        if backup.size > target.size:
            raise errors.InvalidInput("volume size %d is too small to restore backup of size "
                                      "%d." % (target.size, backup.size))
        needed = max(backup.size_bytes or 0, volume_size)
        if needed > target.size_bytes:
            raise errors.InvalidInput("volume %s (%s) has %d bytes, too few to restore backup "
                                      "of %d bytes." % (target.display_name, target.id,
                                                        target.size_bytes, needed))

    def _new_restore_volume(self, session, ctx, backup: Backup, plan, name, made) -> Volume:
        volume_id = str(uuid.uuid4())
        size_bytes = plan.volume_size
        # the new volume counts: repeated restores must not fill the disk past the quota
        self.quotas.reserve_volume(session, ctx.project_id, max(backup.size, vols.gib(size_bytes)))
        path = os.path.join(self.shared.state_dir("volumes"), "volume-%s" % volume_id)
        vols.create_sparse(path, size_bytes)
        made.append(path)
        row = Volume(id=volume_id, user_id=ctx.user_id, project_id=ctx.project_id,
                     display_name=name or "restore_backup_%s" % backup.id,
                     display_description="auto-created_from_restore_from_backup",
                     size=max(backup.size, vols.gib(size_bytes)), size_bytes=size_bytes,
                     status=VolumeStatus.RESTORING_BACKUP, path=path, owns_path=True,
                     properties={}, host=self.conf.host,
                     availability_zone=self.conf.storage_availability_zone)
        session.add(row)
        return row

    def _run_restore(self, backup: Backup, plan, target_id, target_path, is_new,
                     progress) -> None:
        token = StatusToken(self.catalog, backup.id, lambda s: s != BackupStatus.RESTORING,
                            errors.RestoreCancelled,
                            "Restore of backup %s into volume %s was cancelled; the volume is "
                            "now in error." % (backup.id, target_id))
        try:
            result = self.shared.engine().restore(plan.chain, target_path, target_is_new=is_new,
                                                  plan=plan, cancel=token, progress=progress)
            self._record_volume_meta(backup, target_id, result.volume_meta)
        except (errors.Cancelled, errors.RestoreMismatch) as exc:
            # a wrong image was written: the target is unusable, not merely unfinished
            self._end_restore(backup.id, target_id, VolumeStatus.ERROR,
                              exc if isinstance(exc, errors.RestoreMismatch) else None)
            raise
        except KeyboardInterrupt:
            raise self._end_interrupted_restore(backup.id, target_id, target_path,
                                                is_new) from None
        except Exception as exc:
            self._end_restore(backup.id, target_id, VolumeStatus.ERROR_RESTORING, exc)
            raise
        self._end_restore(backup.id, target_id, VolumeStatus.AVAILABLE, None)

    def _end_interrupted_restore(self, backup_id, volume_id, path,
                                 is_new: bool) -> errors.Interrupted:
        """Ctrl-C: the backup is available again at once; a new volume holding part of
        the backup is removed, an existing one is marked error_restoring (it holds part
        of the backup over its old content)."""
        self._end_restore(backup_id, volume_id, VolumeStatus.ERROR_RESTORING, None)
        if is_new:
            self._drop_new_volume(volume_id)
            vols.remove(path)
            return errors.Interrupted("Interrupted: the restore of backup %s was stopped; "
                                      "the new volume %s it was writing was removed."
                                      % (backup_id, volume_id))
        return errors.Interrupted(
            "Interrupted: the restore of backup %s was stopped; volume %s holds part of it "
            "and is now error_restoring: restore again after 'ember volume set --state "
            "available %s'." % (backup_id, volume_id, volume_id))

    @until_answered
    def _drop_new_volume(self, volume_id) -> None:
        with self.catalog.session() as session:
            conditional_update(session, Volume, volume_id, [VolumeStatus.ERROR_RESTORING],
                               status="deleted", deleted=True, deleted_at=utcnow())

    @until_answered
    def _end_restore(self, backup_id, volume_id, volume_status, exc) -> None:
        with self.catalog.session() as session:
            # Cinder: the backup ends available even if reset to error to cancel
            conditional_update(session, Backup, backup_id,
                               [BackupStatus.RESTORING, BackupStatus.ERROR],
                               status=BackupStatus.AVAILABLE, **ownership.RELEASE)
            conditional_update(session, Volume, volume_id, [VolumeStatus.RESTORING_BACKUP],
                               status=volume_status)

    @until_answered
    def _record_volume_meta(self, backup: Backup, volume_id, meta_text) -> None:
        with self.catalog.session() as session:
            self._apply_volume_meta(session, backup, volume_id, meta_text)

    def _apply_volume_meta(self, session, backup: Backup, volume_id, meta_text) -> None:
        """Spec §3.4: name/description onto unnamed or ``restore_backup_*`` targets,
        the key id (v2), user metadata replaced; ``src_backup_id`` when crossing volumes."""
        volume = session.get(Volume, volume_id)
        props = dict(volume.properties or {})
        if meta_text:
            try:
                meta = json.loads(meta_text)
            except (ValueError, TypeError, RecursionError):
                meta = None
            if not isinstance(meta, dict):
                raise errors.InvalidBackup("Backup %s has unreadable volume metadata."
                                           % backup.id)
            version = meta.get("version")
            if version not in (1, 2):
                raise errors.InvalidBackup("Metadata restore failed due to incompatible "
                                           "version")
            base = meta.get("volume-base-metadata") or {}
            if not isinstance(base, dict) or not isinstance(meta.get("volume-metadata", {}),
                                                            dict):
                raise errors.InvalidBackup("Backup %s has malformed volume metadata."
                                           % backup.id)
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
