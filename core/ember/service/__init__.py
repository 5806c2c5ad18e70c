"""The service facade: one object over the catalogue, the engine, volumes and policy.

The CLI calls only this. Every method takes a ``RequestContext`` first, checks policy,
applies Cinder's rules and status transitions, and returns plain dicts with Cinder's API
field names (datetimes as ISO strings). Errors are ``ember.errors`` classes with one-line
messages; a refused request changes nothing in the catalogue.

Status changes are conditional UPDATEs (``ember.catalog.states``): of two processes
racing for one volume, exactly one gets it and the other a clear ``InvalidState``.

``Ember`` is composed of one part per concern (``docs/architecture.md`` lists them and
says where a new one goes). Nothing outside ``ember.service`` and ``ember.catalog``
writes catalogue rows.

Create, restore and delete each come in two public steps, so a caller (the HTTP API)
can answer at once and have the work run elsewhere:

* ``begin_create_backup``, ``begin_restore_backup``, ``begin_delete_backup`` check
  policy, quota and Cinder's rules, claim the rows in one transaction and return the
  ids. The calling process owns the claimed backup row (``owner_host``, ``owner_pid``)
  until it runs the work itself or a worker takes it over (``take_over``); crash
  repair leaves the row alone while its owner lives.
* ``run_create_backup``, ``run_restore_backup``, ``run_delete_backup`` (or
  ``run(ctx, operation, ids)``) work from the ids, reading everything else back from
  the catalogue, so they run in another thread, process or host. A run starts only
  when the row is still in its claimed status and owned by the calling process (a
  create also only once: recording its object prefix is one conditional UPDATE);
  otherwise it changes nothing and raises ``InvalidState``, so a refusal is always safe
  and an id delivered twice runs once.

An entry point never sequences the two steps itself: ``submit_create_backup``,
``submit_restore`` and ``submit_delete`` begin and hand the ids to the ``Dispatcher`` the
entry point chose (``ember.service.submit``, ``ember.service.dispatch``);
``create_backup``, ``restore_backup`` and ``delete_backup`` begin then run in the
foreground, as the CLI uses them.
"""

from __future__ import annotations

from functools import cached_property

from ember.service.backups import IN_USE_NEEDS_FORCE, NO_INCREMENTAL_PARENT, BackupCreateMixin
from ember.service.base import Progress, ServiceBase
from ember.service.handoff import HandoffMixin
from ember.service.policies import PoliciesMixin
from ember.service.scheduling import SchedulingMixin
from ember.service.monitoring import Monitoring
from ember.service.lifecycle import FORCE_DELETE_WAIT, HAS_DEPENDENTS, BackupLifecycleMixin
from ember.service.consolidate import ConsolidateMixin
from ember.service.prune import PruneMixin
from ember.service.queries import BackupQueriesMixin
from ember.service.quotas import QuotasMixin
from ember.service.export_import import RecordsMixin
from ember.service.recovery import RecoveryMixin
from ember.service.verify_scan import RepositoryMixin
from ember.service.restore import RestoreMixin
from ember.service.services import ServicesMixin
from ember.service import submit
from ember.service.volumes import VolumesMixin

__all__ = ["Ember", "Progress", "NO_INCREMENTAL_PARENT", "IN_USE_NEEDS_FORCE",
           "HAS_DEPENDENTS", "FORCE_DELETE_WAIT"]


class Ember(RecoveryMixin, VolumesMixin, BackupCreateMixin, BackupQueriesMixin, RestoreMixin,
            BackupLifecycleMixin, RecordsMixin, QuotasMixin, ServicesMixin, HandoffMixin,
            RepositoryMixin, PruneMixin, ConsolidateMixin, PoliciesMixin, SchedulingMixin,
            ServiceBase):
    """Backups, volumes and snapshots of one Ember installation."""

    def submit_create_backup(self, ctx, volume_ref, *, dispatcher, **options) -> dict:
        """Begin a backup and hand it to ``dispatcher``; returns the ``creating`` backup."""
        return submit.submit_create_backup(self, ctx, volume_ref, dispatcher=dispatcher,
                                           **options)

    def submit_restore(self, ctx, backup_ref, volume_ref=None, *, dispatcher, name=None,
                       force=False) -> dict:
        """Begin a restore and hand it to ``dispatcher``; returns what it began."""
        return submit.submit_restore(self, ctx, backup_ref, volume_ref,
                                     dispatcher=dispatcher, name=name, force=force)

    def submit_delete(self, ctx, ref, *, dispatcher, force=False) -> dict:
        """Begin a delete and hand it to ``dispatcher`` (unless the backup's own running
        process finishes it); returns what it began."""
        return submit.submit_delete(self, ctx, ref, dispatcher=dispatcher, force=force)

    @cached_property
    def monitoring(self) -> Monitoring:
        """Reads for ``GET /metrics`` and ``GET /dashboard`` (``ember.service.monitoring``)."""
        return Monitoring(self.catalog, self.policy, self.conf)
