"""The in-memory driver passes the driver conformance kit and the chain suite."""

import pytest

from ember.testing.chain import ChainConformance
from ember.testing.config import make_conf
from ember.testing.conformance import DriverConformance
from ember.testing.memory import MemoryBackupDriver, MemoryStore


@pytest.fixture
def driver():
    conf = make_conf(backup_file_size=256 * 1024, backup_sha_block_size_bytes=4096)
    return MemoryBackupDriver(conf, store=MemoryStore())


class TestMemory(DriverConformance):
    pass


class TestMemoryChain(ChainConformance):
    pass
