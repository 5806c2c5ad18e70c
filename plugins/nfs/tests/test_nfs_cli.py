"""End to end through the ``ember`` executable with ``backup_driver = nfs`` (userspace
client: this kernel has no NFS client) against the real nfs-ganesha: full and incremental
backups restored bit-exact, the objects on the share exactly as Cinder names them, delete
(nothing of theirs left on the share), and a force delete cancelling a running backup
(nothing left, not even a temporary file), and a backup written by the posix driver onto
the exported directory restored and deleted through nfs.

The share is looked at through the server's export directory, not through the driver
under test. Each test has its own container (a top-level directory of the export),
removed afterwards.
"""

import uuid

import pytest
from ember.testing.cli import EmberCLI, MiB, pattern, sha256_file
from ember_posix.testing import PosixFamilyCLI, cinder_names, on_share


@pytest.fixture
def container(export_cleanup):
    name = "ember-cli-%s" % uuid.uuid4().hex[:12]
    export_cleanup.append(name)
    return name


@pytest.fixture
def ember(tmp_path, nfs_exports, libnfs_installed):
    return EmberCLI(tmp_path, {
        "OS_DEFAULT__BACKUP_DRIVER": "nfs",
        "OS_DEFAULT__BACKUP_NFS_CLIENT": "userspace",
        "OS_DEFAULT__BACKUP_SHARE": nfs_exports.share,
    })


class TestNfsCLI(PosixFamilyCLI):
    service = "cinder.backup.drivers.nfs.NFSBackupDriver"

    @pytest.fixture
    def share_dir(self, nfs_exports):
        return nfs_exports.dir


def test_backup_written_through_posix_on_the_export_restores_through_nfs(
        ember, nfs_exports, container):
    # the posix family shares one format: same catalogue, the driver switched underneath
    posix = {"OS_DEFAULT__BACKUP_DRIVER": "posix",
             "OS_DEFAULT__BACKUP_POSIX_PATH": nfs_exports.dir}
    path = ember.create_volume("vol1", "3M", pattern(3, 3 * MiB))["path"]
    expected = sha256_file(path)
    backup = ember.json("volume", "backup", "create", "--container", container, "vol1",
                        env=posix)
    assert backup["service"] == "cinder.backup.drivers.posix.PosixBackupDriver"
    assert on_share(nfs_exports.dir, container) == cinder_names(backup, 3)

    restored = ember.json("volume", "backup", "restore", backup["id"])  # through nfs
    assert sha256_file(ember.json("volume", "show", restored["volume_id"])["path"],
                       3 * MiB) == expected
    ember.ok("volume", "backup", "delete", backup["id"])  # through nfs too
    assert on_share(nfs_exports.dir, container) == []
