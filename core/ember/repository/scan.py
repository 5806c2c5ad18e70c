"""``backup record scan``: rebuild catalogue rows from the repository itself.

Cinder's weak point is that losing the database loses the backups: the repository
holds the data but nothing points at it. Every backup's ``_metadata`` (ids, parent id,
names, creation time, object list; its objects give the volume's size) holds
enough to recreate its row, so a scan finds each ``<prefix>_metadata`` in the configured
repository, and the service (``Ember.scan_repository``) imports the backups the
catalogue does not know. It looks in

every container the driver lists (``list_containers``: the posix family's directories
under its base path, an object store's configured container or bucket), or just
``--container`` (and the containers under it).

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
import re
from dataclasses import dataclass, field

from ember import errors
from ember.config import one_line
from ember.engine import format as fmt
from ember.engine import plan

GiB = 1 << 30
METADATA_SUFFIX = "_metadata"
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
#: the prefixes of ``docs/format.md`` (Names by layout family): posix
#: ``volume_<vol>_<ts>_backup_<id>`` and object store ``volume_<vol>/<ts>/az_<az>_backup_<id>``
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


def find_backups(driver, container: str | None = None) -> list[Found]:
    """Every backup whose ``_metadata`` is in the repository (or in ``container``),
    read and checked, parents before their children. Unreadable ones have a ``note``
    saying why. Reads only, through the driver contract."""
    return _parents_first([_read(driver, c, p) for c, p in _metadata_objects(driver, container)])


def plan_imports(found: list[Found], known: dict, refusal) -> None:
    """Mark each readable backup the catalogue does not know as ``would import``, or
    say why not. ``known``: the catalogue's rows by id (found backups and their
    parents, deleted ones included); ``refusal(item, by_id, known)``: why the catalogue
    must not take ``item`` ("" when it may)."""
    by_id = {f.backup_id: f for f in found}
    for item in found:
        if item.action == SKIPPED and item.note:
            continue  # unreadable
        row = known.get(item.backup_id)
        if row is not None and not row.deleted:
            item.note = "already in the catalogue (%s)" % row.status
            continue
        _inherit_size(item, by_id, known)
        reason = refusal(item, by_id, known)
        if reason:
            item.note = reason
            continue
        if item.parent_id and item.parent_id not in by_id and item.parent_id not in known:
            item.note = "its parent %s is in neither the repository nor the catalogue" \
                        % item.parent_id
        item.action = WOULD_IMPORT


def entries_refusal(item: Found) -> str:
    """Why an incremental's entries make it unimportable ("" when they are fine); sets
    its size from what it wrote when its full backup is unknown."""
    if item.parent_id:
        limit = item.size_bytes or plan.MAX_VOLUME
        try:
            plan.check_entries(item.backup_id, item.metadata, limit, full=False)
        except errors.InvalidBackup as exc:
            return one_line(exc)
        if item.size_bytes is None:  # its full is unknown: at least what it wrote
            item.size_bytes = max((o.end for o in item.metadata.objects), default=0) or None
    item.size = max(1, math.ceil((item.size_bytes or 0) / GiB))
    return ""


# --- finding the documents --------------------------------------------------------------
def _metadata_objects(driver, container: str | None):
    """(container, prefix) of every ``_metadata`` object in the repository (or in
    ``container`` and the containers under it), sorted; through the driver contract
    only (``list_containers``, ``list_objects``)."""
    return sorted((c, name[:-len(METADATA_SUFFIX)])
                  for c in _containers(driver, container)
                  for name in driver.list_objects(c, "volume_") if _is_metadata(name))


def _containers(driver, container: str | None) -> list[str]:
    listed = list(driver.list_containers())
    if container is None:
        return listed
    top = container.rstrip("/")
    under = [c for c in listed if c == top or c.startswith(top + "/")]
    if under:
        return under
    if any(True for _ in driver.list_objects(container)):
        return [container]
    raise errors.ContainerNotFound("%s: container %s does not exist or holds nothing; check "
                                   "--container and the repository path"
                                   % (driver.describe(), container))


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
