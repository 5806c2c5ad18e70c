"""The nfs driver passes the scale suite against the real nfs-ganesha server: a 1 GiB
chain with a _sha256file over 4 MiB."""

import pytest

from ember.testing.scale import ScaleConformance
from ember_nfs.driver import NFSBackupDriver


class TestNFSScale(ScaleConformance):
    @pytest.fixture
    def driver(self, nfs_conf):
        with NFSBackupDriver.create(nfs_conf(backup_file_size=32 << 20,
                                             backup_sha_block_size_bytes=16384)) as drv:
            yield drv
