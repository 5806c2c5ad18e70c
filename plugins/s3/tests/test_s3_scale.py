"""The S3 driver passes the scale suite on the real S3 server: a 1 GiB chain with a
_sha256file over 4 MiB (its 32 MiB objects stream as multipart uploads)."""

import pytest

from ember.testing.scale import ScaleConformance
from ember_s3.driver import S3BackupDriver


class TestS3Scale(ScaleConformance):
    @pytest.fixture
    def driver(self, bucket, s3_conf):
        with S3BackupDriver(s3_conf(backup_s3_store_bucket=bucket,
                                    backup_s3_object_size=32 << 20,
                                    backup_s3_block_size=16384)) as drv:
            yield drv

    @pytest.fixture
    def container(self, driver, bucket):  # conftest's bucket: removed after the test
        driver.ensure_container(bucket)
        return bucket
