"""Prune: apply retention rules (``ember.service.retention``) to volumes' backups.

The plan is made per volume from the catalogue; a real prune then deletes through the
ordinary delete (policy, status checks, objects then row), children before parents, one
backup at a time. Stopped at any point (Ctrl-C, a crash, a refusal), every backup left has
its whole chain: a parent is only deleted once its children are gone, and a delete that
is refused (a backup protected or taken meanwhile) leaves its ancestors alone because the
ordinary delete refuses a backup with dependents.
"""

from __future__ import annotations

import logging

from ember import errors
from ember import policy as rules
from ember.catalog.models import Backup, utcnow
from ember.config import one_line
from ember.service.base import Shared
from ember.service.retention import Point, Rules, deletion_order, newest_first, plan

LOG = logging.getLogger(__name__)


class Pruning:
    """``prune_backups``: the retention plan of volumes, shown or carried out."""

    def __init__(self, shared: Shared, lifecycle):
        self.shared = shared
        self.catalog, self.conf, self.policy = shared.catalog, shared.conf, shared.policy
        self.lifecycle = lifecycle

    def prune_backups(self, ctx, volumes=(), *, keep: Rules, dry_run: bool = False,
                      now=None) -> list[dict]:
        """Plan (and unless ``dry_run`` carry out) ``keep`` on the backups of each of
        ``volumes`` (names or ids; a volume that is gone is named by its id), or of every
        volume with backups in the caller's project when none is given. Returns one dict
        per backup: ``volume_id``, ``backup_id``, ``name``, ``data_timestamp``,
        ``is_incremental``, ``action`` (keep/delete; after a real prune deleted, kept, or
        failed) and ``reasons`` (a list of strings). ``now`` defaults to the clock."""
        self.policy.enforce(ctx, rules.GET_ALL)
        if keep.empty():
            raise errors.InvalidInput("No --keep-* rule given: prune would keep every backup; "
                                      "give at least one (for example --keep-last 3).")
        now = now or utcnow()
        rows = []
        for volume_id in self._prune_volumes(ctx, volumes):
            rows += self._prune_volume(ctx, volume_id, keep, now, dry_run)
        return rows

    def _prune_volumes(self, ctx, volumes) -> list[str]:
        stmt = self.shared.live(ctx, Backup, False)
        with self.catalog.session() as session:
            if not volumes:
                ids = session.scalars(stmt.with_only_columns(Backup.volume_id).distinct())
                return sorted(ids)
            found = []
            for ref in volumes:
                try:
                    found.append(self.shared.volume(session, ctx, ref).id)
                except errors.NotFound:
                    # backups may outlive their volume: its id still names them
                    if session.scalar(stmt.with_only_columns(Backup.id)
                                      .where(Backup.volume_id == str(ref)).limit(1)) is None:
                        raise
                    found.append(str(ref))
            return list(dict.fromkeys(found))

    def _prune_volume(self, ctx, volume_id, keep, now, dry_run) -> list[dict]:
        with self.catalog.session() as session:
            backups = session.scalars(self.shared.live(ctx, Backup, False).where(
                Backup.volume_id == volume_id).order_by(Backup.created_at, Backup.id)).all()
            points = [Point(b.id, b.parent_id, b.data_timestamp or b.created_at,
                            status=b.status, protected=bool(b.protected)) for b in backups]
            rows = {b.id: {"volume_id": volume_id, "backup_id": b.id, "name": b.display_name,
                           "data_timestamp": points[i].created_at.isoformat(),
                           "is_incremental": bool(b.parent_id)}
                    for i, b in enumerate(backups)}
        decisions = plan(points, keep, now)
        for decision in decisions:
            rows[decision.id].update(action=decision.action, reasons=list(decision.reasons))
        if not dry_run:
            for backup_id in deletion_order(decisions, points):
                rows[backup_id].update(self._prune_one(ctx, backup_id))
            for decision in decisions:
                if decision.keep:
                    rows[decision.id]["action"] = "kept"
        return [rows[p.id] for p in newest_first(points)]

    def _prune_one(self, ctx, backup_id) -> dict:
        """Delete one planned backup; a refusal is reported, not raised, and its
        ancestors stay (the ordinary delete refuses a parent with children)."""
        try:
            self.lifecycle.delete_backup(ctx, backup_id)
        except (errors.InvalidBackup, errors.InvalidState, errors.NotFound,
                errors.DriverError, errors.PolicyNotAuthorized) as exc:
            LOG.warning("Prune: backup %s was not deleted: %s", backup_id, one_line(exc))
            return {"action": "failed", "reasons": [one_line(exc)]}
        return {"action": "deleted"}
