"""An in-memory repository driver: the reference implementation of the contract.

``backup_driver = memory`` selects it. It is for tests and demos: nothing survives the
process. Every instance in one process shares one ``MemoryStore`` unless given its own,
so a service that loads the driver twice still sees one repository.
"""

from __future__ import annotations

import threading
from typing import Iterable

from ember import errors, opts
from ember.driver import ChunkedBackupDriver, DriverCapabilities
from ember.layout import Layout, posix_family


class MemoryStore:
    """Containers of named byte strings behind one lock (so every operation is atomic)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.containers: dict[str, dict[str, bytes]] = {}

    def clear(self) -> None:
        with self.lock:
            self.containers.clear()


#: what a backup made with the memory driver records as its ``service``
CINDER_SERVICE = "ember.testing.memory.MemoryBackupDriver"

#: the store every ``MemoryBackupDriver`` uses unless given another one
SHARED_STORE = MemoryStore()


class MemoryBackupDriver(ChunkedBackupDriver):
    """Objects in a dict. Honours ``backup_create_containers``; puts into a container
    that ``ensure_container`` did not create raise ``ContainerNotFound``, as a directory
    or bucket would."""

    name = "memory"
    capabilities = DriverCapabilities(max_concurrency=8)

    @classmethod
    def layout(cls, conf) -> Layout:
        """Posix names and Ember's core sizes; in no family (its store is its own)."""
        return posix_family(opts.register(conf), CINDER_SERVICE, family="")

    def __init__(self, conf, store: MemoryStore | None = None):
        super().__init__(conf)
        self.store = store if store is not None else SHARED_STORE

    def describe(self) -> str:
        return "memory"

    def ensure_container(self, container: str) -> None:
        with self.store.lock:
            if container in self.store.containers:
                return
            if not self.conf.backup_create_containers:
                raise errors.ContainerNotFound(
                    "memory repository: container %s does not exist and "
                    "backup_create_containers is False" % container)
            self.store.containers[container] = {}

    def list_objects(self, container: str, prefix: str = "") -> Iterable[str]:
        with self.store.lock:
            names = list(self.store.containers.get(container, ()))
        return [name for name in names if name.startswith(prefix)]

    def list_containers(self) -> Iterable[str]:
        with self.store.lock:
            return sorted(c for c, objects in self.store.containers.items() if objects)

    def put_object(self, container: str, name: str, data: bytes) -> None:
        data = bytes(data)  # a caller's bytearray may change after we return
        with self.store.lock:
            objects = self.store.containers.get(container)
            if objects is None:
                raise errors.ContainerNotFound(
                    "memory repository: container %s does not exist (ensure_container "
                    "first)" % container)
            objects[name] = data

    def get_object(self, container: str, name: str) -> bytes:
        with self.store.lock:
            data = self.store.containers.get(container, {}).get(name)
        if data is None:
            raise errors.ObjectNotFound(
                "memory repository: object %s not found in container %s" % (name, container))
        return data

    def delete_object(self, container: str, name: str) -> None:
        with self.store.lock:
            self.store.containers.get(container, {}).pop(name, None)


class ReadRecordingDriver(MemoryBackupDriver):
    """A memory driver that records the name of every object opened for reading
    (``opened``): tests of what a restore reads, and what it leaves unread."""

    def __init__(self, conf, store: MemoryStore):
        super().__init__(conf, store=store)
        self.opened: list[str] = []

    def open_reader(self, container: str, name: str):
        self.opened.append(name)
        return super().open_reader(container, name)
