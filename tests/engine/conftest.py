"""Fixtures of the engine tests: small configs, an in-memory and a directory store."""

from __future__ import annotations

import os
from typing import Iterable

import pytest

from ember import errors
from ember.driver import ChunkedBackupDriver, DriverCapabilities
from ember.layout import Layout, posix_family
from ember.testing.config import make_conf
from ember.testing.memory import MemoryBackupDriver, MemoryStore


class DirectoryDriver(ChunkedBackupDriver):
    """The posix layout ``<base>/<container>/<object>`` in ~30 lines, so the engine tests
    read Cinder's fixture repositories without depending on the posix plugin."""

    name = "testdir"
    capabilities = DriverCapabilities(max_concurrency=4)

    @classmethod
    def layout(cls, conf) -> Layout:
        return posix_family(conf, "ember.tests.DirectoryDriver", family="")

    def __init__(self, conf, base: str):
        super().__init__(conf)
        self.base = base

    def _path(self, container: str, name: str = "") -> str:
        return os.path.join(self.base, container, name)

    def ensure_container(self, container: str) -> None:
        os.makedirs(self._path(container), exist_ok=True)

    def list_objects(self, container: str, prefix: str = "") -> Iterable[str]:
        try:
            return [n for n in os.listdir(self._path(container)) if n.startswith(prefix)]
        except FileNotFoundError:
            return []

    def put_object(self, container: str, name: str, data: bytes) -> None:
        tmp = self._path(container, ".tmp-" + name)
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, self._path(container, name))

    def get_object(self, container: str, name: str) -> bytes:
        try:
            with open(self._path(container, name), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise errors.ObjectNotFound("%s not found in %s" % (name, container)) from None

    def delete_object(self, container: str, name: str) -> None:
        try:
            os.unlink(self._path(container, name))
        except FileNotFoundError:
            pass


@pytest.fixture
def small_conf():
    """64 KiB objects, 4 KiB SHA blocks, zlib: many objects from a few-MiB volume."""
    return make_conf(backup_file_size=65536, backup_sha_block_size_bytes=4096,
                     backup_compression_algorithm="zlib")


@pytest.fixture
def memory_driver(small_conf):
    return MemoryBackupDriver(small_conf, store=MemoryStore())
