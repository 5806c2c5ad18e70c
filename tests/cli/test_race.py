"""Two ``ember volume backup create`` processes on one volume: exactly one backup, and
the other process fails with one clear line. (The race of the claim itself, two
processes released at once, is ``tests/catalog/test_processes.py``.)"""

import sqlite3

from ember.testing.processes import held

MiB = 1 << 20


def test_two_processes_racing_for_one_volume(ember):
    ember.create_volume("vol1", "32M", ember.pattern(11, 32 * MiB))
    racers = [ember.start("volume", "backup", "create", "--name", "racer-0", "vol1",
                          "-f", "json")]

    def under_way():  # the first has claimed the volume and not finished
        with sqlite3.connect("file:%s?mode=ro" % (ember.state / "ember.sqlite"),
                             uri=True) as db:
            try:
                return bool(db.execute("SELECT 1 FROM backups WHERE display_name = "
                                       "'racer-0' AND status = 'creating'").fetchall())
            except sqlite3.OperationalError:  # the catalogue is being created
                return False

    # the second runs to its end while the first is held in the middle of its backup, so
    # it surely finds the volume backing-up, whatever the machine's load
    with held(racers[0], under_way):
        racers.append(ember.start("volume", "backup", "create", "--name", "racer-1",
                                  "vol1", "-f", "json"))
        racers[1].wait(timeout=300)
    outcomes = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in racers]
    for p in racers:
        p.stdout.close()
        p.stderr.close()
    codes = sorted(code for code, _, _ in outcomes)
    assert codes == [0, 1], outcomes
    loser = next(err for code, _, err in outcomes if code == 1)
    assert len(loser.strip().splitlines()) == 1 and loser.startswith("ember: "), loser
    assert "Traceback" not in loser
    backups = ember.json("volume", "backup", "list")
    assert len(backups) == 1 and backups[0]["Status"] == "available"
    assert ember.json("volume", "show", "vol1")["status"] == "available"
