"""The plumbing every part of the service shares: the catalogue, the configuration,
the policy enforcer, the hooks, the clock, the lazily loaded driver and engine, the
hooks wrapper around an operation, claims of the calling process, name-or-id lookup
within the caller's project, and listing scope.

``Shared`` is one object, made once by ``ember.service.Ember`` and handed to each of
its parts (``Quotas``, ``BackupCreation``, ...) in their constructors; a part calls
another part only through the attribute its constructor was given.
"""

from __future__ import annotations

import datetime
import os

import sqlalchemy as sa

from ember import errors
from ember import policy as rules
from ember.catalog import Catalog, ownership, views
from ember.catalog.models import Backup, Snapshot, Volume, utcnow
from ember.catalog.states import (
    SnapshotStatus,
    VolumeStatus,
    conditional_update,
    restore_volume_status,
)
from ember.hooks import Hooks, plugin_manager
from ember.notifications import Notifications
from ember.policy import Policy
from ember.service.operations import OperationLog
from ember.engine.spec import Progress
from ember.progress import ProgressReporter, progress_view


def _not_found(kind: str, ref) -> errors.NotFound:
    return errors.NotFound("No %s with a name or ID of '%s' exists." % (kind, ref))


def chain_member(row: Backup):
    """The engine's ``ChainMember`` for a catalogue row."""
    from ember.engine.engine import ChainMember

    return ChainMember(backup_id=row.id, container=row.container, prefix=row.service_metadata,
                       volume_id=row.volume_id,
                       size_limit=row.size_bytes or (row.size or 0) << 30 or None)


def release_source(session, row: Backup, failed: bool) -> None:
    """Give a backup's source (its snapshot, or its volume) back its status."""
    if row.snapshot_id:
        conditional_update(session, Snapshot, row.snapshot_id,
                           [SnapshotStatus.BACKING_UP], status=SnapshotStatus.AVAILABLE)
    else:
        restore_volume_status(session, row.volume_id,
                              VolumeStatus.ERROR_BACKING_UP if failed
                              else VolumeStatus.BACKING_UP)


class Shared:
    """What every part of the service uses: rows, configuration, policy, driver, hooks."""

    def __init__(self, conf, *, catalog=None, driver=None, hooks=None, clock=None):
        """Open (and migrate) the catalogue named by ``[database] connection``; the
        driver is loaded lazily on first use unless ``driver`` is given.
        ``hooks`` (an ``ember.hooks.Hooks``) receives lifecycle and progress events;
        the default loads the ``ember.hooks`` entry points plus the built-in OpenStack
        notifications (``ember.notifications``; off unless configured). ``clock`` (naive
        UTC now) dates new backups and the scheduler's passes; tests inject one."""
        self.conf = conf
        self.clock = clock or utcnow
        self.catalog = catalog if catalog is not None else Catalog.open(conf)
        self.policy = Policy(conf)
        self._driver = driver
        self.hooks = (hooks if hooks is not None
                      else Hooks(plugin_manager(Notifications(conf))))
        # every run is recorded for metrics and the dashboard, whoever else listens
        self.operation_log = OperationLog(self.catalog, conf.host)
        self.hooks.pm.register(self.operation_log)

    @property
    def driver(self):
        if self._driver is None:
            from ember.loader import load_driver

            self._driver = load_driver(self.conf)
        return self._driver

    @property
    def layout(self):
        """The driver's ``Layout``: names, sizes and the Cinder service it records, as
        its plugin resolves them from the configuration now (as the driver read its
        options when it held them)."""
        from ember.loader import layout_of

        return layout_of(self.driver)

    def engine(self):
        from ember.engine.engine import Engine

        return Engine(self.driver, self.conf, self.layout)

    def check_backup_target(self, container: str) -> None:
        """Everything that can be checked before a row exists: the driver loads, the
        object and SHA block sizes fit (the engine checks them), the repository is
        reachable and the container is one the driver accepts. A mistake then leaves
        no ``error`` row behind and no volume status changed."""
        self.engine()
        self.driver.check_setup()
        # a listing names nothing but proves the container valid and readable
        self.driver.list_objects(container, "ember-check-")

    def delete_objects(self, backup_id: str, container: str, prefix: str) -> None:
        """Delete a backup's objects, then its container if it was the backup's own (the
        driver's default) and is now empty."""
        self.engine().delete(container, prefix)
        if container == self.layout.default_container(backup_id):
            self.driver.remove_empty_container(container)

    def observed(self, operation: str, ctx, backup_id: str, volume_id, run,
                  progress: Progress | None = None):
        """``run(report)`` between ``ember_operation_start`` and ``ember_operation_end``;
        ``report(done, total)`` feeds ``progress`` and the ``ember_progress`` hook."""
        backup = self.backup_dict(backup_id)
        reporter = []  # built on the first report: only create and restore need the layout

        def report(done: int, total: int) -> None:
            if not reporter:  # rate-limited as Cinder's notifications (ember.progress)
                reporter.append(ProgressReporter.for_layout(
                    self.hooks, operation, lambda: progress_view(self.backup_dict(backup_id)),
                    self.conf, self.layout, forward=progress))
            reporter[0](done, total)

        self.hooks.call("ember_operation_start", operation=operation, backup=backup,
                        volume=self.volume_dict(volume_id), context=ctx)
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
                            backup=self.backup_dict(backup_id),
                            volume=self.volume_dict(volume_id), context=ctx, error=error)

    def backup_dict(self, backup_id: str) -> dict | None:
        with self.catalog.session() as session:
            row = session.get(Backup, backup_id)
            return None if row is None else views.backup_view(row)

    def volume_dict(self, volume_id) -> dict | None:
        if volume_id is None:
            return None
        with self.catalog.session() as session:
            row = session.get(Volume, volume_id)
            return None if row is None else views.volume_view(row)

    def state_dir(self, kind: str) -> str:
        return os.path.join(self.conf.state_path, kind)

    def owner(self) -> dict:
        return ownership.claim(self.conf.host)

    def owned(self) -> tuple:
        """WHERE clauses: the backup row is owned by the calling process."""
        return Backup.owner_host == self.conf.host, Backup.owner_pid == os.getpid()

    def runnable(self, row, status: str) -> bool:
        """True when ``row`` is live, in the claimed ``status`` and owned by the calling
        process (its beginner, or the worker that took it over): what a run step needs
        before it starts."""
        return (row is not None and not row.deleted and row.status == status
                and row.owner_host == self.conf.host and row.owner_pid == os.getpid())

    @staticmethod
    def not_runnable(backup_id: str, row) -> errors.InvalidState:
        status = "deleted" if row is None or row.deleted else row.status
        return errors.InvalidState(
            'Backup %s is not waiting for this process to run it (its status is "%s"); '
            'nothing was done.' % (backup_id, status))

    def owner_alive(self, row) -> bool:
        """Whether the process owning ``row`` may still run it: on this host its pid
        tells; from elsewhere a heartbeat within ``service_down_time``."""
        return ownership.owner_alive(row, self.conf.host, datetime.timedelta(
            seconds=self.conf.service_down_time))

    def find(self, session, model, kind: str, ctx, ref):
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

    def volume(self, session, ctx, ref) -> Volume:
        return self.find(session, Volume, "volume", ctx, ref)

    def snapshot(self, session, ctx, ref) -> Snapshot:
        return self.find(session, Snapshot, "snapshot", ctx, ref)

    def backup(self, session, ctx, ref) -> Backup:
        return self.find(session, Backup, "backup", ctx, ref)

    def scope(self, ctx, stmt, model, all_projects: bool):
        if all_projects:
            self.policy.enforce(ctx, rules.ALL_PROJECTS)
            return stmt
        return stmt.where(model.project_id == ctx.project_id)

    def live(self, ctx, model, all_projects: bool, *, name=None, status=None):
        """SELECT of the caller's (or, for admins who ask, every project's) rows of
        ``model`` that are not deleted, filtered by display name and status if given."""
        stmt = self.scope(ctx, sa.select(model).where(model.deleted.is_(False)), model,
                           all_projects)
        if name is not None:
            stmt = stmt.where(model.display_name == name)
        if status is not None:
            stmt = stmt.where(model.status == status)
        return stmt
