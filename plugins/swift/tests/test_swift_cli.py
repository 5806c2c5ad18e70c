"""End to end through the ``ember`` executable with ``backup_driver = swift`` against
the real Swift: the object-store suite (full and incremental backups restored bit-exact,
objects named as Cinder names them, delete and a force delete cancelling a running
upload leave nothing), and the one-line errors for a wrong key and a missing container."""

import pytest

from ember.testing.cli import EmberCLI, MiB, pattern
from ember.testing.object_store_cli import ObjectStoreCLI

from ember_swift.driver import SwiftBackupDriver


@pytest.fixture
def ember(tmp_path, swift_credentials, container):
    """``ember`` configured for Swift through oslo.config's environment source
    (OS_DEFAULT__<OPTION>), 1 MiB objects of 4 KiB blocks."""
    auth_url, user, key = swift_credentials
    return EmberCLI(tmp_path, {
        "OS_DEFAULT__BACKUP_DRIVER": "swift",
        "OS_DEFAULT__BACKUP_SWIFT_AUTH": "single_user",
        "OS_DEFAULT__BACKUP_SWIFT_AUTH_URL": auth_url,
        "OS_DEFAULT__BACKUP_SWIFT_USER": user,
        "OS_DEFAULT__BACKUP_SWIFT_KEY": key,
        "OS_DEFAULT__BACKUP_SWIFT_CONTAINER": container,
        "OS_DEFAULT__BACKUP_SWIFT_OBJECT_SIZE": str(MiB),
        "OS_DEFAULT__BACKUP_SWIFT_BLOCK_SIZE": "4096",
    })


@pytest.fixture
def store(swift_conf, container):
    """The container as the server shows it (a driver of our own, outside the CLI)."""
    with SwiftBackupDriver(swift_conf(backup_swift_container=container)) as driver:
        yield driver


class TestSwiftCLI(ObjectStoreCLI):
    service = "cinder.backup.drivers.swift.SwiftBackupDriver"
    object_size = MiB


def test_wrong_key_fails_with_one_line(ember):
    ember.create_volume("vol1", "1M", pattern(4, MiB))
    line = ember.fails("volume", "backup", "create", "vol1",
                       env={"OS_DEFAULT__BACKUP_SWIFT_KEY": "not-the-key"})
    assert "Swift refused authentication of http://127.0.0.1:8080/auth/v1.0 for user " \
           "test:tester (HTTP 401 Unauthorized)" in line, line
    assert "not-the-key" not in line


def test_missing_container_with_create_containers_off_fails_with_one_line(
        ember, admin, store, container):
    ember.create_volume("vol1", "1M", pattern(5, MiB))
    line = ember.fails("volume", "backup", "create", "vol1",
                       env={"OS_DEFAULT__BACKUP_CREATE_CONTAINERS": "false"})
    assert ("Swift container %s does not exist at http://127.0.0.1:8080/v1/AUTH_test and "
            "backup_create_containers is False" % container) in line, line
    assert store.list_objects(container) == [] and admin.get_account(prefix=container)[1] == []
