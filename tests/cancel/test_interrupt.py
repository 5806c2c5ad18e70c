"""Ctrl-C (SIGINT) during a backup, a restore or a delete: the work stops, what it leaves
is cleaned up at once (not by the next command's repair), one line says what was done,
and the exit status is 130."""

import os
import signal
import time

import pytest

from ember.testing.processes import held, state
from ember.testing.services import PATIENCE

MiB = 1 << 20


def _interrupt(proc, under_way) -> str:
    """SIGINT while the operation is held still in the middle of its work (``under_way``:
    started, not finished), so it lands before the end whatever the machine's load;
    returns the one stderr line."""
    with held(proc, under_way):
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=PATIENCE)
    lines = err.strip().splitlines()
    assert proc.returncode == 130, err
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(params=["default", "ignored"])
def run_sigint(request):
    """The test run's own SIGINT action: "ignored" as in a run started in the background
    by a script (``make test &``), which its children would inherit."""
    if request.param == "default":
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_during_a_backup_removes_its_objects_and_row_at_once(ember, run_sigint):
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



def _io_read(pid: int) -> int:
    """Bytes ``pid`` has read so far (a zombie's too, until it is reaped)."""
    with open("/proc/%d/io" % pid) as f:
        return int(next(line for line in f if line.startswith("rchar:")).split()[1])


def _position(pid: int, path: str) -> int | None:
    """The offset ``pid`` has reached in the file ``path`` it has open, or None."""
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == path:
                with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                    return int(f.readline().split()[1])
        except OSError:  # closed meanwhile
            continue
    return None


def test_ctrl_c_during_verify_stops_inside_the_object_it_reads(ember):
    # one 64 MiB object, bz2: reading it takes seconds; a verify that only stops
    # between objects reads it to its end after Ctrl-C
    ember.env["OS_DEFAULT__BACKUP_FILE_SIZE"] = str(64 * MiB)
    ember.volume("busy", 64)
    ember.ok("volume", "backup", "create", "busy", "--name", "b")
    (name,) = [f for f in ember.files() if f.endswith("-00001")]
    path = os.path.join(ember.repo, name)
    size = os.path.getsize(path)
    proc = ember.start("volume", "backup", "verify", "b")
    at = {}

    def under_way():  # inside the object, less than half of it read
        position = _position(proc.pid, path)
        at.update(position=position, read=_io_read(proc.pid))
        return position is not None and 0 < position < size // 2

    with held(proc, under_way):
        proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + PATIENCE
    while state(proc.pid) != "Z":  # ended; not reaped, so its figures can still be read
        assert time.monotonic() < deadline, "verify did not end after Ctrl-C"
        time.sleep(0.02)
    read_after = _io_read(proc.pid) - at["read"]
    _, err = proc.communicate(timeout=PATIENCE)
    assert (proc.returncode, err) == (130, "ember: Interrupted.\n")
    # it stopped inside the object: the rest of it was never read
    assert read_after < size - at["position"], (read_after, size, at)
    assert ember.query("SELECT status FROM backup_operations WHERE kind = 'verify'") == [
        ("cancelled",)]
