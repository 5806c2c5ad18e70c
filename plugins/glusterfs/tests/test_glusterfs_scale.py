"""The glusterfs driver passes the scale suite on the real volume: a 1 GiB chain with a
_sha256file over 4 MiB."""

import pytest

from ember.testing.scale import ScaleConformance
from ember_glusterfs.driver import GlusterfsBackupDriver


class TestGlusterfsScale(ScaleConformance):
    @pytest.fixture
    def driver(self, gluster_conf):
        with GlusterfsBackupDriver(gluster_conf(backup_file_size=32 << 20,
                                                backup_sha_block_size_bytes=16384)) as drv:
            drv.check_setup()
            yield drv
