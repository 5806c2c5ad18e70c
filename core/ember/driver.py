"""The driver contract: what every repository backend implements.

A driver stores and fetches named objects in containers. It never sees a backup
record, compression, hashing or the repository format: the engine owns those.
Keys are plain strings; data is bytes.

Guarantees every driver gives (checked by ``ember.testing.conformance``):

* **Atomic put.** After ``put_object`` returns, the whole object is readable; before
  it returns, or if it raised, readers see the previous object or none, never a
  partial one. The same holds for ``open_writer``: nothing is visible before
  ``commit()`` and ``abort()`` leaves nothing behind.
* **Read after write.** ``get_object`` and ``list_objects`` reflect every put and
  delete that returned before they were called.
* **Durable after flush.** Once ``flush(container)`` returns, every put into that
  container that returned before it survives a crash or power loss (and so do the
  deletes). Before ``flush``, a returned put may still be lost in a crash, but never
  half-written. The engine calls ``flush`` before writing a backup's ``_sha256file``,
  so its documents are never durable before its data objects, and after ``_metadata``.
* **Overwrite.** Putting an existing name replaces it whole.
* **Idempotent delete.** Deleting a missing object is not an error.
* **Prefix listing.** ``list_objects(container, prefix)`` yields every object name in
  the container that starts with ``prefix`` (plain string prefix, no delimiter), in no
  particular order, and never a temporary name of an unfinished put.
* **Thread safety.** Every method may be called from several threads at once, up to
  ``capabilities.max_concurrency``.
* **Error mapping.** Failures raise the ``ember.errors.DriverError`` family: a missing
  object ``ObjectNotFound``; a missing container that may not be created
  ``ContainerNotFound``; refused credentials ``AccessDenied``; anything worth retrying
  ``TransientDriverError``; anything else ``PermanentDriverError``. Messages are one
  line, name the endpoint or path and the container, and never contain a secret.

Retries, logging and rate limits are wrappers around any driver
(``ember.wrappers``), not per-driver flags.
"""

from __future__ import annotations

import abc
import io
from dataclasses import dataclass
from typing import BinaryIO, ClassVar, Iterable

from ember import format as fmt

POSIX_PREFIX = "posix"
OBJECT_STORE_PREFIX = "object_store"


@dataclass(frozen=True)
class DriverCapabilities:
    """What a driver can do, as data (the conformance suite and the engine read it)."""

    #: how many calls the engine may have in flight at once
    max_concurrency: int = 4
    #: puts are atomic (every in-tree driver: yes)
    atomic_put: bool = True
    #: ``open_writer``/``open_reader`` stream natively instead of buffering whole objects
    streaming: bool = False
    #: ``POSIX_PREFIX`` (``volume_<vol>_<TS>_backup_<id>``) or ``OBJECT_STORE_PREFIX``
    #: (``volume_<vol>/<TS>/az_<AZ>_backup_<id>``)
    prefix_style: str = OBJECT_STORE_PREFIX
    #: contract tests this driver declares it cannot pass, by test name (rclone style)
    unsupported: tuple[str, ...] = ()


@dataclass(frozen=True)
class RetryPolicy:
    """How ``ember.loader.load_driver`` wraps a driver in ``ember.wrappers.RetryingDriver``
    (drivers with Cinder retry options, e.g. swift's, derive it from them)."""

    #: tries in total, the first included; 1 means no retry wrapper
    attempts: int = 3
    #: seconds before the first retry, doubled before each further one
    backoff: float = 1.0


class ObjectWriter(abc.ABC):
    """A streaming upload. Nothing is visible until ``commit``; ``abort`` leaves nothing.

    Used as a context manager it commits on a clean exit and aborts on an exception.
    """

    @abc.abstractmethod
    def write(self, data: bytes) -> None: ...

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def abort(self) -> None: ...

    def __enter__(self) -> "ObjectWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


class BufferedObjectWriter(ObjectWriter):
    """Default writer for drivers without native streaming: buffers, then one put."""

    def __init__(self, driver: "ChunkedBackupDriver", container: str, name: str):
        self._driver, self._container, self._name = driver, container, name
        self._parts: list[bytes] = []
        self._done = False

    def write(self, data: bytes) -> None:
        self._parts.append(bytes(data))

    def commit(self) -> None:
        if not self._done:
            self._done = True
            self._driver.put_object(self._container, self._name, b"".join(self._parts))
            self._parts = []

    def abort(self) -> None:
        self._done = True
        self._parts = []


class ChunkedBackupDriver(abc.ABC):
    """Base class of every repository driver. Subclasses implement the five abstract
    methods; everything else has a default. ``conf`` is the ``oslo_config.cfg.ConfigOpts``
    the driver registers its own options on (in ``__init__``)."""

    #: the entry-point name users type in ``backup_driver``
    name: ClassVar[str] = ""
    #: Cinder's class path for this kind of driver, recorded as the backup's ``service``
    cinder_service: ClassVar[str] = ""
    capabilities: ClassVar[DriverCapabilities] = DriverCapabilities()

    def __init__(self, conf):
        self.conf = conf

    # ---- the five required operations -----------------------------------------------
    @abc.abstractmethod
    def ensure_container(self, container: str) -> None:
        """Create the container if it is missing (unless the configuration forbids it,
        then raise ``ContainerNotFound``). Idempotent."""

    @abc.abstractmethod
    def list_objects(self, container: str, prefix: str = "") -> Iterable[str]:
        """Names in ``container`` starting with ``prefix``. A missing container yields
        nothing."""

    @abc.abstractmethod
    def put_object(self, container: str, name: str, data: bytes) -> None:
        """Store ``data`` under ``name`` atomically, replacing any previous object."""

    @abc.abstractmethod
    def get_object(self, container: str, name: str) -> bytes:
        """The whole object; ``ObjectNotFound`` if it does not exist."""

    @abc.abstractmethod
    def delete_object(self, container: str, name: str) -> None:
        """Remove the object; a missing object is not an error."""

    # ---- optional, with defaults ----------------------------------------------------
    def open_writer(self, container: str, name: str) -> ObjectWriter:
        """A streaming writer (default: buffer in memory, one ``put_object``)."""
        return BufferedObjectWriter(self, container, name)

    def open_reader(self, container: str, name: str) -> BinaryIO:
        """A file-like reader (default: the whole object via ``get_object``)."""
        return io.BytesIO(self.get_object(container, name))

    def flush(self, container: str) -> None:
        """Make every put into ``container`` that returned so far durable (see the
        guarantee above). Default: nothing, for stores whose puts are durable when they
        return (object stores). A file-system driver may sync data per put and the
        directory once here. A missing container is not an error."""

    def remove_empty_container(self, container: str) -> None:
        """Remove ``container`` if nothing is left in it. Called after the backup that
        had the driver's default container for itself was deleted; a container named by
        the user (perhaps shared) is never passed. Default: nothing (object stores have
        no empty directories to leave)."""

    def check_setup(self) -> None:
        """Raise a ``ConfigError``/``DriverError`` if the driver cannot work (missing
        option, unreachable server). Called once before the first operation."""

    def close(self) -> None:
        """Release connections and mounts."""

    def describe(self) -> str:
        """Where this driver stores things, for messages (a path or an endpoint)."""
        return self.name

    # ---- naming and sizes (Cinder's per-driver policy, as data) -----------------------
    def default_container(self, backup_id: str) -> str:
        """Container used when the user names none."""
        return fmt.posix_container(backup_id)

    def object_prefix(self, volume_id: str, backup_id: str, timestamp: str) -> str:
        """The backup's object-name prefix (stored as ``service_metadata``)."""
        if self.capabilities.prefix_style == POSIX_PREFIX:
            return fmt.posix_prefix(volume_id, timestamp, backup_id)
        az = self.conf.storage_availability_zone
        return fmt.object_store_prefix(volume_id, timestamp, az, backup_id)

    @property
    def object_size(self) -> int:
        """Bytes of volume per full-backup object (Cinder: ``backup_file_size``)."""
        return self.conf.backup_file_size

    @property
    def sha_block_size(self) -> int:
        """Bytes per SHA-256 block (Cinder: ``backup_sha_block_size_bytes``)."""
        return self.conf.backup_sha_block_size_bytes

    @property
    def progress_timer_enabled(self) -> bool:
        """The driver's own ``backup_*_enable_progress_timer`` option."""
        return self.conf.backup_enable_progress_timer

    @property
    def retry_policy(self) -> RetryPolicy:
        """Retries of ``TransientDriverError`` the loader applies to this driver."""
        return RetryPolicy()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
