"""Cancelling a running ``ember volume backup restore`` from another process: a reset of
the backup's status stops it, the target
volume ends ``error``, the backup ``available`` (as in Cinder: docs/format.md, Cancellation), and
``restore`` exits 1 saying so."""

import os
import time

import pytest
from ember.testing.processes import held
from ember.testing.services import PATIENCE

MiB = 1 << 20

CANCELLED = ("ember: Restore of backup %s into volume %s was cancelled; the volume is now "
             "in error.")


@pytest.fixture
def backed_up(ember):
    ember.volume("source", 64)
    backup = ember.json("volume", "backup", "create", "source", "--name", "big")
    return backup["id"]


@pytest.mark.parametrize("command, onto_existing", [
    (("volume", "backup", "set", "--state", "error"), False),
    (("backup-reset-state", "--state", "error"), True),
])
def test_a_reset_to_error_cancels_a_running_restore(ember, backed_up, command, onto_existing):
    shell = ember.shell("source")
    if onto_existing:
        target = ember.json("volume", "create", "--size", "64M", "target")["id"]
        proc = ember.start("volume", "backup", "restore", "--force", backed_up, target)
    else:
        proc = ember.start("volume", "backup", "restore", backed_up, "target")
    (target,), _ = ember.wait_for("SELECT restore_volume_id FROM backups WHERE id = ? AND "
                                  "status = 'restoring'", backed_up)
    (path,), _ = ember.wait_for("SELECT path FROM volumes WHERE id = ?", target)

    def under_way():  # well into the restore, not at its end (a new volume starts sparse;
        # the existing one was made sparse too)
        return 4 * MiB <= os.stat(path).st_blocks * 512 < 64 * MiB

    # held still until the reset has landed, so it lands before the restore's end
    with held(proc, under_way):
        shell.send(" ".join(command[:-2] + (backed_up,) + command[-2:]))
        ember.wait_for("SELECT 1 FROM backups WHERE id = ? AND status = 'error'", backed_up)
    before = time.monotonic()
    ember.wait_for("SELECT 1 FROM volumes WHERE id = ? AND status = 'error'", target)
    reacted = time.monotonic() - before
    print("reacted in %.2f s" % reacted)  # a figure, shown with pytest -s; tests assert no timings

    _, err = proc.communicate(timeout=PATIENCE)
    assert err.strip().splitlines() == [CANCELLED % (backed_up, target)], err
    assert proc.returncode == 1
    assert shell.close() == ""
    assert ember.json("volume", "show", target)["status"] == "error"
    backup = ember.json("volume", "backup", "show", backed_up)
    assert (backup["status"], backup["restore_volume_id"]) == ("available", target)
