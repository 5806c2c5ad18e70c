"""Who owns what in a shared repository: every object belongs to exactly one live backup,
a container holding one project's backups is not written by another, and a chain never
crosses projects.

A backup's objects are the names in its container that start with its prefix
(``service_metadata``): two live rows own the same objects when their containers are
equal and one prefix starts with the other. These checks run before a row is added
(import, scan, create) and before objects are deleted.
"""

from __future__ import annotations

import sqlalchemy as sa

from ember import errors
from ember.catalog.models import Backup
from ember.catalog.states import BackupStatus


def _live():
    return sa.and_(Backup.deleted.is_(False), Backup.status != BackupStatus.DELETED)


def sharing_rows(session, container: str, prefix: str, exclude: str | None = None) -> list:
    """Live rows other than ``exclude`` whose objects overlap those of
    (``container``, ``prefix``)."""
    if not container or not prefix:
        return []
    rows = session.scalars(sa.select(Backup).where(
        _live(), Backup.container == container, Backup.id != (exclude or ""))).all()
    return [r for r in rows if r.service_metadata
            and (r.service_metadata.startswith(prefix) or prefix.startswith(r.service_metadata))]


def refuse_shared_objects(session, backup_id: str, container: str, prefix: str) -> None:
    """InvalidInput when another live row already owns the objects of a new row."""
    owners = sharing_rows(session, container, prefix, exclude=backup_id)
    if owners:
        raise errors.InvalidInput(
            "Invalid backup record: its objects (container %s, prefix %s) belong to backup "
            "%s; a backup's objects can have only one owner." % (container, prefix,
                                                                 owners[0].id))


def refuse_foreign_container(session, container: str, project_id: str) -> None:
    """InvalidInput when ``container`` holds live backups of another project."""
    other = session.scalar(sa.select(Backup.id).where(
        _live(), Backup.container == container, Backup.project_id != project_id).limit(1))
    if other is not None:
        raise errors.InvalidInput("Container %s holds backups of another project; choose "
                                  "another container." % container)


def refuse_cross_project_chain(session, backup_id: str, parent_id: str | None,
                               project_id: str) -> None:
    """InvalidInput when the new row's parent, or a live row naming it as its parent,
    belongs to another project."""
    if parent_id:
        owner = session.scalar(sa.select(Backup.project_id).where(_live(),
                                                                  Backup.id == parent_id))
        if owner is not None and owner != project_id:
            raise errors.InvalidInput("Invalid backup record: its parent %s belongs to another "
                                      "project; a chain cannot cross projects." % parent_id)
    child = session.scalar(sa.select(Backup.id).where(
        _live(), Backup.parent_id == backup_id, Backup.project_id != project_id).limit(1))
    if child is not None:
        raise errors.InvalidInput("Invalid backup record: backup %s of another project names "
                                  "it as its parent; a chain cannot cross projects." % child)


def ancestors(session, row: Backup) -> set:
    """Ids of the row's parents up the chain (stops at a cycle or a missing parent)."""
    seen, parent_id = set(), row.parent_id
    while parent_id and parent_id not in seen and parent_id != row.id:
        seen.add(parent_id)
        parent_id = session.scalar(sa.select(Backup.parent_id).where(Backup.id == parent_id))
    return seen


def dependents(session, row: Backup) -> list:
    """Ids of the live incrementals that need ``row``: its children of the same project,
    except those that are also its ancestors (a parent cycle, which nothing can restore)."""
    children = session.scalars(sa.select(Backup.id).where(
        _live(), Backup.parent_id == row.id, Backup.project_id == row.project_id,
        Backup.id != row.id)).all()
    if not children:
        return []
    up = ancestors(session, row)
    return [c for c in children if c not in up]


def count_dependents(session, backup_id: str) -> None:
    """Set ``num_dependent_backups`` of ``backup_id`` to its live children, counted."""
    count = session.scalar(sa.select(sa.func.count()).select_from(Backup).where(
        _live(), Backup.parent_id == backup_id, Backup.id != backup_id))
    session.execute(sa.update(Backup).where(Backup.id == backup_id)
                    .values(num_dependent_backups=count),
                    execution_options={"synchronize_session": False})
