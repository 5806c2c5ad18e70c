"""``Ember``, the service facade: one object over the parts in this package
(:mod:`ember.service` says what it promises)."""

from __future__ import annotations

from functools import cached_property

from ember.service import submit
from ember.service.backups import BackupCreation
from ember.service.base import Shared
from ember.service.consolidate import Consolidation
from ember.service.export_import import Records
from ember.service.handoff import Handoff
from ember.service.lifecycle import BackupLifecycle
from ember.service.monitoring import Monitoring
from ember.service.policies import Policies
from ember.service.prune import Pruning
from ember.service.queries import BackupQueries
from ember.service.quotas import Quotas
from ember.service.recovery import Recovery
from ember.service.restore import Restores
from ember.service.scheduling import Scheduler
from ember.service.services import Services
from ember.service.verify_scan import Repository
from ember.service.volume_ops import Volumes

class _To:
    """``Ember.<name>`` is ``Ember.<part>.<name>``: the facade keeps the public method, the
    part does the work (the bound method, with the part's signature and docstring)."""

    def __init__(self, part: str):
        self.part = part

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, ember, owner=None):
        if ember is None:
            return self
        return getattr(getattr(ember, self.part), self.name)


class Ember:
    """Backups, volumes and snapshots of one Ember installation."""

    #: the work a begin step hands over, by the name ``run`` knows it
    RUNNABLE = Handoff.RUNNABLE

    def __init__(self, conf, *, catalog=None, driver=None, repair=True, hooks=None,
                 clock=None):
        """Open (and migrate) the catalogue named by ``[database] connection``; the
        driver is loaded lazily on first use unless ``driver`` is given. With ``repair``
        (the default) rows left behind by crashed processes are repaired first.
        ``hooks`` (an ``ember.hooks.Hooks``) receives lifecycle and progress events;
        the default loads the ``ember.hooks`` entry points plus the built-in OpenStack
        notifications (``ember.notifications``; off unless configured). ``clock`` (naive
        UTC now) dates new backups and the scheduler's passes; tests inject one."""
        self.shared = Shared(conf, catalog=catalog, driver=driver, hooks=hooks, clock=clock)
        self.conf, self.catalog, self.policy = conf, self.shared.catalog, self.shared.policy
        self.hooks, self.clock = self.shared.hooks, self.shared.clock
        self.operation_log = self.shared.operation_log
        if repair:
            self.repair()

    @property
    def driver(self):
        return self.shared.driver

    @property
    def redo_dead_work(self):
        """Set by a process that hands work to ``ember-backup`` workers (``Recovery``)."""
        return self.recovery.redo_dead_work

    @redo_dead_work.setter
    def redo_dead_work(self, redo) -> None:
        self.recovery.redo_dead_work = redo

    # --- the parts, each given what it calls ----------------------------------------------
    @cached_property
    def quotas(self) -> Quotas:
        return Quotas(self.shared)

    @cached_property
    def queries(self) -> BackupQueries:
        return BackupQueries(self.shared)

    @cached_property
    def volumes(self) -> Volumes:
        return Volumes(self.shared, self.quotas)

    @cached_property
    def services(self) -> Services:
        return Services(self.shared)

    @cached_property
    def creation(self) -> BackupCreation:
        return BackupCreation(self.shared, self.quotas, self.queries)

    @cached_property
    def restores(self) -> Restores:
        return Restores(self.shared, self.quotas, self.queries)

    @cached_property
    def lifecycle(self) -> BackupLifecycle:
        return BackupLifecycle(self.shared, self.queries)

    @cached_property
    def recovery(self) -> Recovery:
        return Recovery(self.shared, self.queries, self.lifecycle)

    @cached_property
    def handoff(self) -> Handoff:
        return Handoff(self.shared, self.recovery, self.creation, self.restores,
                       self.lifecycle)

    @cached_property
    def records(self) -> Records:
        return Records(self.shared, self.quotas)

    @cached_property
    def repository(self) -> Repository:
        return Repository(self.shared, self.queries)

    @cached_property
    def pruning(self) -> Pruning:
        return Pruning(self.shared, self.lifecycle)

    @cached_property
    def consolidation(self) -> Consolidation:
        return Consolidation(self.shared, self.quotas, self.queries)

    @cached_property
    def policies(self) -> Policies:
        return Policies(self.shared)

    @cached_property
    def scheduler(self) -> Scheduler:
        return Scheduler(self.shared, self.creation, self.lifecycle, self.consolidation,
                         self.repository)

    @cached_property
    def monitoring(self) -> Monitoring:
        """Reads for ``GET /metrics`` and ``GET /dashboard`` (``ember.service.monitoring``)."""
        return Monitoring(self.catalog, self.policy, self.conf)

    # --- begin and hand over (ember.service.submit) ---------------------------------------
    def submit_create_backup(self, ctx, volume_ref, *, dispatcher, **options) -> dict:
        """Begin a backup and hand it to ``dispatcher``; returns the ``creating`` backup."""
        return submit.submit_create_backup(self.creation, ctx, volume_ref,
                                           dispatcher=dispatcher, **options)

    def submit_restore(self, ctx, backup_ref, volume_ref=None, *, dispatcher, name=None,
                       force=False) -> dict:
        """Begin a restore and hand it to ``dispatcher``; returns what it began."""
        return submit.submit_restore(self.restores, ctx, backup_ref, volume_ref,
                                     dispatcher=dispatcher, name=name, force=force)

    def submit_delete(self, ctx, ref, *, dispatcher, force=False) -> dict:
        """Begin a delete and hand it to ``dispatcher`` (unless the backup's own running
        process finishes it); returns what it began."""
        return submit.submit_delete(self.lifecycle, ctx, ref, dispatcher=dispatcher,
                                    force=force)

    # --- crash repair (recovery) ---------------------------------------------------------
    repair = _To("recovery")

    # --- volumes and snapshots (volume_ops) ------------------------------------------------------
    create_volume = _To("volumes")
    list_volumes = _To("volumes")
    get_volume = _To("volumes")
    update_volume = _To("volumes")
    delete_volume = _To("volumes")
    attach_volume = _To("volumes")
    detach_volume = _To("volumes")
    create_snapshot = _To("volumes")
    list_snapshots = _To("volumes")
    get_snapshot = _To("volumes")
    reset_snapshot_status = _To("volumes")
    delete_snapshot = _To("volumes")

    # --- quotas ----------------------------------------------------------------------------------
    quota_defaults = _To("quotas")
    get_quotas = _To("quotas")
    update_quotas = _To("quotas")
    delete_quotas = _To("quotas")

    # --- backup services (services) --------------------------------------------------------------
    register_service = _To("services")
    service_heartbeat = _To("services")
    list_services = _To("services")

    # --- reading backups (queries) ---------------------------------------------------------------
    get_backup_row = _To("queries")
    list_backups = _To("queries")
    get_backup = _To("queries")
    backup_chain = _To("queries")

    # --- creating a backup (backups) -------------------------------------------------------------
    create_backup = _To("creation")
    begin_create_backup = _To("creation")
    run_create_backup = _To("creation")

    # --- restoring (restore) ---------------------------------------------------------------------
    restore_backup = _To("restores")
    begin_restore_backup = _To("restores")
    run_restore_backup = _To("restores")

    # --- delete, update, reset (lifecycle) -------------------------------------------------------
    delete_backup = _To("lifecycle")
    begin_delete_backup = _To("lifecycle")
    run_delete_backup = _To("lifecycle")
    update_backup = _To("lifecycle")
    reset_backup_status = _To("lifecycle")

    # --- export and import of records (export_import) --------------------------------------------
    export_record = _To("records")
    import_record = _To("records")

    # --- hand-off, claims and routing (handoff) --------------------------------------------------
    run = _To("handoff")
    take_over = _To("handoff")
    owns = _To("handoff")
    repair_own = _To("handoff")
    repair_own_when_answered = _To("handoff")
    refresh_claims = _To("handoff")
    route = _To("handoff")
    abandon = _To("handoff")

    # --- the repository (verify_scan) ------------------------------------------------------------
    verify_backup = _To("repository")
    scan_repository = _To("repository")

    # --- prune (prune) ---------------------------------------------------------------------------
    prune_backups = _To("pruning")

    # --- synthetic fulls (consolidate) -----------------------------------------------------------
    consolidate_backup = _To("consolidation")

    # --- backup policies (policies) --------------------------------------------------------------
    create_policy = _To("policies")
    list_policies = _To("policies")
    get_policy = _To("policies")
    update_policy = _To("policies")
    delete_policy = _To("policies")
    apply_policy = _To("policies")
    remove_policy = _To("policies")

    # --- the scheduler's pass (scheduling) -------------------------------------------------------
    hold_scheduler_lease = _To("scheduler")
    release_scheduler_lease = _To("scheduler")
    resume_policy_runs = _To("scheduler")
    finish_policy_runs = _To("scheduler")
    run_policies = _To("scheduler")
