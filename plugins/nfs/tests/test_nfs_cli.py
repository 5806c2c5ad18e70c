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

import os
import re
import time
import uuid

import pytest
from cli_harness import EmberCLI, MiB, pattern, sha256_file, words, write_at

SERVICE = "cinder.backup.drivers.nfs.NFSBackupDriver"
CANCELLED = ("ember: Backup %s was cancelled: it was force-deleted while it ran; its "
             "objects were removed.")


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


def on_share(nfs_exports, container) -> list[str]:
    """Every file in the container's directory on the server (dot files included)."""
    try:
        return sorted(os.listdir(os.path.join(nfs_exports.dir, container)))
    except FileNotFoundError:
        return []


def cinder_names(backup, data_objects) -> list[str]:
    """The files Cinder's posix family writes for a backup: ``<prefix>-00001`` ...,
    ``<prefix>_metadata`` and ``<prefix>_sha256file``."""
    prefix = backup["service_metadata"]
    return sorted(["%s-%05d" % (prefix, n) for n in range(1, data_objects + 1)]
                  + [prefix + "_metadata", prefix + "_sha256file"])


def test_full_incremental_restore_delete(ember, nfs_exports, container):
    path = ember.create_volume("vol1", "8M", pattern(1, 6 * MiB))["path"]
    sums = [sha256_file(path, 8 * MiB)]
    full = ember.json("volume", "backup", "create", "--container", container,
                      "--name", "full", "vol1")
    write_at(path, 3 * MiB - 4096, pattern(2, 12288))  # across an object boundary
    sums.append(sha256_file(path, 8 * MiB))
    inc = ember.json("volume", "backup", "create", "--container", container,
                     "--incremental", "--name", "inc", "vol1")

    assert (full["status"], inc["status"], inc["parent_id"]) == (
        "available", "available", full["id"])
    assert full["container"] == inc["container"] == container
    assert full["service"] == inc["service"] == SERVICE
    for backup, data_objects in ((full, 8), (inc, 2)):
        assert re.fullmatch(r"volume_%s_\d{14}_backup_%s" % (backup["volume_id"], backup["id"]),
                            backup["service_metadata"]), backup["service_metadata"]
        assert backup["object_count"] == data_objects
    assert on_share(nfs_exports, container) == sorted(
        cinder_names(full, 8) + cinder_names(inc, 2))

    for backup, expected in ((inc, sums[1]), (full, sums[0])):
        restored = ember.json("volume", "backup", "restore", backup["id"])
        assert restored["volume_id"] != full["volume_id"]
        target = ember.json("volume", "show", restored["volume_id"])["path"]
        assert sha256_file(target, 8 * MiB) == expected

    ember.ok("volume", "backup", "delete", "inc")
    assert on_share(nfs_exports, container) == cinder_names(full, 8)
    ember.ok("volume", "backup", "delete", "full")
    assert on_share(nfs_exports, container) == []
    assert ember.json("volume", "backup", "list") == []


def test_force_delete_cancels_a_running_backup_and_leaves_nothing(
        ember, nfs_exports, container):
    # bz2 on 128 MiB of text with one engine thread takes seconds, so the force delete
    # (a new process: ~1 s to start) lands while the backup runs
    volume_id = ember.create_volume("big", "128M", words(128 * MiB))["id"]
    running = ember.start("volume", "backup", "create", "--container", container,
                          "--name", "doomed", "big",
                          env={"OS_DEFAULT__BACKUP_COMPRESSION_ALGORITHM": "bz2",
                               "OS_DEFAULT__BACKUP_ENGINE_THREADS": "1"})
    deadline = time.monotonic() + 60
    while not (written := [name for name in on_share(nfs_exports, container)
                           if name.startswith("volume_%s_" % volume_id)]):
        assert running.poll() is None and time.monotonic() < deadline, running.stderr.read()
        time.sleep(0.05)
    backup_id = written[0].split("_backup_")[1][:36]  # <prefix>-NNNNN, prefix ends in the id

    ember.ok("volume", "backup", "delete", "--force", backup_id)
    _, err = running.communicate(timeout=120)
    assert running.returncode == 1, err
    assert err.strip() == CANCELLED % backup_id
    assert on_share(nfs_exports, container) == []
    assert ember.json("volume", "backup", "list") == []
    assert ember.json("volume", "show", "big")["status"] == "available"


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
    assert on_share(nfs_exports, container) == cinder_names(backup, 3)

    restored = ember.json("volume", "backup", "restore", backup["id"])  # through nfs
    assert sha256_file(ember.json("volume", "show", restored["volume_id"])["path"],
                       3 * MiB) == expected
    ember.ok("volume", "backup", "delete", backup["id"])  # through nfs too
    assert on_share(nfs_exports, container) == []
