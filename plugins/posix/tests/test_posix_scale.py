"""The posix driver passes the scale suite: a 1 GiB chain with a _sha256file over 4 MiB."""

import pytest

from ember.testing.config import make_conf
from ember.testing.scale import ScaleConformance
from ember_posix.driver import PosixBackupDriver
from ember_posix.opts import posix_opts


class TestPosixScale(ScaleConformance):
    @pytest.fixture
    def driver(self, tmp_path):
        return PosixBackupDriver(make_conf(posix_opts, backup_posix_path=str(tmp_path / "repo"),
                                           backup_file_size=32 << 20,
                                           backup_sha_block_size_bytes=16384))
