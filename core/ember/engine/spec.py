"""What the engine is given and gives back: where a backup lives (``ChainMember``), what
to write (``BackupSpec``), and the results of a backup and a restore run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Protocol

from ember.engine.cbt import ChangedSet


class CancelToken(Protocol):
    """Asked between objects and inside large ones; raises ``ember.errors.Cancelled``
    (``BackupCancelled`` / ``RestoreCancelled``) when the operation must stop."""

    def raise_if_cancelled(self) -> None: ...


#: progress(done_bytes, total_bytes): called by the engine at a bounded rate (the one
#: declaration: the service, the progress reporter and verify take the same callback)
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ChainMember:
    """Where one backup lives in the repository (from the catalogue row)."""

    backup_id: str
    container: str
    prefix: str  # the row's service_metadata
    volume_id: Optional[str] = None  # the row's, checked against its _metadata
    size_limit: Optional[int] = None  # the most bytes the row allows its volume


@dataclass
class BackupSpec:
    """Everything the engine needs to write one backup."""

    backup_id: str
    volume_id: str
    source_path: str  # image file or block device, opened read-only
    container: str
    prefix: str
    created_at: str  # str() of the row's tz-aware UTC created_at, written into the docs
    name: Optional[str] = None
    description: Optional[str] = None
    parent: Optional[ChainMember] = None  # None: a full backup
    volume_meta: Optional[str] = None  # the JSON *string* stored as volume_meta
    #: an incremental reads only these ranges (``cbt``); None reads everything
    changed: Optional[ChangedSet] = None


@dataclass
class BackupResult:
    object_count: int  # data objects written (metadata and sha256file excluded)
    bytes_read: int  # bytes of the source backed up
    bytes_stored: int  # bytes of data objects put into the repository


@dataclass
class RestoreResult:
    bytes_written: int
    volume_meta: Optional[str]  # the newest member's volume_meta string
