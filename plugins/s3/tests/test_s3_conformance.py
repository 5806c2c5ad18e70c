"""The driver conformance kit against the S3 server on 127.0.0.1."""

import pytest

from ember.testing.conformance import DriverConformance


class TestS3Conformance(DriverConformance):
    @pytest.fixture
    def container(self, driver, bucket):  # conftest's bucket: removed after the test
        driver.ensure_container(bucket)
        return bucket
