"""The end-to-end CLI checks every posix-family driver (nfs, glusterfs) must pass through
the real ``ember`` executable: full and incremental backups restored bit-exact, the
objects on the share exactly as Cinder names them, delete (nothing of theirs left), and a
force delete cancelling a running backup (nothing left, not even a temporary file).

A plugin's test subclasses :class:`PosixFamilyCLI` and provides the fixtures ``ember``
(an :class:`ember.testing.cli.EmberCLI` configured for its driver), ``container`` (a unique
container name, cleaned up afterwards) and ``share_dir`` (where the server keeps the
containers: looked at directly, not through the driver under test), and sets ``service``.
"""

import os
import re
import time

from ember.testing.cli import MiB, pattern, sha256_file, words, write_at

CANCELLED = ("ember: Backup %s was cancelled: it was force-deleted while it ran; its "
             "objects were removed.")


def on_share(share_dir, container) -> list[str]:
    """Every file in the container's directory on the server (dot files included)."""
    try:
        return sorted(os.listdir(os.path.join(share_dir, container)))
    except FileNotFoundError:
        return []


def cinder_names(backup, data_objects) -> list[str]:
    """The files Cinder's posix family writes for a backup: ``<prefix>-00001`` ...,
    ``<prefix>_metadata`` and ``<prefix>_sha256file``."""
    prefix = backup["service_metadata"]
    return sorted(["%s-%05d" % (prefix, n) for n in range(1, data_objects + 1)]
                  + [prefix + "_metadata", prefix + "_sha256file"])


class PosixFamilyCLI:
    #: Cinder's class path of the driver under test, recorded as the backups' service
    service = ""

    def test_full_incremental_restore_delete(self, ember, share_dir, container):
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
        assert full["service"] == inc["service"] == self.service
        for backup, data_objects in ((full, 8), (inc, 2)):
            assert re.fullmatch(r"volume_%s_\d{14}_backup_%s"
                                % (backup["volume_id"], backup["id"]),
                                backup["service_metadata"]), backup["service_metadata"]
            assert backup["object_count"] == data_objects
        assert on_share(share_dir, container) == sorted(
            cinder_names(full, 8) + cinder_names(inc, 2))

        for backup, expected in ((inc, sums[1]), (full, sums[0])):
            restored = ember.json("volume", "backup", "restore", backup["id"])
            assert restored["volume_id"] != full["volume_id"]
            target = ember.json("volume", "show", restored["volume_id"])["path"]
            assert sha256_file(target, 8 * MiB) == expected

        ember.ok("volume", "backup", "delete", "inc")
        assert on_share(share_dir, container) == cinder_names(full, 8)
        ember.ok("volume", "backup", "delete", "full")
        assert on_share(share_dir, container) == []
        assert ember.json("volume", "backup", "list") == []

    def test_force_delete_cancels_a_running_backup_and_leaves_nothing(
            self, ember, share_dir, container):
        # bz2 on 128 MiB of text with one engine thread takes seconds, so the force delete
        # (a new process: ~1 s to start) lands while the backup runs
        volume_id = ember.create_volume("big", "128M", words(128 * MiB))["id"]
        running = ember.start("volume", "backup", "create", "--container", container,
                              "--name", "doomed", "big",
                              env={"OS_DEFAULT__BACKUP_COMPRESSION_ALGORITHM": "bz2",
                                   "OS_DEFAULT__BACKUP_ENGINE_THREADS": "1"})
        deadline = time.monotonic() + 60
        while not (written := [name for name in on_share(share_dir, container)
                               if name.startswith("volume_%s_" % volume_id)]):
            assert running.poll() is None and time.monotonic() < deadline, \
                running.stderr.read()
            time.sleep(0.05)
        backup_id = written[0].split("_backup_")[1][:36]  # <prefix>-NNNNN; ends in the id

        ember.ok("volume", "backup", "delete", "--force", backup_id)
        _, err = running.communicate(timeout=120)
        assert running.returncode == 1, err
        assert err.strip() == CANCELLED % backup_id
        assert on_share(share_dir, container) == []
        assert ember.json("volume", "backup", "list") == []
        assert ember.json("volume", "show", "big")["status"] == "available"
