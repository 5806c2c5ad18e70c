"""What a pasted configuration gets wrong is said before any work: a comment kept in a
value is a warning at start-up and in ``config check``; a shared path or a repository
path that does not exist is refused; a ``state_path`` taken from cinder.conf is named
(issue 22, items 2 and 3). Through the real ``ember``."""

import json

MiB = 1 << 20


def _config(ember, text):
    directory = ember.home / ".config" / "ember"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ember.conf").write_text(text)
    return directory / "ember.conf"


def _check(ember, *args, env=None):
    result = ember.run(*args, "config", "check", "-f", "json", env=env)
    return result, {(r["Check"], r["Result"]): r["Detail"] for r in json.loads(result.stdout)}


def test_a_comment_kept_in_a_value_is_a_warning_at_start_up_and_in_config_check(ember):
    path = _config(ember, "[DEFAULT]\n# a comment on its own line is fine\n"
                          "storage_availability_zone = nova  # the default zone\n")
    warning = ("[DEFAULT] storage_availability_zone in %s has a comment in its value "
               "('nova  # the default zone'): oslo.config keeps the text after ' #' as "
               "part of the value; put the comment on its own line" % path)
    result = ember.ok("volume", "list")
    assert result.stderr == "ember: %s\n" % warning
    result, rows = _check(ember)
    assert rows[("comment in a value", "warning")] == warning
    assert result.stderr == ""


def test_a_shared_path_that_does_not_exist_is_refused(ember, tmp_path):
    volumes = tmp_path / "volumes"
    volumes.mkdir()
    _config(ember, "[DEFAULT]\nbackup_shared_volume_paths = %s  # mounted on every host\n"
            % volumes)
    before = ember.catalogue()
    line = ember.fails("volume", "list")
    assert line == ("ember: backup_shared_volume_paths: '%s  # mounted on every host' is "
                    "not an existing directory; mount the share there, or correct the path "
                    "(a comment goes on its own line)" % volumes)
    result, rows = _check(ember)
    assert result.returncode == 1
    assert rows[("configuration", "error")] == " ".join(line[len("ember: "):].split())
    assert ember.catalogue() == before
    _config(ember, "[DEFAULT]\n# mounted on every host\nbackup_shared_volume_paths = %s\n"
            % volumes)
    result, rows = _check(ember)
    assert result.returncode == 0 and all(r == "ok" for _, r in rows), rows


def test_a_repository_path_that_does_not_exist_is_refused_not_created(ember, tmp_path):
    ember.create_volume("v", "4M", ember.pattern(1, MiB))
    before = ember.catalogue()
    repo = tmp_path / "nas" / "backups"
    env = {"OS_DEFAULT__BACKUP_POSIX_PATH": str(repo)}
    line = ember.fails("volume", "backup", "create", "v", env=env)
    assert line == ("ember: posix repository %s does not exist; create it, or correct "
                    "backup_posix_path (a comment goes on its own line)" % repo)
    result, rows = _check(ember, env=env)
    assert result.returncode == 1 and rows[("repository", "error")] == line[len("ember: "):]
    assert not repo.exists() and ember.catalogue() == before
    repo.mkdir(parents=True)  # the operator makes it: then it is used
    assert ember.json("volume", "backup", "create", "v", env=env)["status"] == "available"
    # the embedded default, inside state_path, is still made by the first backup
    assert not (ember.state / "backup").exists()
    assert ember.json("volume", "backup", "create", "v")["status"] == "available"


def test_a_state_path_from_cinder_conf_is_named(ember, tmp_path):
    cinder = tmp_path / "cinder.conf"
    cinder_state = tmp_path / "var-lib-cinder"
    cinder.write_text("[DEFAULT]\nstate_path = %s\nbackup_file_size = 1048576\n\n"
                      "[database]\nconnection = mysql+pymysql://cinder:secret@controller/"
                      "cinder\n" % cinder_state)
    own = tmp_path / "ember.conf"
    own.write_text("[database]\nconnection = sqlite:///%s\n" % (tmp_path / "ember.sqlite"))
    del ember.env["OS_DEFAULT__STATE_PATH"]
    warning = ("state_path %s comes from %s, which also names Cinder's database: Ember "
               "would keep its volumes and catalogue in Cinder's state directory; give "
               "Ember its own state_path in a later --config-file (or "
               "OS_DEFAULT__STATE_PATH)" % (cinder_state, cinder))
    result = ember.ok("--config-file", cinder, "--config-file", own, "volume", "list")
    assert result.stderr == "ember: %s\n" % warning
    result, rows = _check(ember, "--config-file", cinder, "--config-file", own)
    assert rows[("state_path", "warning")] == warning
    # Ember's own state_path after it: no warning
    own.write_text(own.read_text() + "[DEFAULT]\nstate_path = %s\n" % ember.state)
    result = ember.ok("--config-file", cinder, "--config-file", own, "volume", "list")
    assert result.stderr == ""


def test_a_misspelled_environment_variable_gets_did_you_mean(ember):
    env = {"OS_DEFAULT__BACKUP_POSIX_PTH": "/srv/backup",
           "OS_DATABSE__CONNECTION": "sqlite://",
           # a library's own group (its options are not all listed up front): left alone
           "OS_KEYSTONE_AUTHTOKEN__AUTH_URL": "http://127.0.0.1:5000"}
    result = ember.ok("volume", "list", env=env)
    assert result.stderr.splitlines() == [
        "ember: unknown variable OS_DATABSE__CONNECTION is ignored; did you mean "
        "OS_DATABASE__CONNECTION?",
        "ember: unknown variable OS_DEFAULT__BACKUP_POSIX_PTH is ignored; did you mean "
        "OS_DEFAULT__BACKUP_POSIX_PATH?"]
    result, rows = _check(ember, env={"OS_DEFAULT__BACKUP_POSIX_PTH": "/srv/backup"})
    assert rows[("unknown name", "warning")] == (
        "unknown variable OS_DEFAULT__BACKUP_POSIX_PTH is ignored; did you mean "
        "OS_DEFAULT__BACKUP_POSIX_PATH?")
    assert result.stderr == ""


_LINT_IMPORTS = """
import sys
from ember import config, config_lint
conf = config.load([sys.argv[1]], warn=False)
print(sorted(item.message() for item in config_lint.findings(conf)))
print("oslo_messaging" in sys.modules)
"""


def test_a_drivers_options_are_judged_without_importing_the_libraries(tmp_path):
    """A driver's options, set in a file and the environment before the driver loads,
    are found in Ember's own option lists: oslo.messaging's list imports eventlet, a
    quarter second of every command, and is read only for a name still unknown."""
    import os
    import subprocess
    import sys

    conf_file = tmp_path / "ember.conf"
    conf_file.write_text("[DEFAULT]\nbackup_file_size = 1999994880\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "EMBER_"))}
    env.update(HOME=str(tmp_path), OS_DEFAULT__BACKUP_POSIX_PATH=str(tmp_path),
               OS_DEFAULT__BACKUP_SWIFT_OBJECT_SIZE="52428800")

    def lint(extra):
        proc = subprocess.run([sys.executable, "-c", _LINT_IMPORTS, str(conf_file)],
                              env=dict(env, **extra), capture_output=True, text=True,
                              check=True)
        return proc.stdout.splitlines()

    assert lint({}) == ["[]", "False"]
    # a misspelling of a library's option is still named, with the library's list read
    assert lint({"OS_OSLO_MESSAGING_NOTIFICATIONS__DRIVR": "noop"}) == [
        "['unknown variable OS_OSLO_MESSAGING_NOTIFICATIONS__DRIVR is ignored; did you "
        "mean OS_OSLO_MESSAGING_NOTIFICATIONS__DRIVER?']", "True"]
