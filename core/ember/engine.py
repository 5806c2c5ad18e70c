"""The backup pipeline and chain restore (API contract; implementation in progress).

The engine owns the repository format, the chain, progress and cancellation. It talks
to a driver by plain names only and never touches the catalogue: the service layer
hands it what it needs (ids, container, prefix, parent) and records what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Protocol, Sequence


class CancelToken(Protocol):
    """Asked between objects and inside large ones; raises ``ember.errors.Cancelled``
    (``BackupCancelled`` / ``RestoreCancelled``) when the operation must stop."""

    def raise_if_cancelled(self) -> None: ...


#: progress(done_bytes, total_bytes): called by the engine at a bounded rate
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ChainMember:
    """Where one backup lives in the repository (from the catalogue row)."""

    backup_id: str
    container: str
    prefix: str  # the row's service_metadata


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


@dataclass
class BackupResult:
    object_count: int  # data objects written (metadata and sha256file excluded)
    bytes_read: int  # bytes of the source backed up
    bytes_stored: int  # bytes of data objects put into the repository


@dataclass
class RestoreResult:
    bytes_written: int
    volume_meta: Optional[str]  # the newest member's volume_meta string


class Engine:
    """Backs up, restores and deletes backups through one driver."""

    def __init__(self, driver, conf):
        self.driver = driver
        self.conf = conf

    def backup(self, spec: BackupSpec, *, cancel: CancelToken | None = None,
               progress: Progress | None = None) -> BackupResult:
        """Write a full backup, or an incremental one against ``spec.parent``'s
        ``_sha256file``. Data objects first, then ``_sha256file``, then ``_metadata``.
        On cancellation or failure every object this call wrote is deleted again
        before the error propagates."""
        raise NotImplementedError

    def restore(self, chain: Sequence[ChainMember], target_path: str, *,
                target_is_new: bool, cancel: CancelToken | None = None,
                progress: Progress | None = None) -> RestoreResult:
        """Restore ``chain`` (oldest first: the full backup, then its incrementals up to
        the requested backup) onto ``target_path``. ``target_is_new`` means the target
        is freshly created and all zeros (zero runs may then be skipped)."""
        raise NotImplementedError

    def delete(self, container: str, prefix: str) -> int:
        """Delete every object of one backup (data, ``_metadata``, ``_sha256file``);
        returns how many were removed."""
        raise NotImplementedError
