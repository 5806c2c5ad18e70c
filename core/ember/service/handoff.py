"""Handing begun work to an ``ember-backup`` worker, and keeping a live process's claims.

The process that begins an operation (``ember-api``, or ``ember … --async``) owns the
backup row (``owner_host``, ``owner_pid``) until a worker takes it over with one
conditional UPDATE naming that previous owner: of two workers offered the same work (a
message re-sent after a lost reply), exactly one wins and the other hears ``gone``.
Every live process refreshes the heartbeat of the rows it owns, so a claim held by a
live process, busy or waiting, is never taken for a dead one's (``ember.service.recovery``).

Routing: a volume on one host's local disk can only be read or written there, so its
work goes to that host's worker; a volume under one of ``backup_shared_volume_paths``
(mounted at the same path on every host) goes to any live worker, unless
``backup_use_same_host`` pins it to its host as in Cinder. A delete needs only the shared
repository: any live worker. Live workers are tried least busy first.
"""

from __future__ import annotations

import datetime
import logging
import os
import random

import sqlalchemy as sa

from ember.catalog import ownership
from ember.catalog.models import Backup, Service, Snapshot, Volume, utcnow
from ember.catalog.states import BackupStatus
from ember.service.base import Shared
from ember.service.recovery import with_note
from ember.service.services import BACKUP_BINARY

LOG = logging.getLogger(__name__)
#: answers of ``take_over``
TAKEN, MINE, GONE = "taken", "mine", "gone"
_BUSY = (BackupStatus.CREATING, BackupStatus.RESTORING, BackupStatus.DELETING)
#: the statuses a delete may have left (only ``creating`` changes what its run does)
_LEFT = (BackupStatus.AVAILABLE, BackupStatus.ERROR, BackupStatus.CREATING,
         BackupStatus.RESTORING, BackupStatus.ERROR_DELETING, BackupStatus.DELETING)


def _under(path: str, roots) -> bool:
    path = os.path.normpath(path)
    for root in roots:
        root = os.path.normpath(root)
        if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
            return True
    return False


class Handoff:
    """Ownership hand-off between processes, claim heartbeats, routing, and the run step
    of any begun work."""

    #: the work a begin step hands over, by the name ``run`` knows it
    RUNNABLE = ("create", "restore", "delete")

    def __init__(self, shared: Shared, recovery, creation, restores, lifecycle):
        self.shared = shared
        self.catalog, self.conf, self.policy = shared.catalog, shared.conf, shared.policy
        self.recovery = recovery
        self.creation = creation
        self.restores = restores
        self.lifecycle = lifecycle

    def run(self, ctx, operation: str, ids: dict):
        """The run step of begun work, from what its begin step returned: ``create``
        ``{"backup_id"}``, ``restore`` ``{"backup_id", "target_is_new"}``, ``delete``
        ``{"backup_id", "was", "running"}``."""
        backup_id = str(ids["backup_id"])
        if operation == "create":
            return self.creation.run_create_backup(ctx, backup_id)
        if operation == "restore":
            return self.restores.run_restore_backup(ctx, backup_id,
                                                    target_is_new=ids.get("target_is_new") is True)
        if operation == "delete":
            was = ids.get("was")
            return self.lifecycle.run_delete_backup(ctx, backup_id, was=was if was in _LEFT
                                                    else BackupStatus.DELETING,
                                                    running=ids.get("running") is True)
        raise ValueError("no such work: %r" % (operation,))

    def take_over(self, backup_id: str, from_host: str, from_pid: int) -> str:
        """Become the owner of the row ``from_host``/``from_pid`` owns: ``TAKEN``;
        ``MINE`` if this process owns it already (the same work offered twice);
        ``GONE`` if someone else owns it or it is finished."""
        with self.catalog.session() as session:
            won = session.execute(
                sa.update(Backup).where(Backup.id == backup_id, Backup.deleted.is_(False),
                                        Backup.owner_host == from_host,
                                        Backup.owner_pid == from_pid)
                # as Cinder's backup.host: the backup service that makes the backup
                .values(host=sa.case((Backup.status == BackupStatus.CREATING, self.conf.host),
                                     else_=Backup.host),
                        updated_at=Backup.updated_at, **ownership.claim(self.conf.host)),
                execution_options={"synchronize_session": False}).rowcount == 1
            if won:
                return TAKEN
            mine = session.scalar(sa.select(sa.func.count()).select_from(Backup).where(
                Backup.id == backup_id, *self.shared.owned()))
        return MINE if mine else GONE

    def owns(self, backup_id: str) -> bool:
        """True while this process owns the live row ``backup_id``."""
        with self.catalog.session() as session:
            return bool(session.scalar(sa.select(sa.func.count()).select_from(Backup).where(
                Backup.id == backup_id, Backup.deleted.is_(False), *self.shared.owned())))

    def repair_own(self, backup_id: str) -> bool:
        """Repair, as a dead owner's, a row this process owns whose work ended without
        finishing it (the database went away under the run step, say): left owned, it
        would look busy for as long as this process lives. True if repaired."""
        with self.catalog.session() as session:
            row = session.scalar(sa.select(Backup).where(
                Backup.id == backup_id, Backup.deleted.is_(False), Backup.status.in_(_BUSY),
                *self.shared.owned()))
        return row is not None and self.recovery.repair_row(row)

    def repair_own_when_answered(self, backup_id: str, stop) -> None:
        """``repair_own``, tried every ``report_interval`` while the database is away,
        until done or ``stop`` (a ``threading.Event``) is set: for work that ended of
        something other than its own failure (which its run step records)."""
        while True:
            try:
                if self.repair_own(backup_id):
                    LOG.warning("Repaired backup %s, whose work ended unfinished", backup_id)
                return
            except Exception as exc:  # noqa: BLE001 - the database may be away a while
                LOG.warning("Could not repair backup %s yet: %s", backup_id, exc)
                if stop.wait(self.conf.report_interval):
                    return

    def refresh_claims(self) -> int:
        """Heartbeat every row this process owns; returns how many."""
        with self.catalog.session() as session:
            return session.execute(
                sa.update(Backup).where(Backup.deleted.is_(False), *self.shared.owned())
                # updated_at kept: a heartbeat is not a change
                .values(heartbeat_at=utcnow(), updated_at=Backup.updated_at),
                execution_options={"synchronize_session": False}).rowcount

    def route(self, backup_id: str) -> tuple[list[str], str | None]:
        """``(hosts, pinned)``: the live, enabled backup workers that may run the work
        begun on ``backup_id``, least busy first, and the one host its volume pins it
        to (None when any host will do)."""
        with self.catalog.session() as session:
            row = session.get(Backup, backup_id)
            if row is None:
                return [], None
            pinned = self._pinned_host(session, row)
            down_after = datetime.timedelta(seconds=self.conf.service_down_time)
            live = sa.select(Service.host).where(
                Service.binary == BACKUP_BINARY, Service.deleted.is_(False),
                Service.disabled.isnot(True), Service.updated_at >= utcnow() - down_after)
            if pinned is not None:
                live = live.where(Service.host == pinned)
            elif row.availability_zone:
                live = live.where(Service.availability_zone == row.availability_zone)
            hosts = sorted(set(session.scalars(live)))
            load = dict(session.execute(
                sa.select(Backup.owner_host, sa.func.count()).where(
                    Backup.deleted.is_(False), Backup.status.in_(_BUSY),
                    Backup.owner_host.in_(hosts)).group_by(Backup.owner_host)).all())
        random.shuffle(hosts)  # equal loads share the work
        return sorted(hosts, key=lambda h: load.get(h, 0)), pinned

    def _pinned_host(self, session, row: Backup) -> str | None:
        if row.status == BackupStatus.CREATING:
            volume = session.get(Volume, row.volume_id)
            snap = session.get(Snapshot, row.snapshot_id) if row.snapshot_id else None
            path = snap.path if snap is not None else volume.path if volume else None
        elif row.status == BackupStatus.RESTORING and row.restore_volume_id:
            volume = session.get(Volume, row.restore_volume_id)
            path = volume.path if volume else None
        else:  # a delete touches only the shared repository
            return None
        if volume is None:
            return None
        if self.conf.backup_use_same_host or not _under(path,
                                                          self.conf.backup_shared_volume_paths):
            return volume.host
        return None

    def abandon(self, backup_id: str, reason: str) -> bool:
        """End work this process began but no worker took: a backup ends ``error``
        (source released), a restore gives the backup back ``available`` and leaves the
        volume ``error_restoring``, a delete ends ``error``; ``reason`` is the
        fail_reason. False (nothing changed) if a worker took it meanwhile."""
        reason = reason[:255]
        with self.catalog.session() as session:
            row = session.get(Backup, backup_id)
            if row is None:
                return False
            # after the history of attempts started again (ember.service.recovery)
            failed = dict(status=BackupStatus.ERROR, fail_reason=with_note(row.fail_reason,
                                                                            reason))
            end = {BackupStatus.CREATING: failed,
                   BackupStatus.RESTORING: dict(status=BackupStatus.AVAILABLE),
                   BackupStatus.DELETING: failed}
            if row.status not in end:
                return False
            # the owner in the WHERE: a worker taking it over at the same time wins or loses
            # as a whole
            won = session.execute(
                sa.update(Backup).where(Backup.id == backup_id, Backup.status == row.status,
                                        *self.shared.owned())
                .values(updated_at=utcnow(), **end[row.status], **ownership.RELEASE),
                execution_options={"synchronize_session": False}).rowcount == 1
            if won:
                self.recovery.release_unfinished(session, row)
        return won
