"""Long operations run off the request: ``openstack volume backup delete --force``
cancels a running backup, ``openstack volume backup set --state error`` cancels a
running restore, and an ``ember-api`` killed mid-backup leaves rows that the repair on
its next start puts right. "Long" is bz2 on 128 MiB of text with one engine thread and
16 MiB objects (seconds each), so the cancel or the kill lands inside the work."""

import os
import signal
import sqlite3
import time

import pytest
from ember.testing.cli import words
from ember.testing.services import PATIENCE

#: the API hands create, restore and delete to the service's begin/run split
pytestmark = pytest.mark.skipif(
    not hasattr(__import__("ember.service").service.Ember, "begin_create_backup"),
    reason="needs the service's begin/run split (being landed)")

MiB = 1 << 20


@pytest.fixture
def slow(ember):
    """Make ``ember`` (and the ember-api started on it) slow on purpose."""
    ember.env.update(OS_DEFAULT__BACKUP_COMPRESSION_ALGORITHM="bz2",
                     OS_DEFAULT__BACKUP_ENGINE_THREADS="1",
                     OS_DEFAULT__BACKUP_FILE_SIZE=str(16 * MiB))
    return ember


def query(ember, sql, *params):
    db = sqlite3.connect("file:%s?mode=ro" % (ember.state / "ember.sqlite"), uri=True,
                         timeout=PATIENCE)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def wait_for(ember, sql, *params, timeout=PATIENCE):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = query(ember, sql, *params)
        if rows:
            return rows[0]
        time.sleep(0.05)
    raise AssertionError("timed out waiting for: %s %r" % (sql, params))


def repository_files(ember):
    repo = ember.state / "backup"
    return sorted(p for p in repo.rglob("*") if p.is_file()) if repo.exists() else []


def text_volume(ember, name, size_mib):
    return ember.create_volume(name, size="%dM" % size_mib, data=words(size_mib * MiB))


def wait_first_object(ember, backup_id):
    """Until the running backup has written an object (and is still running)."""
    deadline = time.monotonic() + PATIENCE
    while not repository_files(ember):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert query(ember, "SELECT status FROM backups WHERE id = ?", backup_id) == [
        ("creating",)]


def running_backup(slow, server, clients):
    """A backup of 128 MiB of text begun through ``openstack`` and well under way."""
    text_volume(slow, "big", 128)
    made = clients.openstack_json("volume", "backup", "create", "--name", "running", "big")
    wait_first_object(slow, made["id"])
    return made


def test_force_delete_cancels_a_running_backup(slow, make_server, clients_for):
    server = make_server().start()
    clients = clients_for(server)
    made = running_backup(slow, server, clients)
    clients.openstack("volume", "backup", "delete", "--force", made["id"])
    wait_for(slow, "SELECT 1 FROM backups WHERE id = ? AND deleted", made["id"])
    assert query(slow, "SELECT status FROM volumes WHERE display_name = 'big'") == [
        ("available",)]
    assert repository_files(slow) == []
    assert query(slow, "SELECT status, owner_pid FROM backups WHERE id = ?", made["id"]) == [
        ("deleted", None)]


def _request_waiting(port: int) -> bool:
    """A connection to ``port`` holds request bytes nobody has read (the server is
    stopped): the client has sent its request."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in list(f)[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                unread = int(fields[4].split(":")[1], 16)
                if local_port == port and fields[3] == "01" and unread > 0:
                    return True
    return False


def _worker_pids(server) -> list[int]:
    """The gunicorn worker processes under ``server``'s master."""
    pid = server.proc.pid
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(child) for child in f.read().split()]


def test_reset_to_error_cancels_a_running_restore(slow, make_server, clients_for):
    server = make_server().start()
    clients = clients_for(server)
    text_volume(slow, "src", 96)
    slow.ok("volume", "backup", "create", "--name", "b", "src")
    slow.create_volume("dst", size="96M")
    clients.openstack("volume", "backup", "restore", "--force", "b", "dst")
    wait_for(slow, "SELECT 1 FROM volumes WHERE display_name = 'dst' "
                   "AND status = 'restoring-backup'")
    # The restore runs in the API's worker process: stop it there, and let it go on only
    # once the client's request waits at its socket, so the state change lands while the
    # restore still has (nearly) all its work to do, however slowly the client starts.
    workers = _worker_pids(server)
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    try:
        client = clients.start_openstack("volume", "backup", "set", "--state", "error", "b")
        deadline = time.monotonic() + PATIENCE
        while not _request_waiting(server.port):
            assert client.poll() is None, client.communicate()
            assert time.monotonic() < deadline, "the client never sent its request"
            time.sleep(0.02)
    finally:
        for pid in workers:
            os.kill(pid, signal.SIGCONT)
    out, err = client.communicate(timeout=PATIENCE)
    assert client.returncode == 0, err
    # (had the restore finished first, the volume would be available and this would fail)
    wait_for(slow, "SELECT 1 FROM volumes WHERE display_name = 'dst' AND status = 'error'")
    # as after a cancelled restore by the CLI: the backup itself is whole and available
    wait_for(slow, "SELECT 1 FROM backups WHERE display_name = 'b' AND status = 'available' "
                   "AND owner_pid IS NULL")


def test_a_restart_mid_backup_leaves_rows_the_repair_handles(slow, make_server, clients_for):
    import signal

    server = make_server().start()
    clients = clients_for(server)
    made = running_backup(slow, server, clients)
    server.stop(signal.SIGKILL)  # the master and its workers, mid-backup
    assert query(slow, "SELECT status FROM backups WHERE id = ?", made["id"]) == [
        ("creating",)]
    server.start()  # its workers repair on start
    row = wait_for(slow, "SELECT status, fail_reason FROM backups WHERE id = ? "
                         "AND status != 'creating'", made["id"])
    assert row[0] == "error"
    assert query(slow, "SELECT status FROM volumes WHERE display_name = 'big'") == [
        ("available",)]
    # the volume backs up again through the restarted API
    again = clients.openstack_json("volume", "backup", "create", "--name", "again", "big")
    wait_for(slow, "SELECT 1 FROM backups WHERE id = ? AND status = 'available'", again["id"])
