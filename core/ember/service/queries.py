"""Reading backups: show, list (sorted and paged) and the chain a read needs, plus the
checks every reader shares (the configured driver can read it; its chain is whole).
"""

from __future__ import annotations

import sqlalchemy as sa

from ember import errors
from ember import policy as rules
from ember.catalog import views
from ember.catalog.models import Backup
from ember.catalog.states import (
    BackupStatus,
)
from ember.service.base import Shared, chain_member

_SORT_KEYS = {"created_at": Backup.created_at, "updated_at": Backup.updated_at,
              "name": Backup.display_name, "status": Backup.status, "size": Backup.size,
              "id": Backup.id, "data_timestamp": Backup.data_timestamp,
              "volume_id": Backup.volume_id}


def _sort_clauses(sort):
    """``"key[:asc|desc],..."`` → ORDER BY clauses (default ``created_at:desc``), with
    ``id`` last so pages are stable."""
    clauses = []
    for part in (sort or "created_at:desc").split(","):
        key, _, direction = part.strip().partition(":")
        direction = (direction or "desc").lower()
        if key not in _SORT_KEYS or direction not in ("asc", "desc"):
            raise errors.InvalidInput("Invalid sort '%s': use key[:asc|desc] with key one of "
                                      "%s." % (part, ", ".join(sorted(_SORT_KEYS))))
        column = _SORT_KEYS[key]
        clauses.append(column.asc() if direction == "asc" else column.desc())
    clauses.append(Backup.id.desc())
    return clauses


class BackupQueries:
    """Backup reads and the chain and driver checks restore and delete reuse."""

    def __init__(self, shared: Shared):
        self.shared = shared
        self.catalog, self.conf, self.policy = shared.catalog, shared.conf, shared.policy

    def get_backup_row(self, backup_id: str) -> dict:
        with self.catalog.session() as session:
            return views.backup_view(session.get(Backup, backup_id))

    def list_backups(self, ctx, *, name=None, status=None, volume=None, all_projects=False,
                     marker=None, limit=None, sort=None) -> list[dict]:
        """Live backups, newest first unless ``sort`` ("key[:asc|desc],...") says
        otherwise; ``marker`` = the id after which the page starts."""
        self.policy.enforce(ctx, rules.GET_ALL)
        stmt = self.shared.live(ctx, Backup, all_projects, name=name, status=status)
        with self.catalog.session() as session:
            if volume is not None:
                try:
                    volume_id = self.shared.volume(session, ctx, volume).id
                except errors.NotFound:
                    volume_id = str(volume)  # backups may outlive their volume
                stmt = stmt.where(Backup.volume_id == volume_id)
            stmt = stmt.order_by(*_sort_clauses(sort))
            # plain rows, not ORM objects: a page of 1,000 is read about twice as fast
            rows = session.execute(stmt.with_only_columns(*Backup.__table__.c)).all()
        if marker is not None:
            ids = [r.id for r in rows]
            if marker not in ids:
                raise errors.InvalidInput("Marker %s is not a backup in this listing." % marker)
            rows = rows[ids.index(marker) + 1:]
        if limit is not None:
            if int(limit) < 0:
                raise errors.InvalidInput("Limit must be zero or more, not %s." % limit)
            rows = rows[:int(limit)]
        return [views.backup_view(r) for r in rows]

    def get_backup(self, ctx, ref) -> dict:
        with self.catalog.session() as session:
            row = self.shared.backup(session, ctx, ref)
            self.policy.enforce(ctx, rules.GET, row.project_id)
            return views.backup_view(row)

    def backup_chain(self, ctx, ref, *, purpose: str = "read") -> list:
        """The chain that reading backup ``ref`` (id or name) needs: ``ChainMember``s,
        oldest (the full) first. Needs ``backup:get``. Refused: a backup being written or
        deleted (``InvalidState``, saying to ``purpose`` it once it is available), one the
        configured driver cannot read or whose chain is broken (``InvalidBackup``)."""
        with self.catalog.session() as session:
            row = self.shared.backup(session, ctx, ref)
            self.policy.enforce(ctx, rules.GET, row.project_id)
            if row.status in (BackupStatus.CREATING, BackupStatus.DELETING):
                raise errors.InvalidState('Backup %s is being %s; %s it once it is available '
                                          '(its status is "%s").'
                                          % (row.id, "written" if row.status ==
                                             BackupStatus.CREATING else "deleted", purpose,
                                             row.status))
            self.check_service(row)
            return self.chain(session, row)


    def check_service(self, backup: Backup) -> None:
        """Ember restores a posix-family backup with any posix-family driver (Cinder
        insists on the same driver); other services need their own driver."""
        from ember.loader import same_layout

        mine = self.shared.layout.cinder_service
        if backup.service and backup.service != mine:
            try:
                ok = same_layout(self.shared.conf, backup.service, mine)
            except errors.DriverNotFound:
                ok = False
            if not ok:
                raise errors.InvalidBackup(
                    "Backup %s was made by %s; the configured driver %s cannot read it "
                    "(set backup_driver to match)." % (backup.id, backup.service, mine))

    def chain(self, session, backup: Backup) -> list:
        """The restore chain from the catalogue's parent ids, oldest (the full) first."""
        chain, row, seen = [], backup, set()
        while True:
            if row.id in seen:
                raise errors.InvalidBackup("Backup %s has a parent cycle." % backup.id)
            seen.add(row.id)
            if not row.container or not row.service_metadata:
                raise errors.InvalidBackup("Backup %s records no container or object prefix; "
                                           "it cannot be read." % row.id)
            chain.append(chain_member(row))
            if not row.parent_id:
                return chain[::-1]
            parent = session.scalar(sa.select(Backup).where(Backup.id == row.parent_id,
                                                            Backup.deleted.is_(False)))
            if parent is None:
                raise errors.InvalidBackup("Backup %s needs its parent %s, which is not in the "
                                           "catalogue; import that record first."
                                           % (row.id, row.parent_id))
            if parent.project_id != row.project_id:
                raise errors.InvalidBackup("Backup %s names as its parent %s, a backup of "
                                           "another project; a chain cannot cross projects."
                                           % (row.id, parent.id))
            row = parent
