"""Cinder's backup guide with ``openstack`` replaced by ``ember``, end to end on the
embedded default (posix repository + SQLite under a temporary state_path)."""

import os

MiB = 1 << 20
LIST_TITLES = ["ID", "Name", "Description", "Status", "Size", "Incremental", "Created At"]
LONG_TITLES = LIST_TITLES + ["Availability Zone", "Volume", "Container"]


def _full_and_incremental(ember):
    """vol1 with data; a full backup, a change, an incremental. Returns the checksums of
    the volume at each point and the two backups."""
    vol = ember.create_volume("vol1", "4M", ember.pattern(1, 3 * MiB))
    path = vol["path"]
    sums = [ember.sha256(path)]
    full = ember.json("volume", "backup", "create", "--name", "full", "vol1")
    ember.write_at(path, MiB + 4096, ember.pattern(2, 8192))
    sums.append(ember.sha256(path))
    inc = ember.json("volume", "backup", "create", "--incremental", "--name", "inc", "vol1")
    return sums, full, inc


def test_create_full_then_incremental_then_list_and_show(ember):
    sums, full, inc = _full_and_incremental(ember)
    assert full["status"] == "available" and full["is_incremental"] is False
    assert inc["status"] == "available" and inc["is_incremental"] is True
    assert inc["parent_id"] == full["id"]
    vol = ember.json("volume", "show", "vol1")
    assert full["volume_id"] == inc["volume_id"] == vol["id"]
    assert vol["status"] == "available"  # back from backing-up

    listed = ember.json("volume", "backup", "list")
    assert [sorted(row) for row in listed] == [sorted(LIST_TITLES)] * 2
    assert {(r["Name"], r["Incremental"], r["Status"]) for r in listed} == {
        ("full", False, "available"), ("inc", True, "available")}
    long = ember.json("volume", "backup", "list", "--long")
    assert sorted(long[0]) == sorted(LONG_TITLES)
    assert {r["Volume"] for r in long} == {"vol1"}  # the volume's name, as OSC shows it

    shown = ember.json("volume", "backup", "show", "full")  # by name
    assert shown["id"] == full["id"]
    assert shown["has_dependent_backups"] is True
    assert ember.json("volume", "backup", "show", inc["id"])["name"] == "inc"  # by id
    ids = ember.ok("volume", "backup", "list", "-f", "value", "-c", "ID").stdout.split()
    assert ids == [inc["id"], full["id"]]  # newest first, as Cinder sorts
    assert [r["ID"] for r in ember.json("volume", "backup", "list", "--limit", "1")] == [
        inc["id"]]
    assert [r["ID"] for r in ember.json("volume", "backup", "list", "--marker", inc["id"])] == [
        full["id"]]
    assert [r["Name"] for r in ember.json("volume", "backup", "list", "--name", "inc")] == [
        "inc"]
    assert ember.json("volume", "backup", "list", "--status", "error") == []
    assert len(ember.json("volume", "backup", "list", "--volume", "vol1")) == 2


def test_restore_to_new_and_existing_volume_bit_exact(ember):
    sums, full, inc = _full_and_incremental(ember)
    # no VOLUME: a new volume, sized from the backup
    restored = ember.json("volume", "backup", "restore", inc["id"])
    assert sorted(restored) == ["backup_id", "volume_id", "volume_name"]
    assert restored["backup_id"] == inc["id"]
    new_path = ember.volume_path(restored["volume_id"])
    assert ember.sha256(new_path, 4 * MiB) == sums[1]
    # VOLUME names an existing volume (the guide's `restore BACKUP_ID VOLUME_ID`)
    ember.create_volume("target", "4M", ember.pattern(9, MiB))
    target_id = ember.json("volume", "show", "target")["id"]
    before = (ember.catalogue(), ember.sha256(ember.volume_path("target")))
    # without --force, refused as OpenStackClient refuses, in its words; nothing changes
    for spelling in (target_id, "target"):
        assert ember.fails("volume", "backup", "restore", "full", spelling) == (
            "ember: Volume '%s' already exists; if you want to restore the backup to it you "
            "need to specify the '--force' option" % spelling)
    assert (ember.catalogue(), ember.sha256(ember.volume_path("target"))) == before
    onto = ember.json("volume", "backup", "restore", "--force", "full", target_id)
    assert onto["volume_id"] == target_id
    assert ember.sha256(ember.volume_path("target"), 4 * MiB) == sums[0]
    assert ember.json("volume", "show", "target")["status"] == "available"
    # OSC's spelling with --force and a volume name
    ember.ok("volume", "backup", "restore", "--force", "inc", "target")
    assert ember.sha256(ember.volume_path("target"), 4 * MiB) == sums[1]
    # a name that is no volume: a new volume of that name
    named = ember.json("volume", "backup", "restore", "full", "fresh")
    assert named["volume_name"] == "fresh"
    assert ember.sha256(ember.volume_path("fresh"), 4 * MiB) == sums[0]
    assert ember.json("volume", "backup", "show", "inc")["status"] == "available"


def test_delete_needs_no_dependents_and_takes_several(ember):
    sums, full, inc = _full_and_incremental(ember)
    before = ember.catalogue()
    assert ember.fails("volume", "backup", "delete", full["id"]) == (
        "ember: Incremental backups exist for this backup.")
    assert ember.catalogue() == before
    ember.ok("volume", "backup", "delete", inc["id"])
    ember.ok("volume", "backup", "delete", "full")
    assert ember.json("volume", "backup", "list") == []
    # several at once, OSC-style: keep going, then fail with a count
    ember.json("volume", "backup", "create", "--name", "b1", "vol1")
    result = ember.run("volume", "backup", "delete", "b1", "nonexistent")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == "ember: 1 of 2 backups failed to delete."
    assert ember.json("volume", "backup", "list") == []


def test_force_delete_and_reset_state(ember):
    ember.create_volume("vol1", "4M", ember.pattern(3, MiB))
    backup = ember.json("volume", "backup", "create", "vol1")
    ember.ok("backup-reset-state", "--state", "error", backup["id"])
    assert ember.json("volume", "backup", "show", backup["id"])["status"] == "error"
    ember.ok("backup-reset-state", backup["id"])  # Cinder's default state: available
    assert ember.json("volume", "backup", "show", backup["id"])["status"] == "available"
    ember.ok("volume", "backup", "set", "--state", "error", backup["id"])
    assert ember.json("volume", "backup", "show", backup["id"])["status"] == "error"
    before = ember.catalogue()
    assert ember.fails("backup-reset-state", "--state", "creating", backup["id"],
                       returncode=2).startswith("ember backup-reset-state: error: argument")
    assert ember.catalogue() == before
    ember.ok("volume", "backup", "delete", "--force", backup["id"])
    assert ember.json("volume", "backup", "list") == []
    repo = ember.state / "backup"
    assert not [p for p in repo.rglob("*") if p.is_file()]  # its objects are gone too


def test_set_and_unset_properties_name_description(ember):
    ember.create_volume("vol1", "4M", ember.pattern(4, MiB))
    ember.json("volume", "backup", "create", "--name", "b", "--property", "a=1", "vol1")
    ember.ok("volume", "backup", "set", "--name", "renamed", "--description", "nightly",
             "--property", "b=2", "b")
    shown = ember.json("volume", "backup", "show", "renamed")
    assert (shown["name"], shown["description"]) == ("renamed", "nightly")
    assert shown["metadata"] == {"a": "1", "b": "2"}
    ember.ok("volume", "backup", "unset", "--property", "a", "renamed")
    assert ember.json("volume", "backup", "show", "renamed")["metadata"] == {"b": "2"}
    table = ember.ok("volume", "backup", "show", "renamed", "-c", "metadata").stdout
    assert "b='2'" in table


def test_record_export_then_import_restores_bit_exact(ember):
    vol = ember.create_volume("vol1", "4M", ember.pattern(5, 2 * MiB))
    checksum = ember.sha256(vol["path"])
    backup = ember.json("volume", "backup", "create", "vol1")
    record = ember.json("volume", "backup", "record", "export", backup["id"])
    assert sorted(record) == ["Backup Service", "Metadata"]
    assert record["Backup Service"] == "cinder.backup.drivers.posix.PosixBackupDriver"
    # forget the catalogue row but keep the objects: delete it in a second catalogue
    other = ember.root / "other-state"
    env = {"OS_DEFAULT__STATE_PATH": str(other),
           "OS_DEFAULT__BACKUP_POSIX_PATH": str(ember.state / "backup")}
    imported = ember.json("volume", "backup", "record", "import", record["Backup Service"],
                          record["Metadata"], env=env)
    assert imported["id"] == backup["id"]
    shown = ember.json("volume", "backup", "show", backup["id"], env=env)
    assert shown["status"] == "available"
    restored = ember.json("volume", "backup", "restore", backup["id"], env=env)
    path = ember.json("volume", "show", restored["volume_id"], env=env)["path"]
    assert ember.sha256(path, 4 * MiB) == checksum


def test_failed_backup_exits_1_with_its_fail_reason(ember):
    # a real fault found only while it runs (a broken repository or a vanished image is
    # refused before the backup is recorded, see test_first_hour): the volume's image is
    # now a directory
    image = ember.create_volume("vol1", "4M", ember.pattern(6, MiB))["path"]
    os.remove(image)
    os.mkdir(image)
    line = ember.fails("volume", "backup", "create", "vol1")
    failed = ember.json("volume", "backup", "list")
    assert [r["Status"] for r in failed] == ["error"]
    shown = ember.json("volume", "backup", "show", failed[0]["ID"])
    # the catalogue keeps Cinder's 255 characters of the reason; the CLI prints it whole
    assert shown["fail_reason"] and line.startswith("ember: " + shown["fail_reason"])
    assert image in shown["fail_reason"]
    assert ember.json("volume", "show", "vol1")["status"] == "available"
    ember.ok("volume", "backup", "delete", failed[0]["ID"])  # an error backup deletes
