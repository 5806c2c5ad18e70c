"""The posix driver passes the driver conformance kit and the chain suite."""

import pytest

from ember.testing.chain import ChainConformance
from ember.testing.config import make_conf
from ember.testing.conformance import DriverConformance
from ember_posix.driver import PosixBackupDriver
from ember_posix.opts import posix_opts


@pytest.fixture
def driver(tmp_path):
    return PosixBackupDriver(make_conf(posix_opts, backup_posix_path=str(tmp_path / "repo"),
                                       backup_file_size=256 * 1024,
                                       backup_sha_block_size_bytes=4096))


class TestPosix(DriverConformance):
    pass


class TestPosixChain(ChainConformance):
    pass
