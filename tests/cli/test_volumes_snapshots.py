"""Volumes and snapshots through the CLI, and the backups that use them: an in-use volume
backed up with --force, a snapshot backed up with --snapshot."""

MiB = 1 << 20


def test_volume_commands(ember, tmp_path):
    created = ember.create_volume("vol1", "4M", ember.pattern(12, MiB))
    assert (created["name"], created["status"]) == ("vol1", "available")
    assert created["path"].startswith(str(ember.state))
    image = tmp_path / "adopted.img"
    image.write_bytes(ember.pattern(13, 2 * MiB))
    adopted = ember.json("volume", "create", "--path", image, "--description", "mine",
                         "--property", "tier=gold", "adopted")
    assert adopted["path"] == str(image) and adopted["properties"] == {"tier": "gold"}

    listed = ember.json("volume", "list")
    assert sorted(listed[0]) == ["Attached to", "ID", "Name", "Size", "Status"]
    assert sorted(r["Name"] for r in listed) == ["adopted", "vol1"]
    long = ember.json("volume", "list", "--long")
    assert sorted(long[0]) == sorted(["ID", "Name", "Status", "Size", "Type", "Bootable",
                                      "Attached to", "Properties"])

    ember.ok("volume", "set", "--name", "renamed", "--property", "owner=ops", "adopted")
    shown = ember.json("volume", "show", "renamed")
    assert shown["properties"] == {"tier": "gold", "owner": "ops"}
    assert shown["description"] == "mine"

    attached = ember.json("volume", "attach", "vol1", "--instance", "vm-1")
    assert attached["status"] == "in-use"
    row = [r for r in ember.json("volume", "list") if r["Name"] == "vol1"][0]
    assert row["Attached to"] == "Attached to vm-1"
    assert ember.json("volume", "detach", "vol1")["status"] == "available"

    ember.ok("volume", "delete", "renamed")
    assert image.read_bytes() == ember.pattern(13, 2 * MiB)  # an adopted file is kept
    assert [r["Name"] for r in ember.json("volume", "list")] == ["vol1"]


def test_in_use_volume_is_backed_up_with_force(ember):
    vol = ember.create_volume("vol1", "4M", ember.pattern(14, 2 * MiB))
    checksum = ember.sha256(vol["path"])
    ember.ok("volume", "attach", "vol1", "--instance", "vm-1")
    backup = ember.json("volume", "backup", "create", "--force", "vol1")
    assert backup["status"] == "available"
    assert ember.json("volume", "show", "vol1")["status"] == "in-use"  # back as it was
    assert ember.json("volume", "snapshot", "list") == []  # the temporary one is gone
    restored = ember.json("volume", "backup", "restore", backup["id"])
    assert ember.sha256(ember.volume_path(restored["volume_id"]), 4 * MiB) == checksum


def test_snapshot_commands_and_backup_of_a_snapshot(ember):
    vol = ember.create_volume("vol1", "4M", ember.pattern(15, MiB))
    at_snapshot = ember.sha256(vol["path"])
    snap = ember.json("volume", "snapshot", "create", "--volume", "vol1",
                      "--description", "before", "snap1")
    assert (snap["name"], snap["status"], snap["volume_id"]) == ("snap1", "available",
                                                                  vol["id"])
    ember.write_at(vol["path"], 0, ember.pattern(16, MiB))  # the volume moves on

    listed = ember.json("volume", "snapshot", "list", "--volume", "vol1")
    assert [(r["Name"], r["Description"]) for r in listed] == [("snap1", "before")]
    long = ember.json("volume", "snapshot", "list", "--long")
    assert {"Created At", "Volume"} <= set(long[0])
    assert ember.json("volume", "snapshot", "show", snap["id"])["name"] == "snap1"

    backup = ember.json("volume", "backup", "create", "--snapshot", "snap1", "vol1")
    assert backup["snapshot_id"] == snap["id"]
    assert backup["data_timestamp"] == snap["created_at"]
    restored = ember.json("volume", "backup", "restore", backup["id"])
    assert ember.sha256(ember.volume_path(restored["volume_id"]), 4 * MiB) == at_snapshot

    ember.ok("volume", "snapshot", "delete", "snap1")
    assert ember.json("volume", "snapshot", "list") == []


def test_sizes_show_exactly_in_tables_and_as_gib_in_json(ember):
    ember.ok("volume", "create", "--size", "64M", "small")
    ember.ok("volume", "create", "--size", "128M", "larger")
    ember.ok("volume", "backup", "create", "--name", "b", "small")
    ember.ok("volume", "snapshot", "create", "--volume", "larger", "s")
    table = ember.ok("volume", "list", "-c", "Name", "-c", "Size").stdout
    rows = {tuple(cell.strip() for cell in line.strip("|").split("|"))
            for line in table.splitlines() if line.startswith("|")}
    assert rows == {("Name", "Size"), ("small", "64 MiB"), ("larger", "128 MiB")}
    assert "| 64 MiB |" in ember.ok("volume", "backup", "list", "-c", "Size").stdout
    assert "| 128 MiB |" in ember.ok("volume", "snapshot", "list", "-c", "Size").stdout
    # OpenStackClient's column: whole GiB, rounded up, in json
    assert {r["Name"]: r["Size"] for r in ember.json("volume", "list")} == {
        "small": 1, "larger": 1}
    assert [r["Size"] for r in ember.json("volume", "backup", "list")] == [1]
    assert ember.json("volume", "show", "small")["size"] == 1
