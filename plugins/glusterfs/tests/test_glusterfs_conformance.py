"""The glusterfs driver, on its own FUSE mount of the real volume, passes the driver
conformance kit and the chain suite (full, incrementals, restore of every point)."""

import pytest

from ember.testing.chain import ChainConformance
from ember.testing.conformance import DriverConformance
from ember_glusterfs.driver import GlusterfsBackupDriver


@pytest.fixture
def driver(gluster_conf):
    with GlusterfsBackupDriver(gluster_conf(backup_file_size=256 * 1024,
                                            backup_sha_block_size_bytes=4096)) as drv:
        drv.check_setup()
        yield drv


class TestGlusterfs(DriverConformance):
    pass


class TestGlusterfsChain(ChainConformance):
    pass
