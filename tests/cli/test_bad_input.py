"""Bad input: one line on stderr, a non-zero exit and no change to the catalogue."""

import pytest

MiB = 1 << 20


@pytest.fixture(scope="module")
def populated(shared_ember):
    """A volume with a full backup, so there is something a mistake could damage. Shared
    by the tests below, each of which asserts it changed nothing."""
    ember = shared_ember
    ember.create_volume("vol1", "4M", ember.pattern(7, MiB))
    backup = ember.json("volume", "backup", "create", "--name", "b1", "vol1")
    return ember, backup


@pytest.mark.parametrize("args, message", [
    (["volume", "backup", "create", "no-such-volume"], "no-such-volume"),
    (["volume", "backup", "show", "no-such-backup"], "no-such-backup"),
    (["volume", "backup", "restore", "no-such-backup"], "no-such-backup"),
    (["volume", "show", "no-such-volume"], "no-such-volume"),
    (["volume", "delete", "no-such-volume"], "no-such-volume"),
    (["volume", "snapshot", "create", "--volume", "no-such-volume", "s"], "no-such-volume"),
])
def test_unknown_names(populated, args, message):
    ember, _ = populated
    before = ember.catalogue()
    line = ember.fails(*args)
    assert line.startswith("ember: ") and message in line
    assert ember.catalogue() == before


def test_wrong_state(ember):
    ember.create_volume("vol1", "4M", ember.pattern(7, MiB))
    ember.json("volume", "backup", "create", "--name", "b1", "vol1")
    ember.create_volume("empty", "4M")
    ember.ok("volume", "attach", "vol1", "--instance", "vm-1")
    before = ember.catalogue()
    assert ember.fails("volume", "backup", "create", "--incremental", "empty") == (
        "ember: No backups available to do an incremental backup.")
    assert ember.fails("volume", "backup", "create", "vol1") == (
        "ember: Backing up an in-use volume must use the force flag. Add --force: the backup "
        "then reads a temporary snapshot of the volume.")
    ember.fails("volume", "backup", "restore", "--force", "b1", "vol1")  # target in-use
    assert ember.catalogue() == before


@pytest.mark.parametrize("size", ["abc", "-1", "0", "10X", "1.5.2G"])
def test_bad_size(populated, size):
    ember, _ = populated
    before = ember.catalogue()
    line = ember.fails("volume", "create", "--size", size, "v")
    assert line.startswith("ember: ") and size in line
    assert ember.catalogue() == before
    assert len(list((ember.state / "volumes").iterdir())) == 1  # vol1's image only


@pytest.mark.parametrize("url", ["not-base64!!", "aGVsbG8=", "eyJpZCI6ICJ4In0="])
def test_malformed_record(populated, url):
    ember, _ = populated
    before = ember.catalogue()
    line = ember.fails("volume", "backup", "record", "import",
                       "cinder.backup.drivers.posix.PosixBackupDriver", url)
    assert line.startswith("ember: ")
    assert ember.catalogue() == before


@pytest.mark.parametrize("args", [
    ["volume", "backup", "create", "--bogus", "vol1"],
    ["volume", "backup", "list", "--status", "sleeping"],
    ["volume", "backup", "list", "--limit", "many"],
    ["volume", "create", "v"],                       # neither --size nor --path
    ["volume", "backup", "create", "--property", "novalue", "vol1"],
])
def test_bad_command_line(populated, args):
    ember, _ = populated
    before = ember.catalogue()
    line = ember.fails(*args, returncode=2)
    assert line.startswith("ember %s: error: " % " ".join(args[:3] if args[1] == "backup"
                                                          else args[:2]))
    assert ember.catalogue() == before


def test_bad_configuration_is_one_line(ember, tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("[DEFAULT]\nbackup_timer_interval = 0\n")
    assert ember.fails("--config-file", conf, "volume", "list") == (
        "ember: invalid value for [DEFAULT] backup_timer_interval (from %s): Should be "
        "greater than or equal to 1; fix it or remove it" % conf)
    ember.create_volume("vol1", "4M")
    line = ember.fails("volume", "backup", "create", "vol1",
                       env={"OS_DEFAULT__BACKUP_DRIVER": "nosuchdriver"})
    assert line.startswith("ember: ") and "nosuchdriver" in line


def test_debug_shows_the_traceback(ember):
    result = ember.run("--debug", "volume", "show", "no-such-volume")
    assert result.returncode == 1
    assert "Traceback" in result.stderr


def test_unknown_command_is_one_line_with_suggestions(ember):
    assert ember.fails("volume", "backup", "craete", "vol1", returncode=2) == (
        "ember: 'volume backup craete vol1' is not an ember command; did you mean "
        "'volume backup create' or 'volume backup restore' or 'volume backup set'? "
        "(see 'ember --help')")
    assert ember.fails("frobnicate", returncode=2) == (
        "ember: 'frobnicate' is not an ember command (see 'ember --help')")
