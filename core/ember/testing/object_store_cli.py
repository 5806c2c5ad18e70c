"""The end-to-end CLI checks every object-store driver (swift, gcs, s3) must pass through
the real ``ember`` executable: full and incremental backups restored bit-exact, the
objects on the server exactly as Cinder names them, delete (nothing of theirs left), and
a force delete cancelling a running upload (nothing left).

A plugin's test subclasses :class:`ObjectStoreCLI`, sets ``service`` and ``object_size``
and provides the fixtures ``ember`` (an :class:`ember.testing.cli.EmberCLI` configured
for its driver, with ``object_size`` objects of 4 KiB blocks and the test's container
as the default one), ``store`` (a driver of its own on the same server, to look at the
container outside the CLI) and ``container`` (a unique name, removed afterwards).
"""

import re
import sqlite3
import time

from ember.testing.cli import pattern, sha256_file, words, write_at
from ember.testing.processes import held
from ember.testing.services import PATIENCE

MiB = 1 << 20
CANCELLED = ("ember: Backup %s was cancelled: it was force-deleted while it ran; its "
             "objects were removed.")


def _status(ember, name: str) -> str | None:
    """The status of backup ``name``, read straight from the catalogue (no process)."""
    path = ember.state / "ember.sqlite"
    with sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=PATIENCE) as db:
        rows = db.execute("SELECT status FROM backups WHERE display_name = ?",
                          (name,)).fetchall()
    return rows[0][0] if rows else None


class ObjectStoreCLI:
    #: Cinder's class path of the driver under test, recorded as the backups' service
    service = ""
    #: bytes of volume per object, as the ``ember`` fixture configures the driver
    object_size = MiB
    #: environment of the backup the cancel test force-deletes (bz2 and one engine
    #: thread are always set, so it runs for seconds)
    cancel_env: dict = {}

    # ---- what a plugin may refine ----------------------------------------------------
    def names(self, store, container, prefix="") -> list:
        """Object names in the container under ``prefix``, sorted."""
        return sorted(store.list_objects(container, prefix))

    def leftovers(self, store, container, prefix="") -> list:
        """What a deleted or cancelled backup may not leave (s3 adds unfinished
        multipart uploads)."""
        return self.names(store, container, prefix)

    def check_stored(self, store, container, full) -> None:
        """More checks of the full backup's objects on the server."""

    def gone(self, store, container, prefix="") -> bool:
        """Nothing left under ``prefix`` within ``PATIENCE`` (a delete may finish in the
        background)."""
        deadline = time.monotonic() + PATIENCE
        while self.leftovers(store, container, prefix):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    # ---- the checks --------------------------------------------------------------------
    def test_full_incremental_restore_delete(self, ember, store, container):
        size = 3 * self.object_size
        path = ember.create_volume("vol1", "%dM" % (size // MiB),
                                   pattern(1, size - self.object_size // 2))["path"]
        sums = [sha256_file(path)]
        full = ember.json("volume", "backup", "create", "--name", "full", "vol1")
        write_at(path, self.object_size - 4096, pattern(2, 12288))  # across a boundary
        sums.append(sha256_file(path))
        inc = ember.json("volume", "backup", "create", "--incremental", "--name", "inc",
                         "vol1")

        assert (full["status"], inc["status"], inc["parent_id"]) == (
            "available", "available", full["id"])
        assert full["container"] == inc["container"] == container
        assert full["service"] == inc["service"] == self.service
        for backup, data_objects in ((full, 3), (inc, 2)):
            prefix = backup["service_metadata"]
            assert re.fullmatch(r"volume_%s/\d{14}/az_nova_backup_%s"
                                % (backup["volume_id"], backup["id"]), prefix), prefix
            assert backup["object_count"] == data_objects
            assert self.names(store, container, prefix) == sorted(
                ["%s-%05d" % (prefix, n) for n in range(1, data_objects + 1)]
                + [prefix + "_metadata", prefix + "_sha256file"])
        self.check_stored(store, container, full)

        for backup, expected in ((inc, sums[1]), (full, sums[0])):
            restored = ember.json("volume", "backup", "restore", backup["id"])
            assert sha256_file(ember.volume_path(restored["volume_id"])) == expected

        ember.ok("volume", "backup", "delete", "inc")
        assert self.gone(store, container, inc["service_metadata"])
        assert self.names(store, container, full["service_metadata"])  # the parent stays
        ember.ok("volume", "backup", "delete", "full")
        assert self.gone(store, container)
        assert ember.json("volume", "backup", "list") == []

    def test_force_delete_cancels_a_running_upload_and_leaves_nothing(self, ember, store,
                                                                       container):
        # bz2 on 128 MiB of text with one engine thread takes seconds; the backup is held
        # still (``held``) once it has uploaded an object, until the force delete from
        # another process has landed, so it lands while the backup runs on any machine
        volume = ember.create_volume("big", "128M", words(128 * MiB))
        prefix = "volume_%s/" % volume["id"]
        running = ember.start("volume", "backup", "create", "--name", "doomed", "big",
                              env=dict({"OS_DEFAULT__BACKUP_COMPRESSION_ALGORITHM": "bz2",
                                        "OS_DEFAULT__BACKUP_ENGINE_THREADS": "1"},
                                       **self.cancel_env))
        try:
            with held(running, lambda: bool(self.names(store, container, prefix))
                      and _status(ember, "doomed") == "creating"):
                uploaded = self.names(store, container, prefix)
                backup_id = uploaded[0].split("_backup_")[1][:36]  # the prefix ends in it
                deleting = ember.start("volume", "backup", "delete", "--force", backup_id)
                deadline = time.monotonic() + PATIENCE
                while _status(ember, "doomed") != "deleting":
                    assert deleting.poll() is None, deleting.communicate()
                    assert time.monotonic() < deadline, "the force delete never landed"
                    time.sleep(0.05)
            assert deleting.wait(timeout=PATIENCE) == 0, deleting.communicate()
            _, err = running.communicate(timeout=PATIENCE)
        finally:
            if running.poll() is None:
                running.kill()
                running.communicate()
        assert running.returncode == 1
        assert err.strip() == CANCELLED % backup_id
        assert self.gone(store, container, prefix)
        assert ember.json("volume", "backup", "list") == []
        assert ember.json("volume", "show", "big")["status"] == "available"
