"""``Ember``, the service facade: one class composed of the parts in this package
(:mod:`ember.service` says what it promises)."""

from __future__ import annotations

from functools import cached_property

from ember.service.backups import BackupCreateMixin
from ember.service.base import ServiceBase
from ember.service.handoff import HandoffMixin
from ember.service.policies import PoliciesMixin
from ember.service.scheduling import SchedulingMixin
from ember.service.monitoring import Monitoring
from ember.service.lifecycle import BackupLifecycleMixin
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
