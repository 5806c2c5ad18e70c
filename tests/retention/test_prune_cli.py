"""``ember volume backup prune`` and ``set --protect`` through the real executable."""

MiB = 1 << 20


def history(ember, kinds):
    vol = ember.create_volume("vol1", "4M", ember.pattern(1, MiB))
    ids = []
    for i, kind in enumerate(kinds):
        ember.write_at(vol["path"], i * 8192, ember.pattern(10 + i, 8192))
        args = ["--incremental"] if kind == "I" else []
        ids.append(ember.json("volume", "backup", "create", "--name", "b%d" % i, *args,
                              "vol1")["id"])
    return vol, ids


def test_prune_keep_last_3_dry_run_then_real(ember):
    vol, ids = history(ember, "FIFII")
    checksum = ember.sha256(vol["path"])
    before = ember.catalogue()
    plan = ember.json("volume", "backup", "prune", "--keep-last", "3", "--dry-run")
    assert [(r["Backup"], r["Action"], r["Reason"]) for r in plan] == [
        (ids[4], "keep", ["last 3"]), (ids[3], "keep", ["last 3", "parent of %s" % ids[4]]),
        (ids[2], "keep", ["last 3", "parent of %s" % ids[3]]),
        (ids[1], "delete", []), (ids[0], "delete", [])]
    assert ember.catalogue() == before
    table = ember.ok("volume", "backup", "prune", "--keep-last", "3", "--dry-run").stdout
    assert "parent of %s" % ids[4] in table

    done = ember.json("volume", "backup", "prune", "--keep-last", "3", "vol1")
    assert [r["Action"] for r in done] == ["kept"] * 3 + ["deleted"] * 2
    assert sorted(b["ID"] for b in ember.json("volume", "backup", "list")) == sorted(ids[2:])
    restored = ember.json("volume", "backup", "restore", ids[4])
    assert ember.sha256(ember.volume_path(restored["volume_id"]), 4 * MiB) == checksum


def test_protect_refuses_delete_and_survives_prune(ember):
    _, ids = history(ember, "FF")
    ember.ok("volume", "backup", "set", "--protect", "b0")
    assert ember.json("volume", "backup", "show", "b0")["protected"] is True
    assert ember.fails("volume", "backup", "delete", "b0") == (
        "ember: Backup %s is protected; unprotect it first with 'ember volume backup set "
        "--no-protect %s'." % (ids[0], ids[0]))
    done = ember.json("volume", "backup", "prune", "--keep-last", "1")
    assert [(r["Name"], r["Action"], r["Reason"]) for r in done] == [
        ("b1", "kept", ["last 1"]), ("b0", "kept", ["protected"])]
    ember.ok("volume", "backup", "set", "--no-protect", "b0")
    assert ember.json("volume", "backup", "show", "b0")["protected"] is False
    ember.ok("volume", "backup", "delete", "b0")


def test_bad_prune_options_are_one_line_errors(ember):
    history(ember, "F")
    before = ember.catalogue()
    assert ember.fails("volume", "backup", "prune") == (
        "ember: No --keep-* rule given: prune would keep every backup; give at least one "
        "(for example --keep-last 3).")
    line = ember.fails("volume", "backup", "prune", "--keep-within", "2w", returncode=2)
    assert "Invalid duration '2w'" in line
    line = ember.fails("volume", "backup", "prune", "--keep-daily", "-1", returncode=2)
    assert "'-1' is not a whole number, 0 or more" in line
    assert ember.fails("volume", "backup", "prune", "--keep-last", "1", "nope") == (
        "ember: No volume with a name or ID of 'nope' exists.")
    assert ember.catalogue() == before


def test_consolidate_then_prune_the_old_chain(ember):
    vol, ids = history(ember, "FII")
    checksum = ember.sha256(vol["path"])
    full = ember.json("volume", "backup", "consolidate", "--name", "synthetic", "b2")
    assert (full["name"], full["status"], full["is_incremental"]) == ("synthetic",
                                                                      "available", False)
    assert full["change_tracking"] == (
        "consolidated from backup %s (a chain of 3) without reading the volume" % ids[2])
    done = ember.json("volume", "backup", "prune", "--keep-last", "1")
    assert [(r["Name"], r["Action"]) for r in done] == [
        ("synthetic", "kept"), ("b2", "deleted"), ("b1", "deleted"), ("b0", "deleted")]
    restored = ember.json("volume", "backup", "restore", "synthetic")
    assert ember.sha256(ember.volume_path(restored["volume_id"]), 4 * MiB) == checksum
    assert ember.fails("volume", "backup", "consolidate", "nope") == (
        "ember: No backup with a name or ID of 'nope' exists.")
