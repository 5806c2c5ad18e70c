"""The usual mistakes of an operator's first hour cost nothing, and what they leave
behind is tidied: each test is one finding of the first-hour report."""

import os

MiB = 1 << 20


def test_adopting_one_file_twice_is_refused(ember, tmp_path):
    image = tmp_path / "disk.img"
    image.write_bytes(b"\0" * MiB)
    ember.json("volume", "create", "--path", str(image), "data-disk")
    before = ember.catalogue()
    # by another spelling of the same file too (a symlink)
    os.symlink(image, tmp_path / "alias.img")
    for spelling in (str(image), str(tmp_path / "alias.img")):
        line = ember.fails("volume", "create", "--path", spelling, "again")
        assert line == ("ember: Cannot adopt %s: it is already the image of a volume."
                        % spelling)
    assert ember.catalogue() == before
    ember.ok("volume", "delete", "data-disk")  # once deleted, it may be adopted again
    ember.ok("volume", "create", "--path", str(image), "again")


def test_deleting_backups_removes_their_emptied_container_directories(ember):
    ember.create_volume("v", "4M", ember.pattern(1, MiB))
    repository = ember.state / "backup"
    ids = [ember.json("volume", "backup", "create", "v")["id"] for _ in range(2)]
    ember.ok("volume", "backup", "create", "--container", "mine", "v")
    mine = ember.json("volume", "backup", "list", "--long")[0]
    assert mine["Container"] == "mine"
    # the default container is id[0:2]/id[2:4]/id, Cinder's posix layout
    assert all((repository / i[0:2] / i[2:4] / i).is_dir() for i in ids)
    ember.ok("volume", "backup", "delete", mine["ID"])
    ember.ok("volume", "backup", "delete", ids[1])
    assert not (repository / ids[1][0:2] / ids[1][2:4] / ids[1]).exists()
    assert (repository / ids[0][0:2] / ids[0][2:4] / ids[0]).is_dir()  # still in use
    ember.ok("volume", "backup", "delete", ids[0])
    # a container the user named stays (others may share it); nothing else is left
    assert sorted(p.name for p in repository.iterdir()) == ["mine"]
    assert list((repository / "mine").iterdir()) == []


def test_the_memory_driver_is_a_testing_tool_refused_unless_a_fixture_enables_it(ember):
    ember.ok("volume", "create", "--size", "4M", "v")
    before = ember.catalogue()
    memory = {"OS_DEFAULT__BACKUP_DRIVER": "memory"}
    line = ember.fails("volume", "backup", "create", "v", env=memory)
    assert line.startswith("ember: backup_driver memory is a testing tool (what it stores "
                           "is gone when the command ends); choose a repository driver: ")
    assert "posix" in line.split(":")[-1] and "memory" not in line.split(":")[-1], line
    # reading the catalogue needs no driver: the same line, as a warning
    listed = ember.ok("volume", "list", "-f", "value", "-c", "Name", env=memory)
    assert (listed.stdout, listed.stderr) == ("v\n", line + "\n")
    assert ember.catalogue() == before
    # not offered where drivers are listed to users
    line = ember.fails("volume", "backup", "create", "v",
                       env={"OS_DEFAULT__BACKUP_DRIVER": "tape"})
    assert "installed drivers: " in line and "memory" not in line
    # a test fixture enables it
    enabled = dict(memory, EMBER_ENABLE_TESTING_DRIVERS="1")
    assert ember.json("volume", "backup", "create", "v", env=enabled)["status"] == "available"


def test_an_unknown_driver_stops_every_command_that_writes_before_any_row(ember):
    ember.ok("volume", "create", "--size", "4M", "v")
    ember.ok("volume", "backup", "create", "--name", "b", "v")
    before = ember.catalogue()
    tape = {"OS_DEFAULT__BACKUP_DRIVER": "tape"}
    line = "ember: backup_driver tape: Ember has no tape driver; installed drivers: "
    for command in (("volume", "backup", "create", "v"), ("volume", "backup", "delete", "b"),
                    ("volume", "backup", "restore", "b", "new"),
                    ("volume", "create", "--size", "4M", "w")):
        assert ember.fails(*command, env=tape).startswith(line)
    # lists and shows read only the catalogue: they work, with the line as a warning
    for command in (("volume", "list"), ("volume", "show", "v"),
                    ("volume", "backup", "list"), ("volume", "backup", "show", "b"),
                    ("volume", "snapshot", "list")):
        result = ember.ok(*command, env=tape)
        assert result.stderr.startswith(line) and len(result.stderr.splitlines()) == 1
    assert ember.catalogue() == before


def test_a_misspelled_driver_gets_did_you_mean_not_pip_install(ember):
    for typed, meant in (("posixx", "posix"),
                         ("cinder.backup.drivers.posix.PosixBackupDriverr",
                          "cinder.backup.drivers.posix.PosixBackupDriver")):
        line = ember.fails("volume", "create", "--size", "1M", "v",
                           env={"OS_DEFAULT__BACKUP_DRIVER": typed})
        assert line.startswith("ember: backup_driver %s: no such driver; did you mean %s? "
                               "(installed drivers: " % (typed, meant)), line
        assert "pip install" not in line
    line = ember.fails("volume", "create", "--size", "1M", "v",
                       env={"OS_DEFAULT__BACKUP_DRIVER": "ceph"})
    assert line.startswith("ember: backup_driver ceph: Ember has no ceph driver; installed "
                           "drivers: ") and "pip install" not in line


def test_configuration_mistakes_leave_no_row_and_no_changed_status(ember):
    ember.ok("volume", "create", "--size", "4M", "v")
    before = ember.catalogue()
    line = ember.fails("volume", "backup", "create", "v",
                       env={"OS_DEFAULT__BACKUP_FILE_SIZE": "12345"})
    assert line == ("ember: object size 12345 (backup_file_size or the driver's object size "
                    "option) is not a multiple of the SHA block size 4096 "
                    "(backup_sha_block_size_bytes); change one of them")
    line = ember.fails("volume", "backup", "create", "--container", "../../escape", "v")
    assert line == ("ember: posix repository %s: container ../../escape would leave the "
                    "repository; use a relative path without '..'" % (ember.state / "backup"))
    unreachable = ember.root / "not-a-directory"
    unreachable.write_bytes(b"")
    line = ember.fails("volume", "backup", "create", "v",
                       env={"OS_DEFAULT__BACKUP_POSIX_PATH": str(unreachable)})
    assert line.startswith("ember: posix repository %s" % unreachable), line
    assert ember.catalogue() == before  # no row, and the volume's statuses unchanged
    assert ember.json("volume", "backup", "list") == []


def test_record_import_keeps_the_name_so_the_guide_can_restore_by_it(ember, cli_class,
                                                                      tmp_path):
    data = ember.pattern(3, MiB)
    ember.create_volume("db-disk", "4M", data)
    ember.ok("volume", "backup", "create", "--name", "nightly", "--description", "before "
             "upgrade", "db-disk")
    service, record = ember.ok("volume", "backup", "record", "export", "nightly", "-f",
                               "value").stdout.split()
    # another installation reading the same repository
    other = cli_class(tmp_path / "other",
                      extra_env={"OS_DEFAULT__BACKUP_POSIX_PATH": str(ember.state / "backup")})
    imported = other.json("volume", "backup", "record", "import", service, record)
    assert (imported["name"], imported["description"]) == ("nightly", "before upgrade")
    # its exact size too: shown as the original shows it (4 MiB, not 1 GiB)
    assert imported["size_bytes"] == 4 * MiB
    shown = other.ok("volume", "backup", "show", "nightly", "-f", "value", "-c",
                     "size").stdout
    assert shown == ember.ok("volume", "backup", "show", "nightly", "-f", "value", "-c",
                             "size").stdout
    restored = other.json("volume", "backup", "restore", "nightly", "copy")
    assert other.sha256(other.volume_path(restored["volume_id"]), MiB) == \
        ember.sha256(ember.volume_path("db-disk"), MiB)


def _write_config(ember, text, name="ember.conf"):
    directory = ember.home / ".config" / "ember"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text)
    return directory / name


def test_misspelled_options_and_sections_are_named_one_line_each(ember, tmp_path):
    conf = _write_config(ember, "[DEFAULT]\nbackup_posix_pth = /srv/backup\n"
                                "backup_compression_algorithm = zstd\n"
                                "[defualt]\nbackup_driver = nfs\n"
                                "[database]\nconection = sqlite://\n")
    result = ember.run("volume", "list")
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        "ember: unknown option backup_posix_pth in [DEFAULT] of %s is ignored; did you mean "
        "backup_posix_path?" % conf,
        "ember: unknown section [defualt] in %s is ignored; did you mean [DEFAULT]?" % conf,
        "ember: unknown option conection in [database] of %s is ignored; did you mean "
        "connection?" % conf]
    # a cinder.conf: Cinder's own names are not Ember's business, near-misses are
    cinder = tmp_path / "cinder.conf"
    cinder.write_text("[DEFAULT]\nvolume_driver = lvm\nenabled_backends = a\n"
                      "backup_sha_block_size_byte = 4096\n[keystone_authtoken]\nauth_url = x\n")
    result = ember.run("--config-file", str(cinder), "volume", "list")
    assert result.stderr.splitlines() == [
        "ember: unknown option backup_sha_block_size_byte in [DEFAULT] of %s is ignored; did "
        "you mean backup_sha_block_size_bytes?" % cinder]


def test_config_check_validates_without_doing_any_work(ember):
    checks = {row["Check"]: (row["Result"], row["Detail"])
              for row in ember.json("config", "check")}
    assert checks == {
        "configuration": ("ok", "no file: the embedded defaults"),
        "backup_driver": ("ok", "posix (ember-backup-posix)"),
        "driver options": ("ok", "every option of posix has a valid value"),
        "object sizes": ("ok", "1048576-byte objects, 4096-byte SHA blocks, zlib compression"),
        "repository": ("ok", "posix repository %s is reachable" % (ember.state / "backup")),
        "catalogue": ("ok", "SQLite %s (created by the first command)"
                      % (ember.state / "ember.sqlite"))}
    assert not (ember.state / "ember.sqlite").exists()  # nothing was created
    _write_config(ember, "[DEFAULT]\nbackup_posix_pth = /srv\n")
    result = ember.run("config", "check", "-f", "json",
                       env={"OS_DEFAULT__BACKUP_FILE_SIZE": "12345"})
    assert result.returncode == 1
    rows = {(r["Check"], r["Result"]): r["Detail"] for r in result.json()}
    assert rows[("unknown name", "warning")].startswith("unknown option backup_posix_pth")
    assert rows[("object sizes", "error")].startswith("object size 12345 (backup_file_size")
    assert result.stderr == ""  # the warnings are rows here, not repeated on stderr
    result = ember.run("config", "check", "-f", "json", env={"OS_DEFAULT__BACKUP_DRIVER": "tape"})
    assert result.returncode == 1
    rows = {r["Check"]: (r["Result"], r["Detail"]) for r in result.json()}
    assert rows["backup_driver"][0] == "error"
    assert rows["backup_driver"][1].startswith("backup_driver tape: Ember has no tape driver")
    assert "repository" not in rows  # what depends on the driver is not tried


def test_a_plain_restore_names_the_new_volume_as_help_says(ember):
    ember.create_volume("db-disk", "4M", ember.pattern(5, MiB))
    ember.ok("volume", "backup", "create", "--name", "nightly", "db-disk")
    restored = ember.json("volume", "backup", "restore", "nightly")
    # Cinder's behaviour, kept: restore_backup_<id>, then the source volume's name
    assert restored["volume_name"] == "db-disk"
    line = ember.fails("volume", "backup", "restore", "nightly", "db-disk")
    assert line == "ember: More than one volume exists with the name 'db-disk'; use its ID."
    usage = " ".join(ember.ok("volume", "backup", "restore", "--help").stdout.split())
    assert ("Without it, a new volume is created as restore_backup_<backup id> and then, as "
            "Cinder does, given the name of the volume that was backed up, so two volumes "
            "may share that name.") in usage
    # the guides' way cannot trip: a named new volume
    assert ember.json("volume", "backup", "restore", "nightly", "db-copy")["volume_name"] == \
        "db-copy"


def test_a_volume_whose_image_is_gone_is_refused_before_a_row(ember):
    volume = ember.create_volume("db-disk", "4M", ember.pattern(1, MiB))
    os.remove(volume["path"])
    before = ember.catalogue()
    line = ember.fails("volume", "backup", "create", "--name", "nightly", "db-disk")
    assert line == ("ember: The image of volume db-disk (%s) is gone: %s does not exist; put "
                    "it back, or delete the volume's record (ember volume delete)."
                    % (volume["id"], volume["path"]))
    assert ember.catalogue() == before  # no error row, the volume still available
    assert ember.json("volume", "backup", "list") == []


def test_refusals_name_the_option_and_the_volume(ember):
    ember.create_volume("db-disk", "4M", ember.pattern(1, MiB))
    ember.ok("volume", "backup", "create", "--name", "nightly", "db-disk")
    ember.ok("volume", "attach", "db-disk", "--instance", "vm-1")
    assert ember.fails("volume", "backup", "create", "db-disk") == (
        "ember: Backing up an in-use volume must use the force flag. Add --force: the backup "
        "then reads a temporary snapshot of the volume.")
    small = ember.json("volume", "create", "--size", "2M", "small")
    assert ember.fails("volume", "backup", "restore", "--force", "nightly", "small") == (
        "ember: volume small (%s) has 2097152 bytes, too few to restore backup of 4194304 "
        "bytes." % small["id"])
