"""Behaviour around any driver, as decorators (restic's retry/logger, kopia's wrappers).

A wrapper *is* a ``ChunkedBackupDriver``: it delegates every operation and the
capabilities to the driver it wraps, and changes one concern. Names and sizes are not
the driver's but its plugin's ``Layout``: ``layout_of(driver)`` finds it under any
stack. Wrappers stack::

    RetryingDriver(LoggingDriver(PosixBackupDriver(conf)), attempts=3, backoff=1.0)

``unwrap(driver)`` returns the innermost driver (for ``isinstance`` checks). The
engine puts ``LimitedDriver`` (the driver's ``max_concurrency``) around whatever the
loader made: one scheme for every behaviour around a driver.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import BinaryIO, Callable, Iterable, TypeVar

from ember import errors
from ember.driver import ChunkedBackupDriver, ObjectWriter
from ember.layout import Layout

LOG = logging.getLogger("ember.driver")
T = TypeVar("T")


class DriverWrapper(ChunkedBackupDriver):
    """Delegates the whole contract to ``inner``, explicitly; subclasses override what
    they change. Nothing beyond the contract passes through: code that needs a driver's
    own helpers asks ``unwrap(driver)`` for them."""

    def __init__(self, inner: ChunkedBackupDriver):
        super().__init__(inner.conf)
        self.inner = inner
        # instance attributes shadow the class-level defaults of ChunkedBackupDriver
        self.name = inner.name
        self.capabilities = inner.capabilities

    def __repr__(self) -> str:
        return "%s(%r)" % (type(self).__name__, self.inner)

    def ensure_container(self, container: str) -> None:
        self.inner.ensure_container(container)

    def list_objects(self, container: str, prefix: str = "") -> Iterable[str]:
        return self.inner.list_objects(container, prefix)

    def put_object(self, container: str, name: str, data: bytes) -> None:
        self.inner.put_object(container, name, data)

    def get_object(self, container: str, name: str) -> bytes:
        return self.inner.get_object(container, name)

    def delete_object(self, container: str, name: str) -> None:
        self.inner.delete_object(container, name)

    def open_writer(self, container: str, name: str) -> ObjectWriter:
        return self.inner.open_writer(container, name)

    def open_reader(self, container: str, name: str) -> BinaryIO:
        return self.inner.open_reader(container, name)

    def list_containers(self) -> Iterable[str]:
        return self.inner.list_containers()

    def sweep(self, container: str, prefix: str) -> None:
        self.inner.sweep(container, prefix)

    def flush(self, container: str) -> None:
        self.inner.flush(container)

    def remove_empty_container(self, container: str) -> None:
        self.inner.remove_empty_container(container)

    def check_setup(self) -> None:
        self.inner.check_setup()

    def close(self) -> None:
        self.inner.close()

    def describe(self) -> str:
        return self.inner.describe()


def unwrap(driver: ChunkedBackupDriver) -> ChunkedBackupDriver:
    """The innermost driver under any stack of wrappers."""
    while isinstance(driver, DriverWrapper):
        driver = driver.inner
    return driver


def layout_of(driver: ChunkedBackupDriver) -> Layout:
    """The ``Layout`` the plugin of ``driver`` (wrapped or not) declares for its
    configuration: the ``layout(conf)`` class method of the innermost driver's class."""
    inner = unwrap(driver)
    factory = getattr(type(inner), "layout", None)
    if factory is None:
        raise errors.ConfigError(
            "backup driver %s declares no layout: its class %s needs a layout(conf) class "
            "method (see docs/driver-authors.md)" % (inner.name, type(inner).__name__))
    return factory(inner.conf)


class RetryingDriver(DriverWrapper):
    """Retries ``TransientDriverError`` (and nothing else) with exponential backoff.

    ``attempts`` counts every try, the first included; before retry ``k`` (from 1) it
    sleeps ``backoff * 2**(k-1)`` seconds, capped at ``max_backoff``. When every attempt
    failed the last ``TransientDriverError`` is raised again with "(gave up after N
    attempts)" appended. Streams retry only their opening: ``open_writer`` and
    ``open_reader`` are retried, the writes and reads on the stream are not (the data
    is gone by then; the engine retries the whole object if it wants to).
    """

    def __init__(self, inner: ChunkedBackupDriver, attempts: int = 3, backoff: float = 1.0,
                 *, max_backoff: float = 30.0, sleep: Callable[[float], None] = time.sleep):
        if attempts < 1:
            raise errors.ConfigError("retry attempts must be at least 1, not %d" % attempts)
        super().__init__(inner)
        self.attempts, self.backoff, self.max_backoff = attempts, backoff, max_backoff
        self._sleep = sleep

    def _call(self, what: str, fn, *args):
        return retry_call(lambda: fn(*args), attempts=self.attempts, backoff=self.backoff,
                          what="%s %s" % (self.describe(), what),
                          max_backoff=self.max_backoff, sleep=self._sleep)

    def ensure_container(self, container):
        self._call("ensure_container", self.inner.ensure_container, container)

    def list_objects(self, container, prefix=""):
        # materialised inside the retry: a lazy listing could fail after we returned
        return self._call("list_objects",
                          lambda: list(self.inner.list_objects(container, prefix)))

    def put_object(self, container, name, data):
        self._call("put_object", self.inner.put_object, container, name, data)

    def get_object(self, container, name):
        return self._call("get_object", self.inner.get_object, container, name)

    def delete_object(self, container, name):
        self._call("delete_object", self.inner.delete_object, container, name)

    def open_writer(self, container, name):
        return self._call("open_writer", self.inner.open_writer, container, name)

    def open_reader(self, container, name):
        return self._call("open_reader", self.inner.open_reader, container, name)

    def flush(self, container):
        self._call("flush", self.inner.flush, container)


def retry_call(fn: Callable[[], T], *, attempts: int, backoff: float, what: str,
               max_backoff: float = 30.0, sleep: Callable[[float], None] = time.sleep) -> T:
    """``fn()``, tried up to ``attempts`` times while it raises ``TransientDriverError``
    (the loop of ``RetryingDriver``, for a driver that retries a piece of a stream, such
    as one part of a multipart upload, under its layout's ``retry``). ``what`` names
    the operation in the warning logged before each retry."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except errors.TransientDriverError as exc:
            if attempt == attempts:
                if attempts == 1:
                    raise
                raise _with_message(exc, "%s (gave up after %d attempts)"
                                    % (exc, attempts)) from exc
            delay = min(backoff * 2 ** (attempt - 1), max_backoff)
            LOG.warning("%s failed (%s); retry %d/%d in %.1fs", what, exc, attempt,
                        attempts - 1, delay)
            sleep(delay)
    raise AssertionError("unreachable: attempts >= 1")


def _with_message(exc: errors.TransientDriverError, message: str) -> errors.DriverError:
    """The same error class with a new message (a subclass with another signature
    falls back to ``TransientDriverError``)."""
    try:
        return type(exc)(message)
    except TypeError:
        return errors.TransientDriverError(message)


class LoggingDriver(DriverWrapper):
    """Logs every operation with its duration at DEBUG, and failures at WARNING, on the
    ``ember.driver`` logger. Never logs object data."""

    def __init__(self, inner: ChunkedBackupDriver, logger: logging.Logger = LOG):
        super().__init__(inner)
        self.log = logger

    def _call(self, what: str, target: str, fn, *args):
        start = time.monotonic()
        try:
            result = fn(*args)
        except Exception as exc:
            self.log.warning("%s %s %s failed after %.3fs: %s", self.describe(), what, target,
                             time.monotonic() - start, exc)
            raise
        self.log.debug("%s %s %s took %.3fs", self.describe(), what, target,
                       time.monotonic() - start)
        return result

    def ensure_container(self, container):
        self._call("ensure_container", container, self.inner.ensure_container, container)

    def list_objects(self, container, prefix=""):
        return self._call("list_objects", "%s/%s*" % (container, prefix),
                          lambda: list(self.inner.list_objects(container, prefix)))

    def put_object(self, container, name, data):
        self._call("put_object", "%s/%s (%d bytes)" % (container, name, len(data)),
                   self.inner.put_object, container, name, data)

    def get_object(self, container, name):
        return self._call("get_object", "%s/%s" % (container, name),
                          self.inner.get_object, container, name)

    def delete_object(self, container, name):
        self._call("delete_object", "%s/%s" % (container, name),
                   self.inner.delete_object, container, name)

    def open_writer(self, container, name):
        return self._call("open_writer", "%s/%s" % (container, name),
                          self.inner.open_writer, container, name)

    def open_reader(self, container, name):
        return self._call("open_reader", "%s/%s" % (container, name),
                          self.inner.open_reader, container, name)


class ReadOnlyDriver(DriverWrapper):
    """Refuses every change (``PermanentDriverError``): for verifying or inspecting a
    repository with the guarantee that nothing in it is written or removed."""

    def _refuse(self, what: str, container: str, name: str = ""):
        raise errors.PermanentDriverError(
            "%s is opened read-only: refusing %s of %s" % (
                self.describe(), what, "/".join(p for p in (container, name) if p)))

    def ensure_container(self, container):
        # creates nothing; a missing container shows up as ObjectNotFound on reads
        return None

    def put_object(self, container, name, data):
        self._refuse("put_object", container, name)

    def delete_object(self, container, name):
        self._refuse("delete_object", container, name)

    def open_writer(self, container, name):
        self._refuse("open_writer", container, name)


class LimitedDriver(DriverWrapper):
    """Never more than ``limit`` calls of the object operations at once (each method
    call, writer write/commit and reader read counts as one call): the driver's
    ``capabilities.max_concurrency``, as the engine uses it."""

    def __init__(self, inner: ChunkedBackupDriver, limit: int):
        super().__init__(inner)
        self._sem = threading.BoundedSemaphore(max(1, limit))

    def call(self, fn: Callable[..., T], *args) -> T:
        with self._sem:
            return fn(*args)

    def ensure_container(self, container):
        self.call(self.inner.ensure_container, container)

    def list_objects(self, container, prefix=""):
        # materialised under the bound: a lazy listing would call the store later
        return self.call(lambda: list(self.inner.list_objects(container, prefix)))

    def put_object(self, container, name, data):
        self.call(self.inner.put_object, container, name, data)

    def get_object(self, container, name):
        return self.call(self.inner.get_object, container, name)

    def delete_object(self, container, name):
        self.call(self.inner.delete_object, container, name)

    def flush(self, container):
        self.call(self.inner.flush, container)

    def open_writer(self, container, name):
        return _LimitedWriter(self, self.call(self.inner.open_writer, container, name))

    def open_reader(self, container, name):
        return _LimitedReader(self, self.call(self.inner.open_reader, container, name))


class _LimitedWriter(ObjectWriter):
    def __init__(self, limited: LimitedDriver, writer: ObjectWriter):
        self._l, self._w = limited, writer

    def write(self, data: bytes) -> None:
        if data:
            self._l.call(self._w.write, data)

    def commit(self) -> None:
        self._l.call(self._w.commit)

    def abort(self) -> None:
        self._l.call(self._w.abort)


class _LimitedReader:
    def __init__(self, limited: LimitedDriver, reader):
        self._l, self._r = limited, reader

    def read(self, n: int = -1) -> bytes:
        return self._l.call(self._r.read, n)

    def close(self) -> None:
        close = getattr(self._r, "close", None)
        if close:
            close()
