"""Ctrl-C (SIGINT) during a backup, a restore or a delete: the work stops, what it leaves
is cleaned up at once (not by the next command's repair), one line says what was done,
and the exit status is 130."""

import signal
import time


def _interrupt(ember, proc, sql, *params) -> str:
    """SIGINT once ``sql`` sees the operation running; returns the one stderr line."""
    ember.wait_for(sql, *params)
    time.sleep(0.3)  # well inside the engine's work
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    lines = err.strip().splitlines()
    assert proc.returncode == 130, err
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_ctrl_c_during_a_backup_removes_its_objects_and_row_at_once(ember):
    ember.env["OS_DEFAULT__BACKUP_FILE_SIZE"] = str(16 << 20)
    volume = ember.volume("busy", 48)
    proc = ember.start("volume", "backup", "create", "busy", "--name", "stopped")
    (backup_id,), _ = ember.wait_for(
        "SELECT id FROM backups WHERE display_name = 'stopped' AND status = 'creating'")
    line = _interrupt(ember, proc, "SELECT 1 FROM backups WHERE id = ?", backup_id)
    assert line == ("ember: Interrupted: backup %s was stopped; the objects it wrote and its "
                    "catalogue row were removed, and volume %s has its status back."
                    % (backup_id, volume["id"]))
    # at once: read straight from the catalogue and the repository, no ember in between
    assert ember.query("SELECT status, deleted, owner_pid FROM backups WHERE id = ?",
                       backup_id) == [("deleted", 1, None)]
    assert ember.query("SELECT status FROM volumes WHERE id = ?", volume["id"]) == [
        ("available",)]
    assert ember.files() == []


def test_ctrl_c_during_a_restore_into_a_new_volume_removes_that_volume(ember):
    ember.env["OS_DEFAULT__BACKUP_FILE_SIZE"] = str(16 << 20)
    ember.volume("busy", 48)
    ember.ok("volume", "backup", "create", "busy", "--name", "b")
    backup_id = ember.json("volume", "backup", "show", "b")["id"]
    proc = ember.start("volume", "backup", "restore", "b", "copy")
    (volume_id, path), _ = ember.wait_for(
        "SELECT id, path FROM volumes WHERE display_name = 'copy' AND status = "
        "'restoring-backup'")
    line = _interrupt(ember, proc, "SELECT 1 FROM backups WHERE id = ? AND status = "
                      "'restoring'", backup_id)
    assert line == ("ember: Interrupted: the restore of backup %s was stopped; the new volume "
                    "%s it was writing was removed." % (backup_id, volume_id))
    assert ember.query("SELECT status, owner_pid FROM backups WHERE id = ?", backup_id) == [
        ("available", None)]
    assert ember.query("SELECT deleted FROM volumes WHERE id = ?", volume_id) == [(1,)]
    assert not (ember.state / "volumes" / ("volume-%s" % volume_id)).exists()
    assert path.endswith(volume_id)
