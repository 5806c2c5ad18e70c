"""Full backup, incrementals and bit-exact restores through the engine, on fake-gcs-server."""

import pytest

from ember.testing.chain import ChainConformance

from ember_gcs.driver import GoogleBackupDriver


class TestGcsChain(ChainConformance):
    @pytest.fixture
    def driver(self, bucket, gcs_conf):
        # 256 KiB objects of 4 KiB blocks keep the suite's volume at ~4 MiB
        with GoogleBackupDriver(gcs_conf(backup_gcs_bucket=bucket,
                                         backup_gcs_object_size=262144,
                                         backup_gcs_block_size=4096)) as driver:
            yield driver

    @pytest.fixture
    def container(self, driver, bucket):  # conftest's bucket: removed after the test
        driver.ensure_container(bucket)
        return bucket
