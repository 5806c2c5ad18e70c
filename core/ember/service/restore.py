"""Restore: onto an existing available volume or a new ``restore_backup_<id>`` one, with
the volume metadata of spec §3.4 applied and both rows' statuses ended as Cinder does.
"""

from __future__ import annotations

import json
import os
import uuid

from ember import errors
from ember import format as fmt
from ember import policy as rules
from ember import volumes as vols
from ember.catalog import ownership
from ember.catalog.models import Backup, Volume, utcnow
from ember.catalog.states import (
    BackupStatus,
    VolumeStatus,
    conditional_update,
)
from ember.catalog.tokens import StatusToken
from ember.service.base import Progress, ServiceBase


class RestoreMixin(ServiceBase):
    """``restore_backup`` and its steps."""

    def restore_backup(self, ctx, backup_ref, volume_ref=None, *, name=None, force=False,
                       progress: Progress | None = None) -> dict:
        """Restore onto the existing available volume ``volume_ref`` (at least the
        backup's size) or a new volume named ``name``; without either, the new volume is
        created as ``restore_backup_<id>`` and renamed after the backed-up volume when the
        backup records its name (Cinder's behaviour). ``force``
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
            with self.catalog.session() as session:
                conditional_update(session, Volume, volume_id,
                                   [VolumeStatus.ERROR_RESTORING], status="deleted",
                                   deleted=True, deleted_at=utcnow())
            vols.remove(path)
            return errors.Interrupted("Interrupted: the restore of backup %s was stopped; "
                                      "the new volume %s it was writing was removed."
                                      % (backup_id, volume_id))
        return errors.Interrupted(
            "Interrupted: the restore of backup %s was stopped; volume %s holds part of it "
            "and is now error_restoring: restore again after 'ember volume set --state "
            "available %s'." % (backup_id, volume_id, volume_id))

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
