"""The GCS driver passes the scale suite on fake-gcs-server: a 1 GiB chain with a
_sha256file over 4 MiB."""

import pytest

from ember.testing.scale import ScaleConformance
from ember_gcs.driver import GoogleBackupDriver


class TestGcsScale(ScaleConformance):
    @pytest.fixture
    def driver(self, bucket, gcs_conf):
        with GoogleBackupDriver(gcs_conf(backup_gcs_bucket=bucket,
                                         backup_gcs_object_size=32 << 20,
                                         backup_gcs_block_size=16384)) as drv:
            yield drv

    @pytest.fixture
    def container(self, driver, bucket):  # conftest's bucket: removed after the test
        driver.ensure_container(bucket)
        return bucket
