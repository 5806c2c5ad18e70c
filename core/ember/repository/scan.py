"""``backup record scan``: rebuild catalogue rows from the repository itself.

Cinder's weak point is that losing the database loses the backups: the repository
holds the data but nothing points at it. Every backup's ``_metadata`` (ids, parent id,
names, creation time, object list; its objects give the volume's size) holds
enough to recreate its row, so a scan finds each ``<prefix>_metadata`` in the configured
repository and imports the backups the catalogue does not know:

* posix family (posix, nfs, glusterfs): every container (directory) under the driver's
  ``base_path``, or just ``--container``;
* object stores (swift, gcs, s3): the configured container/bucket, or ``--container``.

A row gets: id, volume id, name, description, parent id, ``created_at`` and
``data_timestamp`` (the metadata's creation time; Cinder sets both alike for a volume
backup), the byte size of the full backup's data and that size in GiB (rounded up), ``object_count``, container and prefix (``service_metadata``), the
configured driver's service, the caller's project, status ``available``. Parents are
imported before their children and ``num_dependent_backups`` is recounted for every
parent touched. Backups written by Cinder are found the same way (same format).

A ``_metadata`` without its ``_sha256file``, one that does not parse or whose entries
leave the volume, one that is not a regular file (a FIFO, a symbolic link), a parent of
another volume or project, and objects another live row owns are skipped and reported
by name; a backup still being written has no ``_metadata`` yet (it is written
last), so it is never imported half-made.
"""

from __future__ import annotations

import datetime
import math
import os
import re
from dataclasses import dataclass, field

import sqlalchemy as sa

from ember import errors
from ember import policy as rules
from ember.catalog import tenancy
from ember.catalog.models import Backup
from ember.catalog.states import BackupStatus
from ember.config import one_line
from ember.driver import POSIX_PREFIX
from ember.engine import format as fmt
from ember.engine import plan

GiB = 1 << 30
METADATA_SUFFIX = "_metadata"
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
#: the prefixes of spec §1.2: posix ``volume_<vol>_<ts>_backup_<id>`` and object store
#: ``volume_<vol>/<ts>/az_<az>_backup_<id>``
PREFIX_RE = re.compile(r"^(?:.*/)?volume_(%s)[_/](\d{14})[_/](?:az_.*_)?backup_(%s)$"
                       % (_UUID, _UUID))

#: the largest ``_metadata`` a scan reads (no catalogue row bounds it yet): about
#: 200,000 objects
METADATA_LIMIT = 64 << 20

IMPORTED, WOULD_IMPORT, SKIPPED = "imported", "would import", "skipped"


@dataclass
class Found:
    """One backup found in the repository, and what the scan did with it."""

    backup_id: str
    container: str
    prefix: str
    volume_id: str | None = None
    parent_id: str | None = None
    name: str | None = None
    description: str | None = None
    created_at: datetime.datetime | None = None
    size: int | None = None  # GiB
    size_bytes: int | None = None
    object_count: int = 0
    action: str = SKIPPED
    note: str = ""
    children: list = field(default_factory=list)
    metadata: fmt.BackupMetadata | None = None

    def view(self) -> dict:
        return {"id": self.backup_id, "name": self.name, "volume_id": self.volume_id,
                "parent_id": self.parent_id, "container": self.container,
                "created_at": self.created_at.isoformat() if self.created_at else None,
                "size": self.size, "object_count": self.object_count,
                "action": self.action, "note": self.note}


def scan_repository(service, ctx, *, container: str | None = None,
                    dry_run: bool = False) -> list[dict]:
    """Import every backup of the repository the catalogue does not know (admin:
    policy ``backup:backup-import``). Returns one dict per backup found, parents
    first, with ``action`` ``imported``, ``would import`` (``dry_run``) or ``skipped``
    and a ``note`` saying why. With ``dry_run`` nothing is written."""
    service.policy.enforce(ctx, rules.IMPORT)
    driver = service.driver
    found = [_read(driver, c, p) for c, p in _metadata_objects(driver, container)]
    with service.catalog.session() as session:
        known = {row.id: row for row in session.scalars(sa.select(Backup).where(
            Backup.id.in_({i for f in found for i in (f.backup_id, f.parent_id) if i})
        )).all()} if found else {}
    ordered = _parents_first(found)
    by_id = {f.backup_id: f for f in found}
    for item in ordered:
        if item.action == SKIPPED and item.note:
            continue  # unreadable
        row = known.get(item.backup_id)
        if row is not None and not row.deleted:
            item.note = "already in the catalogue (%s)" % row.status
            continue
        _inherit_size(item, by_id, known)
        refusal = _refusal(service, ctx, item, by_id, known)
        if refusal:
            item.note = refusal
            continue
        if item.parent_id and item.parent_id not in by_id and item.parent_id not in known:
            item.note = "its parent %s is in neither the repository nor the catalogue" \
                        % item.parent_id
        item.action = WOULD_IMPORT
    if dry_run:
        return [f.view() for f in ordered]
    for item in ordered:
        if item.action == WOULD_IMPORT:
            _insert(service, ctx, item)
    _recount_dependents(service, {i for f in ordered if f.action == IMPORTED
                                  for i in (f.parent_id, f.backup_id) if i})
    return [f.view() for f in ordered]


# --- finding the documents --------------------------------------------------------------
def _metadata_objects(driver, container: str | None):
    """(container, prefix) of every ``_metadata`` object in the repository, sorted."""
    base = getattr(driver, "base_path", None)
    if driver.capabilities.prefix_style == POSIX_PREFIX and base:
        return sorted(_walk_posix(driver, base, container))
    if container is None:
        container = driver.default_container("")
    return sorted((container, name[:-len(METADATA_SUFFIX)])
                  for name in driver.list_objects(container, "volume_")
                  if _is_metadata(name))


def _walk_posix(driver, base: str, container: str | None):
    top = base if container is None else driver.container_path(container)
    if not os.path.isdir(top):
        raise errors.ContainerNotFound("%s: container %s does not exist; check --container "
                                       "and the repository path"
                                       % (driver.describe(), container or "(base)"))
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        rel = os.path.relpath(dirpath, base)
        for name in filenames:
            if _is_metadata(name) and rel != ".":
                yield rel.replace(os.sep, "/"), name[:-len(METADATA_SUFFIX)]


def _is_metadata(name: str) -> bool:
    return name.endswith(METADATA_SUFFIX) and bool(
        PREFIX_RE.match(name[:-len(METADATA_SUFFIX)]))


# --- reading one backup ---------------------------------------------------------------
def _read(driver, container: str, prefix: str) -> Found:
    backup_id = PREFIX_RE.match(prefix).group(3)
    item = Found(backup_id=backup_id, container=container, prefix=prefix)
    md_name, sha_name = fmt.metadata_name(prefix), fmt.sha256file_name(prefix)
    try:
        md = fmt.parse_metadata(plan.read_document(driver, container, md_name,
                                                   METADATA_LIMIT, backup_id),
                                backup_id, md_name)
        if sha_name not in driver.list_objects(container, sha_name):
            item.note = "%s is missing; the backup is incomplete" % sha_name
            return item
        if md.backup_id != backup_id:
            item.note = "its _metadata names backup %s, not the %s of its prefix" % (
                md.backup_id, backup_id)
            return item
        if not md.parent_id:  # a full backup's objects are the whole volume
            item.size_bytes = plan.full_size(backup_id, md, plan.MAX_VOLUME)
            plan.check_entries(backup_id, md, item.size_bytes, full=True)
    except (errors.InvalidBackup, errors.DriverError) as exc:
        item.note = one_line(exc)
        return item
    item.metadata = md
    item.volume_id, item.parent_id = md.volume_id, md.parent_id or None
    item.name, item.description = md.backup_name, md.backup_description
    item.created_at = _parse_time(md.created_at) or _prefix_time(prefix)
    item.object_count = len(md.objects)
    return item


def _parse_time(text) -> datetime.datetime | None:
    """``str(created_at)`` as Cinder and Ember write it → naive UTC."""
    if not isinstance(text, str) or not text:
        return None
    try:
        value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return value


def _prefix_time(prefix: str) -> datetime.datetime | None:
    return datetime.datetime.strptime(PREFIX_RE.match(prefix).group(2), "%Y%m%d%H%M%S")


def _parents_first(found: list[Found]) -> list[Found]:
    """Depth-first from the roots (backups whose parent was not found), each level in
    creation order, so every parent comes before its children."""
    by_id = {f.backup_id: f for f in found}
    roots = []
    for item in found:
        parent = by_id.get(item.parent_id) if item.parent_id else None
        (parent.children if parent is not None else roots).append(item)
    order, seen = [], set()

    def key(f):
        return (f.created_at or datetime.datetime.min, f.backup_id)

    stack = sorted(roots, key=key, reverse=True)
    while stack:
        item = stack.pop()
        if item.backup_id in seen:
            continue
        seen.add(item.backup_id)
        order.append(item)
        stack.extend(sorted(item.children, key=key, reverse=True))
    for item in found:  # a parent cycle is never reached from a root
        if item.backup_id not in seen:
            item.note = "its parent chain is a cycle"
            order.append(item)
    return order


def _refusal(service, ctx, item: Found, by_id: dict, known: dict) -> str:
    """Why ``item`` must not be imported ("" when it may): its entries outside its
    volume, another volume's or another project's parent, or objects another live row
    already owns."""
    parent = by_id.get(item.parent_id) or known.get(item.parent_id)
    if parent is not None and parent.volume_id != item.volume_id:
        return "its parent %s is a backup of another volume" % item.parent_id
    if item.parent_id:
        limit = item.size_bytes or plan.MAX_VOLUME
        try:
            plan.check_entries(item.backup_id, item.metadata, limit, full=False)
        except errors.InvalidBackup as exc:
            return one_line(exc)
        if item.size_bytes is None:  # its full is unknown: at least what it wrote
            item.size_bytes = max((o.end for o in item.metadata.objects), default=0) or None
    item.size = max(1, math.ceil((item.size_bytes or 0) / GiB))
    with service.catalog.session() as session:
        try:
            tenancy.refuse_cross_project_chain(session, item.backup_id, item.parent_id,
                                               ctx.project_id)
            tenancy.refuse_shared_objects(session, item.backup_id, item.container,
                                          item.prefix)
        except errors.InvalidInput as exc:
            return one_line(exc).replace("Invalid backup record: ", "")
    return ""


def _inherit_size(item: Found, by_id: dict, known: dict) -> None:
    """An incremental restores to its full backup's size: take it from the chain."""
    parent_id, hops = item.parent_id, 0
    while item.size_bytes is None and parent_id and hops < 10000:
        parent = by_id.get(parent_id)
        if parent is not None:
            item.size_bytes, parent_id = parent.size_bytes, parent.parent_id
        elif parent_id in known:
            item.size_bytes, parent_id = known[parent_id].size_bytes, None
        else:
            parent_id = None
        hops += 1


# --- writing rows -----------------------------------------------------------------------
def _insert(service, ctx, item: Found) -> None:
    conf, driver = service.conf, service.driver
    with service.catalog.session() as session:
        old = session.get(Backup, item.backup_id)
        if old is not None:
            if not old.deleted:  # imported meanwhile by someone else
                item.note = "already in the catalogue (%s)" % old.status
                item.action = SKIPPED
                return
            session.delete(old)  # a deleted row is revived, as import-record does
            session.flush()
        session.add(Backup(
            id=item.backup_id, user_id=ctx.user_id, project_id=ctx.project_id,
            volume_id=item.volume_id, host=conf.host,
            availability_zone=conf.storage_availability_zone,
            display_name=item.name, display_description=item.description,
            container=item.container, service_metadata=item.prefix,
            service=driver.cinder_service, parent_id=item.parent_id,
            status=BackupStatus.AVAILABLE, size=item.size, size_bytes=item.size_bytes,
            object_count=item.object_count, num_dependent_backups=0,
            created_at=item.created_at, data_timestamp=item.created_at, properties={}))
    item.action = IMPORTED


def _recount_dependents(service, backup_ids: set) -> None:
    """num_dependent_backups of each row touched = its live children, counted afresh."""
    if not backup_ids:
        return
    with service.catalog.session() as session:
        for backup_id in sorted(backup_ids):
            tenancy.count_dependents(session, backup_id)
