"""A wrapper that injects faults into any driver, for failure-path tests (kopia's
``FaultyStorage``).

Faults are rules keyed by operation and call number::

    faulty = FaultyDriver(MemoryBackupDriver(conf))
    faulty.fail("put_object", on_call=3, error=TransientDriverError("503 from proxy"))
    faulty.corrupt("get_object", match=lambda name: name.endswith("-00002"))
    faulty.delay("get_object", seconds=0.2)

Operations are the contract's methods (``ensure_container``, ``list_objects``,
``put_object``, ``get_object``, ``delete_object``, ``open_writer``, ``open_reader``) and
the streaming writer's ``write`` and ``commit``. Calls are numbered from 1 per operation
across all threads, counting every call including the failed ones. ``faulty.calls``
holds the counts, ``faulty.log`` every call as ``(operation, container, name)``.
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass
from typing import BinaryIO, Callable, Optional

from ember.driver import ChunkedBackupDriver, ObjectWriter
from ember.wrappers import DriverWrapper

OPERATIONS = ("ensure_container", "list_objects", "put_object", "get_object",
              "delete_object", "open_writer", "open_reader", "write", "commit")


def flip_first_byte(data: bytes) -> bytes:
    """The default corruption: the first byte inverted (an empty object gains a byte)."""
    if not data:
        return b"\xff"
    return bytes([data[0] ^ 0xFF]) + data[1:]


@dataclass
class Fault:
    """One rule. It applies to calls ``on_call`` … ``on_call + times - 1`` of
    ``operation`` (``on_call=None``: every call; ``times=None``: from ``on_call`` on)
    whose object name satisfies ``match``."""

    operation: str
    on_call: Optional[int] = None
    times: Optional[int] = 1
    match: Optional[Callable[[str], bool]] = None
    error: Optional[BaseException] = None
    corrupt: Optional[Callable[[bytes], bytes]] = None
    seconds: float = 0.0

    def applies(self, call: int, name: str) -> bool:
        if self.match is not None and not self.match(name):
            return False
        if self.on_call is None:
            return True
        if call < self.on_call:
            return False
        return self.times is None or call < self.on_call + self.times


class FaultyDriver(DriverWrapper):
    """Wraps ``inner``; every call first sleeps/raises as the matching rules say, then
    runs (with data corrupted on the way in for puts and writes, on the way out for gets
    and readers)."""

    def __init__(self, inner: ChunkedBackupDriver):
        super().__init__(inner)
        self.faults: list[Fault] = []
        self.calls: dict[str, int] = {op: 0 for op in OPERATIONS}
        self.log: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()

    # ---- declaring faults ---------------------------------------------------------------
    def add(self, fault: Fault) -> Fault:
        if fault.operation not in OPERATIONS:
            raise ValueError("unknown operation %r; choose from %s"
                             % (fault.operation, ", ".join(OPERATIONS)))
        with self._lock:
            self.faults.append(fault)
        return fault

    def fail(self, operation: str, error: BaseException, on_call: Optional[int] = None,
             times: Optional[int] = 1, match=None) -> Fault:
        """Raise ``error`` instead of doing the call."""
        return self.add(Fault(operation, on_call, times, match, error=error))

    def corrupt(self, operation: str, on_call: Optional[int] = None,
                times: Optional[int] = 1, match=None,
                how: Callable[[bytes], bytes] = flip_first_byte) -> Fault:
        """Alter the bytes of ``put_object``/``write`` (stored) or ``get_object``/
        ``open_reader`` (returned)."""
        if operation not in ("put_object", "write", "get_object", "open_reader"):
            raise ValueError("only put_object, write, get_object and open_reader carry data")
        return self.add(Fault(operation, on_call, times, match, corrupt=how))

    def delay(self, operation: str, seconds: float, on_call: Optional[int] = None,
              times: Optional[int] = None, match=None) -> Fault:
        """Sleep ``seconds`` before doing the call (slow server)."""
        return self.add(Fault(operation, on_call, times, match, seconds=seconds))

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    # ---- applying them ------------------------------------------------------------------
    def _enter(self, operation: str, container: str, name: str) -> list[Fault]:
        """Count the call, apply delays and errors, return the corruptions to apply."""
        with self._lock:
            self.calls[operation] += 1
            call = self.calls[operation]
            self.log.append((operation, container, name))
            active = [f for f in self.faults if f.operation == operation and f.applies(call, name)]
        for fault in active:
            if fault.seconds:
                time.sleep(fault.seconds)
        for fault in active:
            if fault.error is not None:
                raise fault.error
        return [f for f in active if f.corrupt is not None]

    @staticmethod
    def _apply(corruptions: list[Fault], data: bytes) -> bytes:
        for fault in corruptions:
            data = fault.corrupt(bytes(data))
        return data

    def ensure_container(self, container):
        self._enter("ensure_container", container, "")
        self.inner.ensure_container(container)

    def list_objects(self, container, prefix=""):
        self._enter("list_objects", container, prefix)
        return list(self.inner.list_objects(container, prefix))

    def put_object(self, container, name, data):
        corruptions = self._enter("put_object", container, name)
        self.inner.put_object(container, name, self._apply(corruptions, data))

    def get_object(self, container, name):
        corruptions = self._enter("get_object", container, name)
        return self._apply(corruptions, self.inner.get_object(container, name))

    def delete_object(self, container, name):
        self._enter("delete_object", container, name)
        self.inner.delete_object(container, name)

    def open_writer(self, container, name) -> ObjectWriter:
        self._enter("open_writer", container, name)
        return _FaultyWriter(self, container, name, self.inner.open_writer(container, name))

    def open_reader(self, container, name) -> BinaryIO:
        corruptions = self._enter("open_reader", container, name)
        reader = self.inner.open_reader(container, name)
        if not corruptions:
            return reader
        with reader:  # small test objects: read whole, corrupt, hand back a buffer
            return io.BytesIO(self._apply(corruptions, reader.read()))


class _FaultyWriter(ObjectWriter):
    def __init__(self, faulty: FaultyDriver, container: str, name: str, inner: ObjectWriter):
        self._faulty, self._container, self._name, self._inner = faulty, container, name, inner

    def write(self, data: bytes) -> None:
        corruptions = self._faulty._enter("write", self._container, self._name)
        self._inner.write(self._faulty._apply(corruptions, data))

    def commit(self) -> None:
        try:
            self._faulty._enter("commit", self._container, self._name)
        except BaseException:
            self._inner.abort()  # a failed upload leaves nothing, as the contract says
            raise
        self._inner.commit()

    def abort(self) -> None:
        self._inner.abort()
