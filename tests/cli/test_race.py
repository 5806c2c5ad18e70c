"""Two ``ember volume backup create`` processes racing for one volume: exactly one backup,
and the other process fails with one clear line."""

MiB = 1 << 20


def test_two_processes_racing_for_one_volume(ember):
    # 32 MiB of incompressible data under zlib keeps the winner busy for a while, so the
    # loser's start-up (about as long as the winner's) ends while the volume is backing-up.
    ember.create_volume("vol1", "32M", ember.pattern(11, 32 * MiB))
    racers = [ember.start("volume", "backup", "create", "--name", "racer-%d" % i, "vol1",
                          "-f", "json") for i in range(2)]
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
