"""Full backup, incrementals and bit-exact restores through the engine, on the S3
server; 5 MiB parts so objects larger than a part stream as multipart uploads."""

import pytest

from ember.testing.chain import ChainConformance

from ember_s3.driver import S3BackupDriver


class TestS3Chain(ChainConformance):
    @pytest.fixture
    def driver(self, bucket, s3_conf):
        # 256 KiB objects of 4 KiB blocks keep the suite's volume at ~4 MiB
        with S3BackupDriver(s3_conf(backup_s3_store_bucket=bucket,
                                    backup_s3_object_size=262144,
                                    backup_s3_block_size=4096)) as driver:
            yield driver

    @pytest.fixture
    def container(self, driver, bucket):  # conftest's bucket: removed after the test
        driver.ensure_container(bucket)
        return bucket
