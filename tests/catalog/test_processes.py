"""Two real processes against one catalogue (SQLite, PostgreSQL, MariaDB): racing for a
volume gives exactly one backup and one clear error; a force delete from another process
cancels a running backup and leaves nothing behind."""

import json
import os
import subprocess
import sys
import threading
import time

import sqlalchemy as sa
from ember.catalog import Backup
from ember.testing.processes import held
from ember.context import RequestContext
from ember.service import Ember
from ember.testing.config import make_conf
from ember.testing.services import PATIENCE

CTX = RequestContext.default()

#: one worker process: builds its own service on the shared catalogue and repository,
#: says "ready", waits for the go file, runs one backup and prints the outcome as JSON.
#: ``slow`` makes progress reports sleep, so the backup stays running for a while; the
#: file ``<go>.pausing`` exists while a report sleeps (outside any catalogue transaction).
WORKER = r"""
import json, os, sys, time
from ember.context import RequestContext
from ember.service import Ember
from ember.testing.config import make_conf
url, state, volume, go, slow = sys.argv[1:6]
conf = make_conf(state_path=state, backup_driver="posix", backup_file_size=1 << 20,
                 backup_sha_block_size_bytes=4096, backup_compression_algorithm="none")
conf.set_override("connection", url, group="database")
service = Ember(conf)
service.driver
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.01)
def pause(done, total):
    open(go + ".pausing", "w").close()
    time.sleep(float(slow))
    os.remove(go + ".pausing")
try:
    row = service.create_backup(RequestContext.default(), volume, progress=pause)
    print(json.dumps({"ok": row["id"]}))
except Exception as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
"""


def _conf(url, state):
    conf = make_conf(state_path=str(state), backup_driver="posix",
                     backup_file_size=1 << 20, backup_sha_block_size_bytes=4096,
                     backup_compression_algorithm="none")
    conf.set_override("connection", url, group="database")
    return conf


def _start(url, state, volume, go, slow):
    proc = subprocess.Popen([sys.executable, "-c", WORKER, url, str(state), volume, str(go),
                             str(slow)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    return proc


def _outcome(proc):
    out, err = proc.communicate(timeout=PATIENCE)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_two_processes_racing_for_one_volume_make_exactly_one_backup(db_url, tmp_path):
    service = Ember(_conf(db_url, tmp_path))
    volume = service.create_volume(CTX, "raced", size="4M")
    with open(volume["path"], "r+b") as f:
        f.write(os.urandom(1 << 20))
    go = tmp_path / "go"
    procs = [_start(db_url, tmp_path, "raced", go, 1.0) for _ in range(2)]
    go.touch()
    outcomes = [_outcome(p) for p in procs]

    winners = [o for o in outcomes if "ok" in o]
    losers = [o for o in outcomes if "error" in o]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert losers[0] == {"error": "InvalidState", "message":
                         'Volume to be backed up must be available or in-use, but the current '
                         'status is "backing-up".'}
    rows = service.list_backups(CTX)
    assert [(r["id"], r["status"]) for r in rows] == [(winners[0]["ok"], "available")]
    assert service.get_volume(CTX, "raced")["status"] == "available"


def test_force_delete_from_another_process_cancels_a_running_backup(db_url, tmp_path):
    service = Ember(_conf(db_url, tmp_path))
    volume = service.create_volume(CTX, "busy", size="8M")
    with open(volume["path"], "r+b") as f:
        f.write(os.urandom(8 << 20))
    go = tmp_path / "go"
    go.touch()
    proc = _start(db_url, tmp_path, "busy", go, 0.4)
    with _held_running(service, proc, go):
        backup_id = _started(service)
        # the force delete waits for the running backup to notice it: in a thread
        deleting = threading.Thread(target=service.delete_backup, args=(CTX, backup_id),
                                    kwargs={"force": True})
        deleting.start()
        while service.get_backup(CTX, backup_id)["status"] != "deleting":
            assert deleting.is_alive(), "the force delete ended without marking it"
            time.sleep(0.02)
    deleting.join(timeout=PATIENCE)

    assert _outcome(proc) == {"error": "BackupCancelled", "message":
                              "Backup %s was cancelled: it was force-deleted while it ran; its "
                              "objects were removed." % backup_id}
    with service.catalog.session() as s:
        row = s.get(Backup, backup_id)
        assert (row.status, row.deleted, row.owner_pid) == ("deleted", True, None)
    assert service.list_backups(CTX) == []
    assert service.get_volume(CTX, "busy")["status"] == "available"
    repo = tmp_path / "backup"
    leftovers = [f for _, _, files in os.walk(repo) for f in files]
    assert leftovers == []


def _started(service) -> str | None:
    """The id of the backup the worker has started writing and not finished."""
    with service.catalog.session() as s:
        return s.scalar(sa.select(Backup.id).where(Backup.status == "creating",
                                                   Backup.service_metadata.is_not(None)))


def _held_running(service, proc, go):
    """Hold the worker still (``held``) once its backup is under way, inside a progress
    report's pause (so it holds no row lock a server database would make the test wait
    on): what the test does then surely meets a running backup, however slow the
    machine."""
    pausing = go.parent / (go.name + ".pausing")
    return held(proc, lambda: pausing.exists() and _started(service) is not None)


def test_a_killed_backup_is_repaired_by_the_next_service(db_url, tmp_path):
    service = Ember(_conf(db_url, tmp_path))
    volume = service.create_volume(CTX, "crashy", size="8M")
    with open(volume["path"], "r+b") as f:
        f.write(os.urandom(8 << 20))
    go = tmp_path / "go"
    go.touch()
    proc = _start(db_url, tmp_path, "crashy", go, 0.4)
    with _held_running(service, proc, go):
        backup_id = _started(service)
        proc.kill()  # SIGKILL ends a stopped process too
    proc.wait()
    assert Ember(_conf(db_url, tmp_path), repair=False).get_backup(CTX, backup_id)[
        "status"] == "creating"  # nothing repairs by accident

    repaired = Ember(_conf(db_url, tmp_path))
    row = repaired.get_backup(CTX, backup_id)
    assert (row["status"], row["fail_reason"]) == (
        "error", "incomplete backup reset: the process running it is gone")
    vol = repaired.get_volume(CTX, "crashy")
    assert (vol["status"], vol["previous_status"]) == ("available", "error_backing-up")
    repaired.delete_backup(CTX, backup_id)  # deleting the error backup removes its objects
    # (a put killed midway may leave the posix driver's hidden temp file: not an object)
    assert [f for _, _, files in os.walk(tmp_path / "backup") for f in files
            if not f.startswith(".ember-tmp-")] == []


def test_a_live_owner_is_never_repaired(db_url, tmp_path):
    service = Ember(_conf(db_url, tmp_path))
    volume = service.create_volume(CTX, "live", size="8M")
    with open(volume["path"], "r+b") as f:
        f.write(os.urandom(8 << 20))
    go = tmp_path / "go"
    go.touch()
    proc = _start(db_url, tmp_path, "live", go, 0.2)
    with _held_running(service, proc, go):
        backup_id = _started(service)
        assert Ember(_conf(db_url, tmp_path)).repair() == []
    assert _outcome(proc) == {"ok": backup_id}
    assert service.get_backup(CTX, backup_id)["status"] == "available"
