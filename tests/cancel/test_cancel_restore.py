"""Cancelling a running ``ember volume backup restore`` from another process: a reset of
the backup's status stops it within ``ember.NOTICE_WITHIN`` (2) seconds, the target
volume ends ``error``, the backup ``available`` (as in Cinder, spec §3.5), and
``restore`` exits 1 saying so."""

import time

import pytest

CANCELLED = ("ember: Restore of backup %s into volume %s was cancelled; the volume is now "
             "in error.")


@pytest.fixture
def backed_up(ember):
    ember.volume("source", 48)
    backup = ember.json("volume", "backup", "create", "source", "--name", "big")
    return backup["id"]


@pytest.mark.parametrize("command, onto_existing", [
    (("volume", "backup", "set", "--state", "error"), False),
    (("backup-reset-state", "--state", "error"), True),
])
def test_a_reset_to_error_cancels_a_running_restore(ember, backed_up, command, onto_existing):
    if onto_existing:
        target = ember.json("volume", "create", "--size", "48M", "target")["id"]
        proc = ember.start("volume", "backup", "restore", backed_up, target)
    else:
        proc = ember.start("volume", "backup", "restore", backed_up, "target")
    (target,), _ = ember.wait_for("SELECT restore_volume_id FROM backups WHERE id = ? AND "
                                  "status = 'restoring'", backed_up)
    time.sleep(1.0)  # well into the restore (it takes several seconds)
    assert proc.poll() is None, proc.communicate()
    resetter = ember.start(*command[:-2], backed_up, *command[-2:])

    _, before = ember.wait_for("SELECT 1 FROM backups WHERE id = ? AND status = 'error'",
                               backed_up)
    ember.wait_for("SELECT 1 FROM volumes WHERE id = ? AND status = 'error'", target)
    reacted = time.monotonic() - before

    _, err = proc.communicate(timeout=60)
    assert err.strip().splitlines() == [CANCELLED % (backed_up, target)], err
    assert proc.returncode == 1
    assert resetter.wait(timeout=60) == 0, resetter.communicate()
    assert reacted < ember.NOTICE_WITHIN
    assert ember.json("volume", "show", target)["status"] == "error"
    backup = ember.json("volume", "backup", "show", backed_up)
    assert (backup["status"], backup["restore_volume_id"]) == ("available", target)
