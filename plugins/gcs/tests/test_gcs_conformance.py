"""The driver conformance kit against fake-gcs-server on 127.0.0.1."""

import pytest

from ember.testing.conformance import DriverConformance


class TestGcsConformance(DriverConformance):
    @pytest.fixture
    def container(self, driver, bucket):  # conftest's bucket: removed after the test
        driver.ensure_container(bucket)
        return bucket
