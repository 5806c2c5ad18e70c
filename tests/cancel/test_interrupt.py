"""Ctrl-C (SIGINT) during a backup, a restore or a delete: the work stops, what it leaves
is cleaned up at once (not by the next command's repair), one line says what was done,
and the exit status is 130."""

import os
import signal

from ember.testing.processes import held

MiB = 1 << 20


def _interrupt(proc, under_way) -> str:
    """SIGINT while the operation is held still in the middle of its work (``under_way``:
    started, not finished), so it lands before the end whatever the machine's load;
    returns the one stderr line."""
    with held(proc, under_way):
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
    # its first 16 MiB object committed, not its last
    line = _interrupt(proc, ember.committed("-00001", "-00003"))
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

    def under_way():  # a first object's bytes written, not all of them
        return 0 < os.stat(path).st_blocks * 512 < 48 * MiB

    line = _interrupt(proc, under_way)
    assert line == ("ember: Interrupted: the restore of backup %s was stopped; the new volume "
                    "%s it was writing was removed." % (backup_id, volume_id))
    assert ember.query("SELECT status, owner_pid FROM backups WHERE id = ?", backup_id) == [
        ("available", None)]
    assert ember.query("SELECT deleted FROM volumes WHERE id = ?", volume_id) == [(1,)]
    assert not (ember.state / "volumes" / ("volume-%s" % volume_id)).exists()
    assert path.endswith(volume_id)
