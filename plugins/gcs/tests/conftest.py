"""Fixtures for the GCS driver tests: a real fake-gcs-server on 127.0.0.1 and a fresh
bucket per test, emptied and removed afterwards."""

import os
import urllib.parse
import uuid

import pytest

from ember.testing.config import make_conf
from ember.testing.services import require, tcp_open

from ember_gcs import opts
from ember_gcs.driver import GoogleBackupDriver

#: the emulator scripts/servers/gcs.sh starts; STORAGE_EMULATOR_HOST points elsewhere
ENDPOINT = os.environ.get("STORAGE_EMULATOR_HOST") or "http://127.0.0.1:4443"


def make_gcs_conf(**overrides):
    """Core and GCS options, talking to the emulator unless ``overrides`` say otherwise."""
    settings = {"backup_gcs_endpoint_url": ENDPOINT, "backup_driver": "gcs"}
    settings.update(overrides)
    return make_conf(extra_opts=opts.gcs_opts, **settings)


def new_bucket_name() -> str:
    return "ember-test-%s" % uuid.uuid4().hex[:12]


@pytest.fixture
def gcs_conf():
    """``gcs_conf(**overrides)``: a fresh ConfigOpts with the GCS options (see
    ``make_gcs_conf``)."""
    return make_gcs_conf


@pytest.fixture
def gcs_endpoint():
    url = urllib.parse.urlsplit(ENDPOINT)
    require(tcp_open(url.hostname, url.port or 80), "fake-gcs-server at %s" % ENDPOINT,
            "bash scripts/servers/gcs.sh start")
    return ENDPOINT


@pytest.fixture
def bucket(gcs_endpoint):
    """A bucket name no other test uses; whatever a test left in it is removed."""
    name = new_bucket_name()
    yield name
    cleaner = GoogleBackupDriver(make_gcs_conf())
    for obj in cleaner.list_objects(name):
        cleaner.delete_object(name, obj)
    from google.api_core import exceptions as api
    try:
        cleaner._client().bucket(name).delete(retry=None)
    except api.NotFound:
        pass
    cleaner.close()


@pytest.fixture
def driver(bucket):
    """The bare driver (no retry wrapper) with ``backup_gcs_bucket`` = the test's bucket."""
    drv = GoogleBackupDriver(make_gcs_conf(backup_gcs_bucket=bucket))
    drv.check_setup()
    yield drv
    drv.close()
