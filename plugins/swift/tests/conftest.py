"""Fixtures for tests against the real Swift of ``scripts/servers/swift.sh``.

The server defaults to tempauth on 127.0.0.1:8080 (``EMBER_SWIFT_PORT`` moves it);
``EMBER_SWIFT_AUTH_URL`` / ``_USER`` / ``_KEY`` point the tests at another Swift.
"""

import os
import uuid

import pytest
import swiftclient

from ember.testing.config import make_conf
from ember.testing.services import require, tcp_open
from ember_swift import opts
from ember_swift.driver import SwiftBackupDriver

PORT = int(os.environ.get("EMBER_SWIFT_PORT", "8080"))
AUTH_URL = os.environ.get("EMBER_SWIFT_AUTH_URL", "http://127.0.0.1:%d/auth/v1.0" % PORT)
USER = os.environ.get("EMBER_SWIFT_USER", "test:tester")
KEY = os.environ.get("EMBER_SWIFT_KEY", "testing")


@pytest.fixture(scope="session")
def swift_server():
    """Skips (fails under CI=true) unless the Swift proxy answers on 127.0.0.1."""
    require(tcp_open("127.0.0.1", PORT), "Swift on 127.0.0.1:%d" % PORT,
            "bash scripts/servers/swift.sh start")
    return AUTH_URL


@pytest.fixture(scope="session")
def swift_credentials(swift_server):
    """(auth URL, user, key) of the test server, for tests that configure Ember
    themselves (test modules cannot import conftest under --import-mode=importlib)."""
    return AUTH_URL, USER, KEY


@pytest.fixture
def admin(swift_server):
    """A plain swiftclient connection, to look at the server behind the driver's back."""
    conn = swiftclient.Connection(authurl=AUTH_URL, user=USER, key=KEY, retries=0)
    yield conn
    conn.close()


@pytest.fixture
def swift_conf(swift_server):
    """``swift_conf(**overrides)``: a ConfigOpts with the Swift options, single_user on
    the test server, ``overrides`` applied."""
    def make(**overrides):
        settings = dict(backup_swift_auth="single_user", backup_swift_auth_url=AUTH_URL,
                        backup_swift_user=USER, backup_swift_key=KEY)
        settings.update(overrides)
        return make_conf(extra_opts=opts.swift_opts, **settings)
    return make


@pytest.fixture
def conf(swift_conf):
    return swift_conf()


@pytest.fixture
def container(admin):
    """A fresh container name; the container and everything in it is removed afterwards."""
    name = "ember-test-%s" % uuid.uuid4().hex[:12]
    yield name
    try:
        _, listing = admin.get_container(name, full_listing=True)
    except swiftclient.ClientException:
        return
    for entry in listing:
        admin.delete_object(name, entry["name"])
    admin.delete_container(name)


@pytest.fixture
def driver(conf, container):
    drv = SwiftBackupDriver(conf)
    drv.check_setup()
    yield drv
    drv.close()
