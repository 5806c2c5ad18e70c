"""Quotas with Cinder's semantics: per-project limits over class defaults over the
configured defaults, shown, updated and reset as by Cinder's ``os-quota-sets``, and every
limit shown enforced: ``backups`` / ``backup_gigabytes`` when a backup is created or
imported, ``volumes`` / ``snapshots`` / ``gigabytes`` when a volume (a restore's new one
too) or a snapshot is created.

Enforcement takes a row lock on the project's ``quota_usages`` rows, then counts the
live rows, then inserts: two concurrent creates of one project are serialised there,
so they cannot both slip under a limit. Usage is counted from the backups themselves,
so nothing has to be given back when a backup fails or is deleted.
"""

from __future__ import annotations

import sqlalchemy as sa

from ember import errors
from ember import policy as rules
from ember.catalog.models import Backup, Quota, QuotaClass, QuotaUsage, Snapshot, Volume
from ember.service.base import Shared

#: Cinder's quota resources and defaults (``groups`` and ``per_volume_gigabytes`` are
#: shown only: Ember has no groups, and a volume's size is its own)
CINDER_DEFAULTS = {"volumes": 10, "snapshots": 10, "gigabytes": 1000,
                   "per_volume_gigabytes": -1, "groups": 10}
BACKUP_RESOURCES = ("backups", "backup_gigabytes")
MAX_LIMIT = 2 ** 31 - 1


class Quotas:
    """Quota sets (show, defaults, update, delete) and the backup quota check."""

    def __init__(self, shared: Shared):
        self.shared = shared
        self.catalog, self.conf, self.policy = shared.catalog, shared.conf, shared.policy

    def quota_defaults(self, ctx, project_id: str) -> dict:
        self.policy.enforce(ctx, rules.QUOTA_SHOW, project_id)
        with self.catalog.session() as session:
            return self._defaults(session)

    def get_quotas(self, ctx, project_id: str, *, usage: bool = False) -> dict:
        """``{resource: limit}``, or with ``usage`` ``{resource: {limit, in_use,
        reserved}}`` as Cinder's ``?usage=True``."""
        self.policy.enforce(ctx, rules.QUOTA_SHOW, project_id)
        with self.catalog.session() as session:
            limits = self._limits(session, project_id)
            if not usage:
                return limits
            used = self._usage(session, project_id)
        return {key: {"limit": limit, "in_use": used.get(key, 0), "reserved": 0}
                for key, limit in limits.items()}

    def update_quotas(self, ctx, project_id: str, values: dict) -> dict:
        """Set project limits (admin). Each value is an integer from -1 (unlimited) up;
        a limit below what the project already uses is refused, as by Cinder."""
        self.policy.enforce(ctx, rules.QUOTA_UPDATE, project_id)
        if not project_id or len(project_id) > 255:
            raise errors.InvalidInput("Invalid project id: give 1 to 255 characters.")
        known = tuple(CINDER_DEFAULTS) + BACKUP_RESOURCES
        for key, value in values.items():
            if key not in known:
                raise errors.InvalidInput("Bad key(s) in quota set: %s (known: %s)."
                                          % (key, ", ".join(sorted(known))))
            if isinstance(value, bool) or not isinstance(value, int) or not (
                    -1 <= value <= MAX_LIMIT):
                raise errors.InvalidInput("Quota limit %r for %s must be an integer from -1 "
                                          "to %d." % (value, key, MAX_LIMIT))
        with self.catalog.session() as session:
            used = self._usage(session, project_id)
            for key, value in values.items():
                if key != "per_volume_gigabytes" and value != -1 and value < used.get(key, 0):
                    raise errors.InvalidInput(
                        "Quota %s limit must be equal or greater than existing resources. "
                        "Current usage is %s and the requested limit is %s."
                        % (key, used.get(key, 0), value))
            for key, value in values.items():
                row = session.scalar(sa.select(Quota).where(
                    Quota.project_id == project_id, Quota.resource == key,
                    Quota.deleted.is_(False)))
                if row is None:
                    session.add(Quota(project_id=project_id, resource=key, hard_limit=value))
                else:
                    row.hard_limit = value
            session.flush()
            return self._limits(session, project_id)

    def delete_quotas(self, ctx, project_id: str) -> None:
        """Back to the defaults (admin)."""
        self.policy.enforce(ctx, rules.QUOTA_DELETE, project_id)
        with self.catalog.session() as session:
            session.execute(sa.delete(Quota).where(Quota.project_id == project_id))

    # --- enforcement ----------------------------------------------------------------------
    def reserve_backup(self, session, project_id: str, gigabytes: int) -> None:
        """Within the transaction that inserts a new backup of ``gigabytes``: raise
        ``QuotaExceeded`` (Cinder's message) if it would pass a limit of the project."""
        self._lock_usage(session, project_id)
        limits = self._limits(session, project_id)
        count, total = session.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(Backup.size), 0))
            .where(Backup.project_id == project_id, Backup.deleted.is_(False))).one()
        allowed = limits["backups"]
        if allowed >= 0 and count + 1 > allowed:
            raise errors.QuotaExceeded("Maximum number of backups allowed (%d) exceeded"
                                       % allowed)
        quota = limits["backup_gigabytes"]
        if quota >= 0 and total + gigabytes > quota:
            raise errors.QuotaExceeded(
                "Requested backup exceeds allowed Backup gigabytes quota. Requested %sG, "
                "quota is %sG and %sG has been consumed." % (gigabytes, quota, total))
        for resource, in_use in (("backups", count + 1), ("backup_gigabytes",
                                                          total + gigabytes)):
            session.execute(sa.update(QuotaUsage).where(
                QuotaUsage.project_id == project_id, QuotaUsage.resource == resource)
                .values(in_use=in_use))

    def reserve_volume(self, session, project_id: str, gigabytes: int, *,
                       snapshot: bool = False) -> None:
        """Within the transaction that inserts a new volume (a restore's new target
        included) or, with ``snapshot``, a snapshot of ``gigabytes``: raise
        ``QuotaExceeded`` (Cinder's messages, its 413 overLimit) if it would pass the
        project's ``volumes``/``snapshots`` or ``gigabytes`` limit (volumes and
        snapshots count there, as in Cinder)."""
        self._lock_usage(session, project_id)
        limits = self._limits(session, project_id)
        used = self._usage(session, project_id)
        kind = "snapshots" if snapshot else "volumes"
        allowed = limits[kind]
        if allowed >= 0 and used[kind] + 1 > allowed:
            raise errors.QuotaExceeded("Maximum number of %s allowed (%d) exceeded for quota "
                                       "'%s'." % (kind, allowed, kind))
        quota = limits["gigabytes"]
        if quota >= 0 and used["gigabytes"] + gigabytes > quota:
            raise errors.QuotaExceeded(
                "Requested volume or snapshot exceeds allowed gigabytes quota. Requested "
                "%sG, quota is %sG and %sG has been consumed."
                % (gigabytes, quota, used["gigabytes"]))

    @staticmethod
    def _lock_usage(session, project_id: str) -> None:
        """The project's usage rows locked: every create that counts against a quota
        takes them, so two of one project are serialised and cannot both pass."""
        for resource in BACKUP_RESOURCES:
            where = (QuotaUsage.project_id == project_id, QuotaUsage.resource == resource)
            if session.scalar(sa.select(QuotaUsage.id).where(*where).with_for_update()):
                continue
            try:  # first backup of the project: make its row (a racing twin may win)
                with session.begin_nested():
                    session.add(QuotaUsage(project_id=project_id, resource=resource,
                                           in_use=0, reserved=0))
            except sa.exc.IntegrityError:
                pass
            session.scalar(sa.select(QuotaUsage.id).where(*where).with_for_update())

    # --- lookups --------------------------------------------------------------------------
    def _defaults(self, session) -> dict:
        values = dict(CINDER_DEFAULTS, volumes=self.conf.quota_volumes,
                      snapshots=self.conf.quota_snapshots,
                      gigabytes=self.conf.quota_gigabytes, backups=self.conf.quota_backups,
                      backup_gigabytes=self.conf.quota_backup_gigabytes)
        for row in session.scalars(sa.select(QuotaClass).where(
                QuotaClass.class_name == "default", QuotaClass.deleted.is_(False))):
            if row.resource in values and row.hard_limit is not None:
                values[row.resource] = row.hard_limit
        return values

    def _limits(self, session, project_id: str) -> dict:
        values = self._defaults(session)
        for row in session.scalars(sa.select(Quota).where(
                Quota.project_id == project_id, Quota.deleted.is_(False))):
            if row.resource in values and row.hard_limit is not None:
                values[row.resource] = row.hard_limit
        return values

    @staticmethod
    def _usage(session, project_id: str) -> dict:
        def count_and_size(model):
            return session.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(model.size), 0))
                .where(model.project_id == project_id, model.deleted.is_(False))).one()

        backups, backup_gb = count_and_size(Backup)
        volumes, volume_gb = count_and_size(Volume)
        snapshots, snapshot_gb = count_and_size(Snapshot)
        return {"backups": backups, "backup_gigabytes": backup_gb, "volumes": volumes,
                "snapshots": snapshots, "gigabytes": volume_gb + snapshot_gb}
