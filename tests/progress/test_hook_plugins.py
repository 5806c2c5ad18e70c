"""Hook subscribers see every operation's lifecycle and a true, rising progress ending
at 100, through the real ``ember`` executable (a plugin from an ``ember.hooks`` entry
point). (A subscriber registered through the Python API is tested in
``tests/service/test_hooks.py`` and ``test_notifications.py``.)"""

import subprocess

from ember.progress import PROGRESS_FIELDS
from ember.testing.processes import held
from ember.testing.services import PATIENCE

MiB = 1 << 20


def _progress(events, operation):
    return [e for e in events if e["hook"] == "progress" and e["operation"] == operation]


def test_entry_point_plugin_gets_lifecycle_and_rising_progress(ember):
    events = ember.install_recorder()
    ember.env["OS_DEFAULT__BACKUP_OBJECT_NUMBER_PER_NOTIFICATION"] = "4"
    # one engine thread over 48 MiB: long enough for progress before 100 on any machine
    ember.env["OS_DEFAULT__BACKUP_ENGINE_THREADS"] = "1"
    ember.volume("v", 48)
    backup = ember.json("volume", "backup", "create", "v", "--name", "b")["id"]
    restored = ember.json("volume", "backup", "restore", backup, "r")["volume_id"]
    ember.ok("backup-reset-state", "--state", "error", backup)
    ember.ok("volume", "backup", "delete", backup)
    recorded = events.read()

    assert [(e["hook"], e["operation"], e["status"]) for e in recorded
            if e["hook"] != "progress"] == [
        ("start", "backup.create", "creating"), ("end", "backup.create", "available"),
        ("start", "backup.restore", "restoring"), ("end", "backup.restore", "available"),
        ("start", "backup.reset_status", "available"),
        ("end", "backup.reset_status", "error"),
        ("start", "backup.delete", "deleting"), ("end", "backup.delete", "deleted"),
    ]
    for operation in ("backup.create", "backup.restore"):
        reports = _progress(recorded, operation)
        percents = [e["percent"] for e in reports]
        # at least one report before the end, strictly rising, 100 exactly once, last
        assert len(percents) >= 2, percents
        assert percents == sorted(set(percents)) and percents[-1] == 100.0
        assert all(e["percent"] == 100.0 * e["done"] / e["total"] for e in reports)
        # every 4 objects (1 MiB each) or more, never a report for less
        assert all(e["done"] >= 4 * MiB for e in reports), [e["done"] for e in reports]
        # the payload does not grow with the objects written so far
        assert {tuple(sorted(e["backup"])) for e in reports} == {tuple(sorted(PROGRESS_FIELDS))}
        assert {e["backup"]["id"] for e in reports} == {backup}
    assert _progress(recorded, "backup.create")[-1]["total"] == 48 * MiB
    assert ember.json("volume", "show", restored)["status"] == "available"


def test_a_cancelled_backup_never_reports_100(ember):
    events = ember.install_recorder()
    ember.env["OS_DEFAULT__BACKUP_OBJECT_NUMBER_PER_NOTIFICATION"] = "2"
    ember.volume("v", 96)  # seconds of work even on an idle machine; cancelled early
    # one engine thread: slow enough that the reset below lands while it runs
    proc = subprocess.Popen(ember.argv("volume", "backup", "create", "v"),
                            env=dict(ember.env, OS_DEFAULT__BACKUP_ENGINE_THREADS="1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def under_way():  # progress reported, short of 100 %
        reported = _progress(events.read(), "backup.create")
        return bool(reported) and max(e["percent"] for e in reported) < 100.0

    # held still while the reset lands, so it lands before the end on any machine
    with held(proc, under_way):
        backup = _progress(events.read(), "backup.create")[0]["backup"]["id"]
        ember.ok("backup-reset-state", "--state", "error", backup)
    assert proc.wait(timeout=PATIENCE) == 1

    recorded = [e for e in events.read() if e["operation"] == "backup.create"]
    percents = [e["percent"] for e in recorded if e["hook"] == "progress"]
    assert percents and max(percents) < 100.0
    assert (recorded[-1]["hook"], recorded[-1]["status"], recorded[-1]["error"]) == (
        "end", "error", "BackupCancelled")
