"""The Swift driver passes the driver conformance kit and the chain suite (full,
incrementals, restore of every point through the engine) against the real Swift."""

import pytest

from ember.testing.chain import ChainConformance
from ember.testing.conformance import DriverConformance
from ember_swift.driver import SwiftBackupDriver


@pytest.fixture
def driver(swift_conf):
    with SwiftBackupDriver(swift_conf(backup_swift_object_size=256 * 1024,
                                      backup_swift_block_size=4096)) as drv:
        yield drv


class _OwnContainer:
    @pytest.fixture
    def container(self, driver, container):  # conftest's: removed with its objects after
        driver.ensure_container(container)
        return container


class TestSwift(_OwnContainer, DriverConformance):
    pass


class TestSwiftChain(_OwnContainer, ChainConformance):
    pass
