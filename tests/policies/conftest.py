"""A service on a fresh SQLite catalogue and a private in-memory repository, with a
clock the test drives and ``InlineDispatcher`` (the work runs in the calling thread).

(pytest runs with --import-mode=importlib: helpers reach tests through fixtures.)"""

import datetime

import pytest
from ember.context import RequestContext
from ember.service import Ember
from ember.service.dispatch import InlineDispatcher
from ember.testing.config import make_conf
from ember.testing.memory import MemoryBackupDriver, MemoryStore

ADMIN = RequestContext.default()
START = datetime.datetime(2026, 1, 1, 0, 0)


class Clock:
    """Naive UTC time that moves only when the test says so."""

    def __init__(self, now=START):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += datetime.timedelta(**delta)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def conf(tmp_path):
    return make_conf(state_path=str(tmp_path / "state"), backup_driver="memory",
                     backup_file_size=64 << 10, backup_sha_block_size_bytes=4096,
                     quota_backups=-1, quota_backup_gigabytes=-1, quota_volumes=-1,
                     quota_gigabytes=-1, quota_snapshots=-1,
                     backup_change_tracking=False)


@pytest.fixture
def store():
    return MemoryStore()


@pytest.fixture
def service(conf, store, clock):
    return Ember(conf, driver=MemoryBackupDriver(conf, store=store), clock=clock)


@pytest.fixture
def inline(service):
    return InlineDispatcher(service)


@pytest.fixture
def inline_for():
    """InlineDispatcher for another service."""
    return InlineDispatcher
