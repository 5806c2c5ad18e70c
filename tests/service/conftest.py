"""A service on a fresh SQLite catalogue and a private in-memory repository.

(pytest runs with --import-mode=importlib, so tests cannot import this module: the
helpers reach them through the ``tools`` fixture.)"""

import hashlib
import os
import types

import pytest
from ember.context import RequestContext
from ember.service import Ember
from ember.testing.config import make_conf
from ember.testing.memory import MemoryBackupDriver, MemoryStore

ADMIN = RequestContext.default()
SMALL = dict(backup_file_size=1 << 20, backup_sha_block_size_bytes=4096)


@pytest.fixture
def conf(tmp_path):
    return make_conf(state_path=str(tmp_path / "state"), backup_driver="memory", **SMALL)


@pytest.fixture
def store():
    return MemoryStore()


@pytest.fixture
def service(conf, store):
    return Ember(conf, driver=MemoryBackupDriver(conf, store=store))


def sha(path, length=None):
    with open(path, "rb") as f:
        data = f.read() if length is None else f.read(length)
    return hashlib.sha256(data).hexdigest()


def write(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def objects(store, prefix=""):
    """Every (container, name) in the memory repository starting with ``prefix``."""
    return sorted((c, n) for c, names in store.containers.items() for n in names
                  if n.startswith(prefix))


@pytest.fixture
def tools():
    return types.SimpleNamespace(sha=sha, write=write, objects=objects)


@pytest.fixture
def volume(service):
    """A 4 MiB volume with 1 MiB of random data at the start."""
    vol = service.create_volume(ADMIN, "vol", size="4M")
    write(vol["path"], 0, os.urandom(1 << 20))
    return vol
