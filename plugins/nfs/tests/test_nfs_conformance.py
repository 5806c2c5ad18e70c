"""The userspace nfs driver (libnfs, NFSv3) passes the driver conformance kit and the
chain suite (full, incrementals, restore of every point through the engine) against the
real nfs-ganesha server."""

import pytest

from ember.testing.chain import ChainConformance
from ember.testing.conformance import DriverConformance
from ember_nfs.driver import NFSBackupDriver
from ember_nfs.userspace import LibnfsBackupDriver


@pytest.fixture
def driver(nfs_conf):
    with NFSBackupDriver.create(nfs_conf(backup_file_size=256 * 1024,
                                  backup_sha_block_size_bytes=4096)) as drv:
        assert isinstance(drv, LibnfsBackupDriver)
        yield drv


class TestNFSUserspace(DriverConformance):
    pass


class TestNFSUserspaceChain(ChainConformance):
    pass
