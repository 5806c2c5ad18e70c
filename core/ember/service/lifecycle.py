"""A backup's later life: delete (including force-deleting a running one), update of
name, description and properties, and the admin reset of its status.
"""

from __future__ import annotations

import logging
import os
import time

import sqlalchemy as sa

from ember import errors
from ember import policy as rules
from ember import volumes as vols
from ember.catalog import ownership, tenancy, views
from ember.config import one_line
from ember.catalog.models import Backup, utcnow
from ember.catalog.retry import until_answered
from ember.catalog.states import (
    BackupStatus,
    add_dependent,
    conditional_update,
)
from ember.service.base import Shared, release_source

LOG = logging.getLogger(__name__)
HAS_DEPENDENTS = "Incremental backups exist for this backup."
PROTECTED = ("Backup %s is protected; unprotect it first with "
             "'ember volume backup set --no-protect %s'.")
#: how long a force delete waits for a running backup to notice and finish the delete
FORCE_DELETE_WAIT = 30.0


class BackupLifecycle:
    """Delete, update and reset-state of backups."""

    def __init__(self, shared: Shared, queries):
        self.shared = shared
        self.catalog, self.conf, self.policy = shared.catalog, shared.conf, shared.policy
        self.queries = queries

    def delete_backup(self, ctx, ref, *, force=False) -> None:
        """Delete a backup and its objects. Needs ``available``/``error`` unless
        ``force`` (admin), and no incremental children. Force-deleting a running backup
        cancels it: its process removes the objects and the row."""
        begun = self.begin_delete_backup(ctx, ref, force=force)
        self.run_delete_backup(ctx, **begun)

    def begin_delete_backup(self, ctx, ref, *, force=False) -> dict:
        """The begin step: policy, checks and the row made ``deleting``; returns the
        keyword arguments of ``run_delete_backup``: ``backup_id``, ``was`` (the status it
        left) and ``running`` (a live process runs its creation and finishes the delete
        itself: this process does not own it, and nothing is to be run elsewhere).

        Otherwise the calling process owns the claim until it runs the delete or a
        worker takes it over. A ``creating`` backup whose run has not started (no object
        prefix) is not running: its source is given back here and its run will refuse."""
        with self.catalog.session() as session:
            row = self.shared.backup(session, ctx, ref)
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
            if row.protected:
                raise errors.InvalidBackup(PROTECTED % (row.id, row.id))
            if tenancy.dependents(session, row):
                raise errors.InvalidBackup(HAS_DEPENDENTS)
            was = row.status
            unstarted = was == BackupStatus.CREATING and not row.service_metadata
            running = (was in (BackupStatus.CREATING, BackupStatus.DELETING)
                       and not unstarted and self.shared.owner_alive(row))
            stmt = sa.update(Backup).where(Backup.id == row.id, Backup.deleted.is_(False),
                                           Backup.status == was)
            if unstarted:  # a run starting meanwhile makes this claim fail
                stmt = stmt.where(Backup.service_metadata.is_(None))
            claim = {} if running else self.shared.owner()
            if session.execute(stmt.values(status=BackupStatus.DELETING, updated_at=utcnow(),
                                           **claim),
                               execution_options={"synchronize_session": False}
                               ).rowcount != 1:
                raise errors.InvalidState("Backup %s changed status meanwhile; try again."
                                          % row.id)
            if unstarted:
                release_source(session, row, failed=True)  # its run never will
                was = BackupStatus.DELETING
            return {"backup_id": row.id, "was": was, "running": running}

    def run_delete_backup(self, ctx, backup_id: str, *, was: str = BackupStatus.DELETING,
                          running: bool = False) -> None:
        """The run step of a begun delete: remove the objects, then the row (or, when
        ``running``, wait a while for the backup's own process to do so). A row already
        deleted is left alone (nothing to do); one not ``deleting`` or not owned by the
        calling process is refused with ``InvalidState`` and nothing done."""
        if not running:
            with self.catalog.session() as session:
                row = session.get(Backup, backup_id)
                if row is None or row.deleted:
                    return
                if not self.shared.runnable(row, BackupStatus.DELETING):
                    raise self.shared.not_runnable(backup_id, row)

        def run(_report):
            if running:  # its own process finishes the delete
                self._wait_gone(backup_id)
            else:
                self.delete_objects_and_row(backup_id, was)

        self.shared.observed("backup.delete", ctx, backup_id, None, run)

    def _wait_gone(self, backup_id: str) -> None:
        """Let the running backup notice the delete and finish it (bounded wait)."""
        deadline = time.monotonic() + FORCE_DELETE_WAIT
        while time.monotonic() < deadline:
            with self.catalog.session() as session:
                if session.scalar(sa.select(Backup.deleted).where(Backup.id == backup_id)):
                    return
            time.sleep(0.2)

    @until_answered
    def delete_objects_and_row(self, backup_id: str, was: str) -> None:
        with self.catalog.session() as session:
            row = session.get(Backup, backup_id)
            sharing = tenancy.sharing_rows(session, row.container, row.service_metadata,
                                           exclude=row.id)
        try:
            if sharing:
                LOG.warning("Backup %s: its objects also belong to backup %s; only the row is "
                            "deleted, the objects are kept.", row.id, sharing[0].id)
            elif row.service and row.container and row.service_metadata:
                self.queries.check_service(row)
                self.shared.delete_objects(row.id, row.container, row.service_metadata)
        except errors.OutsideRepository as exc:
            LOG.warning("Backup %s: its objects cannot be reached (%s); only the row is "
                        "deleted, nothing in the repository was touched.", row.id,
                        one_line(exc))
        except KeyboardInterrupt:
            reason = "The delete was interrupted; delete the backup again to finish it."
            with self.catalog.session() as session:
                conditional_update(session, Backup, backup_id, [BackupStatus.DELETING],
                                   status=BackupStatus.ERROR, fail_reason=reason,
                                   **ownership.RELEASE)
            raise errors.Interrupted("Interrupted: the delete of backup %s was stopped with "
                                     "part of its objects removed; it is now error: delete "
                                     "it again to finish." % backup_id) from None
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
                    release_source(session, row, failed=True)
        if row.temp_snapshot_id:  # an in-use backup's point-in-time copy, if still there
            vols.remove(os.path.join(self.shared.state_dir("snapshots"), "snapshot-%s"
                                     % row.temp_snapshot_id))

    def update_backup(self, ctx, ref, *, name=None, description=None, properties=None,
                      no_property=False, remove_properties=(), protected=None) -> dict:
        """Rename, re-describe, and edit properties: ``no_property`` clears them first,
        ``properties`` are merged in, ``remove_properties`` keys are dropped.
        ``protected`` (True/False) sets the Ember-only flag that refuses delete and
        exempts the backup from prune."""
        with self.catalog.session() as session:
            row = self.shared.backup(session, ctx, ref)
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
            if protected is not None:
                row.protected = bool(protected)
            row.updated_at = utcnow()
            return views.backup_view(row)

    def reset_backup_status(self, ctx, ref, status) -> dict:
        """Admin: force the status to ``available`` or ``error``. Resetting a running
        backup to ``error`` stops it; moving a restoring one cancels the restore."""
        wanted = str(status).strip().lower()
        with self.catalog.session() as session:
            row = self.shared.backup(session, ctx, ref)
            self.policy.enforce(ctx, rules.RESET_STATUS, row.project_id)
            if wanted not in BackupStatus.RESETTABLE:
                raise errors.InvalidInput("Invalid backup status '%s': reset-state takes "
                                          "available or error." % status)
            backup_id = row.id
        self.shared.observed("backup.reset_status", ctx, backup_id, None,
                             lambda report: self._reset(backup_id, wanted))
        return self.shared.backup_dict(backup_id)

    def _reset(self, backup_id: str, status: str) -> None:
        with self.catalog.session() as session:
            conditional_update(session, Backup, backup_id, None, status=status)
