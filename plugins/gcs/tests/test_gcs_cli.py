"""The ``ember`` command with ``backup_driver = gcs`` against fake-gcs-server: the
object-store suite (full and incremental backups restored bit-exact, objects named as
Cinder names them, delete and cancel during upload leave nothing), and the one-line
errors for unusable credentials and a missing bucket."""

import pytest

from ember.testing.cli import EmberCLI, MiB
from ember.testing.object_store_cli import ObjectStoreCLI

from ember_gcs.driver import GoogleBackupDriver


@pytest.fixture
def container(bucket):  # conftest's bucket: removed after the test
    return bucket


@pytest.fixture
def ember(tmp_path, gcs_endpoint, bucket):
    """``ember`` with GCS at the emulator, 1 MiB objects of 4 KiB blocks."""
    return EmberCLI(tmp_path, {
        "OS_DEFAULT__BACKUP_DRIVER": "gcs",
        "OS_DEFAULT__BACKUP_GCS_ENDPOINT_URL": gcs_endpoint,
        "OS_DEFAULT__BACKUP_GCS_BUCKET": bucket,
        "OS_DEFAULT__BACKUP_GCS_OBJECT_SIZE": str(MiB),
        "OS_DEFAULT__BACKUP_GCS_BLOCK_SIZE": "4096",
    })


@pytest.fixture
def store(bucket, gcs_conf):
    """The bucket as the server shows it (a driver of our own, outside the CLI)."""
    with GoogleBackupDriver(gcs_conf(backup_gcs_bucket=bucket)) as driver:
        yield driver


class TestGcsCLI(ObjectStoreCLI):
    service = "cinder.backup.drivers.gcs.GoogleBackupDriver"
    object_size = MiB


def test_a_missing_bucket_is_one_clear_line(ember, bucket, gcs_endpoint):
    ember.create_volume("vol1", "1M")
    line = ember.fails("volume", "backup", "create", "vol1",
                       env={"OS_DEFAULT__BACKUP_CREATE_CONTAINERS": "false"})
    assert ("GCS bucket %s does not exist at %s and backup_create_containers is False"
            % (bucket, gcs_endpoint)) in line


def test_an_unusable_credential_file_is_one_clear_line(ember, tmp_path):
    key = tmp_path / "missing-key.json"
    ember.create_volume("vol1", "1M")
    line = ember.fails("volume", "backup", "create", "vol1",
                       env={"OS_DEFAULT__BACKUP_GCS_CREDENTIAL_FILE": str(key)})
    assert ("backup_gcs_credential_file %s does not exist; point it at a service-account "
            "JSON key file" % key) in line
