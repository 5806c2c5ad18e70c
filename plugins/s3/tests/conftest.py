"""Fixtures for the S3 driver tests: the real S3 server of ``scripts/servers/s3.sh``
(SeaweedFS) on 127.0.0.1 and a fresh bucket per test, emptied and removed afterwards.

``EMBER_S3_ENDPOINT`` / ``EMBER_S3_ACCESS_KEY`` / ``EMBER_S3_SECRET_KEY`` point the tests
at another S3 server.
"""

import os
import urllib.parse
import uuid

import pytest

from ember.testing.config import make_conf
from ember.testing.services import require, tcp_open

from ember_s3 import opts
from ember_s3.driver import S3BackupDriver

ENDPOINT = os.environ.get("EMBER_S3_ENDPOINT", "http://127.0.0.1:8333")
ACCESS_KEY = os.environ.get("EMBER_S3_ACCESS_KEY", "emberaccess")
SECRET_KEY = os.environ.get("EMBER_S3_SECRET_KEY", "embersecretkey0123456789")
#: the same server over TLS, and the self-signed certificate it serves
HTTPS_ENDPOINT = os.environ.get("EMBER_S3_HTTPS_ENDPOINT", "https://127.0.0.1:8334")
CA_FILE = os.environ.get("EMBER_S3_CA_FILE", "/tmp/ember-s3/tls/cert.pem")
#: the read-only identity scripts/servers/s3.sh creates
READER = ("emberreader", "emberreadersecret")


def make_s3_conf(**overrides):
    """Core and S3 options, talking to the test server unless ``overrides`` say
    otherwise; no retries (a test that wants them says so)."""
    settings = {"backup_s3_endpoint_url": ENDPOINT, "backup_s3_store_access_key": ACCESS_KEY,
                "backup_s3_store_secret_key": SECRET_KEY, "backup_driver": "s3",
                "backup_s3_retry_max_attempts": 0}
    settings.update(overrides)
    return make_conf(extra_opts=opts.s3_opts, **settings)


def new_bucket_name() -> str:
    return "ember-test-%s" % uuid.uuid4().hex[:12]


def remove_bucket(name: str) -> None:
    """Abort unfinished uploads, delete every object, then the bucket (all if present)."""
    driver = S3BackupDriver(make_s3_conf())
    client = driver.client()
    try:
        for upload in client.list_multipart_uploads(Bucket=name).get("Uploads", []):
            client.abort_multipart_upload(Bucket=name, Key=upload["Key"],
                                          UploadId=upload["UploadId"])
        for obj in driver.list_objects(name):
            driver.delete_object(name, obj)
        client.delete_bucket(Bucket=name)
    except client.exceptions.NoSuchBucket:
        pass
    finally:
        driver.close()


@pytest.fixture
def s3_conf():
    """``s3_conf(**overrides)``: a fresh ConfigOpts with the S3 options (see
    ``make_s3_conf``)."""
    return make_s3_conf


@pytest.fixture(scope="session")
def s3_endpoint():
    url = urllib.parse.urlsplit(ENDPOINT)
    require(tcp_open(url.hostname, url.port or 80), "S3 server at %s" % ENDPOINT,
            "bash scripts/servers/s3.sh start")
    return ENDPOINT


@pytest.fixture(scope="session")
def s3_credentials(s3_endpoint):
    """(endpoint, access key, secret key) of the test server, for tests that configure
    Ember themselves (test modules cannot import conftest under --import-mode=importlib)."""
    return ENDPOINT, ACCESS_KEY, SECRET_KEY


@pytest.fixture(scope="session")
def s3_tls(s3_endpoint):
    """(https endpoint, CA file) of the test server's TLS port."""
    url = urllib.parse.urlsplit(HTTPS_ENDPOINT)
    require(tcp_open(url.hostname, url.port or 443) and os.path.exists(CA_FILE),
            "S3 server over TLS at %s (certificate %s)" % (HTTPS_ENDPOINT, CA_FILE),
            "bash scripts/servers/s3.sh start")
    return HTTPS_ENDPOINT, CA_FILE


@pytest.fixture
def bucket(s3_endpoint):
    """A bucket name no other test uses; whatever a test left in it is removed."""
    name = new_bucket_name()
    yield name
    remove_bucket(name)


@pytest.fixture
def driver(bucket):
    """The bare driver (no retry wrapper) with ``backup_s3_store_bucket`` = the test's
    bucket."""
    drv = S3BackupDriver(make_s3_conf(backup_s3_store_bucket=bucket))
    drv.check_setup()
    yield drv
    drv.close()
