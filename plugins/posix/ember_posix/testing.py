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
import sqlite3
import time

from ember.testing.cli import MiB, pattern, sha256_file, words, write_at
from ember.testing.processes import held
from ember.testing.services import PATIENCE

CANCELLED = ("ember: Backup %s was cancelled: it was force-deleted while it ran; its "
             "objects were removed.")


def on_share(share_dir, container) -> list[str]:
    """Every file in the container's directory on the server (dot files included)."""
    try:
        return sorted(os.listdir(os.path.join(share_dir, container)))
    except FileNotFoundError:
        return []


def _status(ember, name: str = "doomed") -> str | None:
    """The status of backup ``name``, read straight from the catalogue (no process)."""
    path = ember.state / "ember.sqlite"
    with sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=PATIENCE) as db:
        rows = db.execute("SELECT status FROM backups WHERE display_name = ?",
                          (name,)).fetchall()
    return rows[0][0] if rows else None


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
        # bz2 on 128 MiB of text with one engine thread runs for seconds; the backup is
        # held still (SIGSTOP) from its first object until the force delete has landed,
        # so on a loaded machine neither can outrun the other
        volume_id = ember.create_volume("big", "128M", words(128 * MiB))["id"]
        running = ember.start("volume", "backup", "create", "--container", container,
                              "--name", "doomed", "big",
                              env={"OS_DEFAULT__BACKUP_COMPRESSION_ALGORITHM": "bz2",
                                   "OS_DEFAULT__BACKUP_ENGINE_THREADS": "1"})

        def written() -> list[str]:
            return [name for name in on_share(share_dir, container)
                    if name.startswith("volume_%s_" % volume_id)]

        try:
            with held(running, lambda: bool(written()) and _status(ember) == "creating"):
                backup_id = written()[0].split("_backup_")[1][:36]  # <prefix>-NNNNN
                deleting = ember.start("volume", "backup", "delete", "--force", backup_id)
                deadline = time.monotonic() + PATIENCE
                while _status(ember) != "deleting":
                    assert deleting.poll() is None, deleting.communicate()
                    assert time.monotonic() < deadline, "the force delete never landed"
                    time.sleep(0.05)
            assert deleting.wait(timeout=PATIENCE) == 0, deleting.communicate()
            _, err = running.communicate(timeout=PATIENCE)
        finally:
            if running.poll() is None:
                running.kill()
                running.communicate()
        assert running.returncode == 1, err
        assert err.strip() == CANCELLED % backup_id
        assert on_share(share_dir, container) == []
        assert ember.json("volume", "backup", "list") == []
        assert ember.json("volume", "show", "big")["status"] == "available"
