"""A repository's layout: how a backend names and sizes what the engine writes.

Restic keeps its backends' directory layouts apart from their I/O
(``internal/backend/layout``); Ember does the same. A driver moves named objects in and
out of containers (``ember.driver``); its ``Layout`` says which names and sizes: the
default container, the object-name prefix, the object and SHA block sizes, the
progress-timer flag, the Cinder class recorded as a backup's ``service``, the family
whose drivers read each other's backups, and the retries the loader wraps it in. It is
Cinder's per-driver policy, as data, resolved once from the plugin's options.

A plugin declares it beside its driver: the class its entry point names has a
``layout(conf)`` class method returning one (``ember.loader.load_layout`` calls it;
``ember.wrappers.layout_of`` finds it for a driver already made). See
``docs/driver-authors.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ember import naming
from ember.errors import ConfigError

#: ``volume_<vol>_<TS>_backup_<id>`` (Cinder's posix family)
POSIX_PREFIX = "posix"
#: ``volume_<vol>/<TS>/az_<AZ>_backup_<id>`` (Cinder's object stores)
OBJECT_STORE_PREFIX = "object_store"


@dataclass(frozen=True)
class RetryPolicy:
    """How ``ember.loader.load_driver`` wraps a driver in ``ember.wrappers.RetryingDriver``
    (drivers with Cinder retry options, e.g. swift's, derive it from them)."""

    #: tries in total, the first included; 1 means no retry wrapper
    attempts: int = 3
    #: seconds before the first retry, doubled before each further one
    backoff: float = 1.0


@dataclass(frozen=True)
class Layout:
    """Names and sizes of one driver's repository, as Cinder's driver of that kind
    computes them (``docs/format.md``, "Names by layout family")."""

    #: Cinder's class path for this kind of driver, recorded as the backup's ``service``
    cinder_service: str
    #: bytes of volume per full-backup object (Cinder: ``backup_file_size`` and kin)
    object_size: int
    #: bytes per SHA-256 block (Cinder: ``backup_sha_block_size_bytes`` and kin)
    sha_block_size: int
    #: the driver's own ``backup_*_enable_progress_timer`` option
    progress_timer: bool = True
    #: ``POSIX_PREFIX`` or ``OBJECT_STORE_PREFIX``
    prefix_style: str = POSIX_PREFIX
    #: drivers declaring the same family share one repository layout, so a backup
    #: written through one restores and deletes through another ("posix": a directory
    #: tree under a base path, as posix, nfs and glusterfs write it); "" = only itself
    family: str = ""
    #: the container used when the user names none; None: one per backup,
    #: ``id[0:2]/id[2:4]/id`` (the posix family)
    container: Optional[str] = None
    #: when ``container`` is "" and this is set, asking for the default container
    #: raises ``ConfigError`` with this message (gcs: the bucket must be configured)
    container_unset: str = ""
    #: the ``az_<AZ>`` part of an object-store prefix (``storage_availability_zone``)
    availability_zone: str = ""
    #: retries of ``TransientDriverError`` the loader applies to the driver
    retry: RetryPolicy = RetryPolicy()

    def default_container(self, backup_id: str) -> str:
        """Container used when the user names none."""
        if self.container is None:
            return naming.posix_container(backup_id)
        if not self.container and self.container_unset:
            raise ConfigError(self.container_unset)
        return self.container

    def object_prefix(self, volume_id: str, backup_id: str, timestamp: str) -> str:
        """The backup's object-name prefix (stored as ``service_metadata``)."""
        if self.prefix_style == POSIX_PREFIX:
            return naming.posix_prefix(volume_id, timestamp, backup_id)
        return naming.object_store_prefix(volume_id, timestamp, self.availability_zone,
                                          backup_id)


def posix_family(conf, cinder_service: str, *, family: str = "posix",
                 retry: RetryPolicy = RetryPolicy()) -> Layout:
    """The layout Cinder's posix, nfs and glusterfs drivers share: one directory per
    backup, ``volume_<vol>_<TS>_backup_<id>`` prefixes, Ember's core size options."""
    return Layout(cinder_service=cinder_service, object_size=conf.backup_file_size,
                  sha_block_size=conf.backup_sha_block_size_bytes,
                  progress_timer=conf.backup_enable_progress_timer,
                  prefix_style=POSIX_PREFIX, family=family, retry=retry)
