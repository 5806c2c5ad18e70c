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
(``ember.wrappers``), not per-driver flags. Names and sizes (default container, object
prefix, object and SHA block sizes, the Cinder service recorded in a backup) are not the
driver's either: its plugin declares them as a ``Layout`` (``ember.layout``), from a
``layout(conf)`` class method on the class its entry point names.
"""

from __future__ import annotations

import abc
import concurrent.futures as cf
import io
import queue
from dataclasses import dataclass
from typing import BinaryIO, Callable, ClassVar, Iterable, Optional

from ember.errors import PermanentDriverError, TransientDriverError
# the layout's names, for plugins that import them from the contract they implement
from ember.layout import OBJECT_STORE_PREFIX, POSIX_PREFIX, RetryPolicy  # noqa: F401


@dataclass(frozen=True)
class DriverCapabilities:
    """What a driver can do, as data (the engine and the conformance kit read it).
    How it names and sizes things is its plugin's ``Layout`` (``ember.layout``)."""

    #: how many calls the engine may have in flight at once
    max_concurrency: int = 4
    #: contract tests this driver declares it cannot pass, by test name (rclone style)
    unsupported: tuple[str, ...] = ()
    #: whether a call waits on a network round trip (object stores, NFS, GlusterFS): a
    #: restore then keeps up to ``max_concurrency`` reads in flight to hide the wait. A
    #: local filesystem says False: its reads are page-cache copies, and more of them in
    #: flight than the engine has threads only contend for the GIL. (Added last, so the
    #: fields above keep their positions.)
    round_trips: bool = True


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


class _UploadAborted(Exception):
    """Raised inside a piped upload's body so the request fails and stores nothing."""


_END = object()


class _Pipe:
    """The body a ``PipedObjectWriter``'s upload reads: iterable (chunks as written) and
    file-like (``read(n)``), ending when the writer commits, raising when it aborts."""

    def __init__(self, chunks: "queue.Queue"):
        self._chunks, self._rest, self._ended = chunks, memoryview(b""), False

    def _next(self) -> Optional[bytes]:
        if self._ended:
            return None
        item = self._chunks.get()
        if item is _END:
            self._ended = True
            return None
        if isinstance(item, BaseException):
            self._ended = True
            raise item
        return item

    def __iter__(self):
        while (chunk := self._next()) is not None:
            yield chunk

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            return bytes(self._rest) + b"".join(self)
        while not self._rest:
            chunk = self._next()
            if chunk is None:
                return b""
            self._rest = memoryview(chunk)
        out, self._rest = self._rest[:n], self._rest[n:]
        return bytes(out)


class PipedObjectWriter(ObjectWriter):
    """A streaming writer for clients whose upload call *reads* its body (an iterable, as
    swiftclient's chunked ``put_object`` takes, or a file-like, as boto3's
    ``upload_fileobj``): ``upload(body)`` runs on a thread of ``pool`` (so on that thread's
    own connection) and pulls the bytes as ``write`` hands them over, through a queue of
    at most ``depth`` chunks, so an object is never held whole. ``commit`` returns what
    ``upload`` returned; ``abort`` makes the body raise, so the request fails and the
    store keeps nothing (the upload's own errors are swallowed then)."""

    def __init__(self, upload: Callable[[_Pipe], object], pool: cf.Executor, depth: int = 4):
        self._chunks: queue.Queue = queue.Queue(depth)
        self._future = pool.submit(upload, _Pipe(self._chunks))
        self._done = False

    def _send(self, item) -> bool:
        """Queue ``item``; False if the upload ended first (its error is in the future)."""
        while True:
            try:
                self._chunks.put(item, timeout=0.1)
                return True
            except queue.Full:
                if self._future.done():
                    return False

    def write(self, data: bytes) -> None:
        if data and not self._send(bytes(data)):
            self._future.result()  # raises the upload's error
            raise PermanentDriverError("the upload ended before all its data was written")

    def commit(self):
        if self._done:
            return None
        self._done = True
        self._send(_END)
        return self._future.result()

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._send(_UploadAborted("upload aborted"))
        try:
            self._future.result()
        except Exception:  # noqa: BLE001 - the failed request is the point of aborting
            pass


def short_read_error(what: str, got: int, length: int) -> TransientDriverError:
    """The error of a download of ``what`` (e.g. "Swift object X in container C at URL")
    that ended after ``got`` of the ``length`` bytes its server declared (Content-Length):
    the connection was cut; the object is not short, the read is."""
    return TransientDriverError(
        "the download of %s ended after %d of the %d bytes the server declared; the "
        "connection was cut, retry the operation" % (what, got, length))


class IterReader(io.RawIOBase):
    """A read-only file over an iterable of byte chunks (a streamed download), with
    ``on_close`` run once when it is closed (to release the connection).

    ``length`` is the size the server declared for the stream: if the chunks end before
    it (or run past it), the read raises ``short_read_error(what, ...)`` instead of
    returning a short object, so a cut connection never looks like the end of a file."""

    def __init__(self, chunks: Iterable[bytes], on_close: Optional[Callable[[], None]] = None,
                 length: Optional[int] = None, what: str = "an object"):
        super().__init__()
        self._chunks, self._rest, self._on_close = iter(chunks), memoryview(b""), on_close
        self._length, self._what, self._got = length, what, 0

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> Optional[memoryview]:
        chunk = next(self._chunks, None)
        got = self._got + len(chunk or b"")
        if self._length is not None and (got > self._length or
                                         chunk is None and got < self._length):
            raise short_read_error(self._what, got, self._length)
        self._got = got
        return None if chunk is None else memoryview(chunk)

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all that is left if ``n`` < 0), short only at the end;
        nothing is allocated ahead for a large ``n``."""
        parts, want = [], n if n is not None and n >= 0 else None
        while want is None or want > 0:
            if not self._rest:
                chunk = self._next_chunk()
                if chunk is None:
                    break
                self._rest = chunk
            take = len(self._rest) if want is None else min(want, len(self._rest))
            parts.append(self._rest[:take])
            self._rest = self._rest[take:]
            if want is not None:
                want -= take
        return b"".join(parts)

    def readinto(self, buf) -> int:
        data = self.read(len(buf))
        buf[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed and self._on_close is not None:
            self._on_close()
        super().close()


class ChunkedBackupDriver(abc.ABC):
    """Base class of every repository driver: I/O only. Subclasses implement the five
    abstract methods; everything else has a default. ``conf`` is the ``oslo_config.cfg.ConfigOpts``
    the driver registers its own options on (in ``__init__``)."""

    #: the entry-point name users type in ``backup_driver``
    name: ClassVar[str] = ""
    capabilities: ClassVar[DriverCapabilities] = DriverCapabilities()

    def __init__(self, conf):
        self.conf = conf

    @classmethod
    def create(cls, conf) -> "ChunkedBackupDriver":
        """The factory the loader calls: a driver for ``conf``. The default is
        ``cls(conf)``; a plugin with several implementations picks one here (nfs: the
        kernel mount or the userspace client)."""
        return cls(conf)

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

    def list_containers(self) -> Iterable[str]:
        """Optional: every container of the repository that may hold backups, for
        ``backup record scan``. The default is the one container used when none is
        named (object stores with a configured container or bucket); a driver whose
        repository holds many (the posix family: directories under a base path) lists
        them."""
        layout = getattr(type(self), "layout", None)  # the plugin's, when it declares one
        return [layout(self.conf).default_container("")] if layout else []

    def sweep(self, container: str, prefix: str) -> None:
        """Optional: remove what interrupted writes of the backup ``prefix`` may have
        left in ``container`` besides its objects (posix: temporary files of killed
        puts; s3: unfinished multipart uploads). Called after a backup's objects are
        deleted, and by repair for a backup whose process died. Default: nothing (a store
        that keeps no partial object). A missing container is not an error."""

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

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
