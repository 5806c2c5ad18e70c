"""Configuration: where ember.conf is found, the environment, cinder.conf compatibility,
one-line errors, and the committed sample and reference being up to date."""

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from ember import config, errors

ROOT = Path(__file__).resolve().parents[2]
MiB = 1 << 20


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No OS_* variable and a private HOME / XDG_CONFIG_HOME for in-process loads."""
    for key in list(os.environ):
        if key.startswith("OS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    return tmp_path


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_no_file_needed(clean_env):
    conf = config.load()
    assert conf.backup_driver == "posix"
    assert conf.config_file == []


def test_xdg_config_file_wins_over_home_dot_dir(clean_env):
    home = clean_env / "home"
    _write(home / ".ember" / "ember.conf", "[DEFAULT]\nbackup_driver = nfs\n")
    assert config.load().backup_driver == "nfs"
    _write(home / ".config" / "ember" / "ember.conf", "[DEFAULT]\nbackup_driver = swift\n")
    assert config.load().backup_driver == "swift"
    _write(home / ".config" / "ember" / "ember.conf.d" / "10-gcs.conf",
           "[DEFAULT]\nbackup_driver = gcs\n")
    assert config.load().backup_driver == "gcs"  # ember.conf.d beside it is read after


def test_explicit_files_replace_the_search_and_later_files_win(clean_env):
    _write(clean_env / "home" / ".config" / "ember" / "ember.conf",
           "[DEFAULT]\nbackup_timer_interval = 7\n")
    one = _write(clean_env / "one.conf", "[DEFAULT]\nbackup_driver = nfs\n")
    two = _write(clean_env / "two.conf", "[DEFAULT]\nbackup_driver = swift\n")
    conf = config.load([str(one), str(two)])
    assert conf.backup_driver == "swift"
    assert conf.backup_timer_interval == 120  # the searched file was not read


def test_config_dir_is_read_after_the_files(clean_env):
    one = _write(clean_env / "one.conf", "[DEFAULT]\nbackup_driver = nfs\n"
                                         "backup_timer_interval = 9\n")
    _write(clean_env / "conf.d" / "20-b.conf", "[DEFAULT]\nbackup_driver = gcs\n")
    _write(clean_env / "conf.d" / "10-a.conf", "[DEFAULT]\nbackup_driver = swift\n")
    conf = config.load([str(one)], [str(clean_env / "conf.d")])
    assert (conf.backup_driver, conf.backup_timer_interval) == ("gcs", 9)  # sorted order
    with pytest.raises(errors.ConfigError, match="^config directory .*/nope not found"):
        config.load([], [str(clean_env / "nope")])


def test_environment_overrides_files(clean_env, monkeypatch):
    one = _write(clean_env / "one.conf", "[DEFAULT]\nbackup_driver = nfs\n"
                                         "[database]\nconnection = sqlite:///x\n")
    monkeypatch.setenv("OS_DEFAULT__BACKUP_DRIVER", "memory")
    monkeypatch.setenv("OS_DATABASE__CONNECTION", "sqlite:///y")
    conf = config.load([str(one)])
    assert (conf.backup_driver, conf.database.connection) == ("memory", "sqlite:///y")


def test_a_multi_valued_option_from_the_environment_is_one_value(clean_env, monkeypatch):
    """oslo.config alone would split it into characters (['m', 'e', 's', ...])."""
    from ember.notifications import configured_drivers
    from oslo_config import cfg

    monkeypatch.setenv("OS_OSLO_MESSAGING_NOTIFICATIONS__DRIVER", "messagingv2")
    conf = config.load()
    assert configured_drivers(conf) == ["messagingv2"]  # before oslo.messaging registers
    # registered after loading, as oslo.messaging does when it creates the notifier
    conf.register_opt(cfg.MultiStrOpt("driver", default=[]),
                      group="oslo_messaging_notifications")
    assert conf.oslo_messaging_notifications.driver == ["messagingv2"]
    assert configured_drivers(conf) == ["messagingv2"]


def test_errors_are_one_line(clean_env, monkeypatch):
    with pytest.raises(errors.ConfigError) as missing:
        config.load([str(clean_env / "nope.conf")])
    assert str(missing.value) == ("config file %s not found; check the --config-file path"
                                  % (clean_env / "nope.conf"))
    garbage = _write(clean_env / "garbage.conf", "this is not [ini\n")
    with pytest.raises(errors.ConfigError, match="^cannot parse config file .*garbage.conf"):
        config.load([str(garbage)])
    monkeypatch.setenv("OS_DEFAULT__BACKUP_COMPRESSION_ALGORITHM", "lzma")
    with pytest.raises(errors.ConfigError) as bad:
        config.load()
    assert str(bad.value) == (
        "invalid value for [DEFAULT] backup_compression_algorithm (from "
        "OS_DEFAULT__BACKUP_COMPRESSION_ALGORITHM): Valid values are [none, "
        "off, no, zlib, gzip, bz2, bzip2, zstd], but found 'lzma'; fix it or remove it")


CINDER_CONF = """\
[DEFAULT]
# an operator's cinder.conf: backup settings plus much Ember does not know
transport_url = rabbit://openstack:secret@controller
auth_strategy = keystone
enabled_backends = lvm
my_ip = 10.0.0.11
glance_api_servers = http://controller:9292
state_path = {state}
backup_driver = cinder.backup.drivers.posix.PosixBackupDriver
backup_posix_path = {repo}
backup_compression_algorithm = bz2
backup_file_size = 1048576
backup_sha_block_size_bytes = 4096
lock_path = $state_path/tmp

[keystone_authtoken]
www_authenticate_uri = http://controller:5000
password = secret

[lvm]
volume_driver = cinder.volume.drivers.lvm.LVMVolumeDriver
volume_group = cinder-volumes
"""


def test_cinder_conf_backup_section_carries_over(ember, tmp_path):
    repo = tmp_path / "cinder-backups"
    repo.mkdir()  # the operator's repository exists (Ember makes one only in state_path)
    state = tmp_path / "cinder-state"
    conf = _write(tmp_path / "cinder.conf", CINDER_CONF.format(state=state, repo=repo))
    for key in ("OS_DEFAULT__STATE_PATH", "OS_DEFAULT__BACKUP_FILE_SIZE",
                "OS_DEFAULT__BACKUP_SHA_BLOCK_SIZE_BYTES"):
        del ember.env[key]  # everything comes from the cinder.conf
    vol = ember.json("--config-file", conf, "volume", "create", "--size", "4M", "v")
    assert vol["path"].startswith(str(state))
    ember.write_at(vol["path"], 0, b"compressible text " * (MiB // 9))
    backup = ember.json("--config-file", conf, "volume", "backup", "create", "v")
    assert backup["service"] == "cinder.backup.drivers.posix.PosixBackupDriver"
    metadata = [p for p in repo.rglob("*_metadata")]
    assert len(metadata) == 1 and backup["container"] in str(metadata[0])
    objects = json.loads(metadata[0].read_text())["objects"]
    assert len(objects) == 4  # a 4 MiB volume in 1 MiB objects (backup_file_size)
    assert {list(o.values())[0]["compression"] for o in objects} == {"bz2"}


def test_help_needs_no_configuration_or_state(ember, tmp_path):
    bad = _write(tmp_path / "bad.conf", "[DEFAULT]\nbackup_file_size = -1\n")
    result = ember.run("--config-file", bad, "--help")
    assert result.returncode == 0 and "volume backup create" in result.stdout
    result = ember.run("help", "volume", "backup", "restore")
    assert result.returncode == 0 and "--force" in result.stdout
    assert not any(ember.state.iterdir())  # no catalogue was created


def _generator_namespaces():
    lines = (ROOT / "etc" / "ember-config-generator.conf").read_text().splitlines()
    return [line.split("=", 1)[1].strip() for line in lines
            if line.split("=", 1)[0].strip() == "namespace"]


@pytest.fixture
def all_namespaces_installed():
    installed = {ep.name for ep in entry_points(group="oslo.config.opts")}
    missing = [n for n in _generator_namespaces() if n not in installed]
    if missing:
        pytest.skip("option namespaces not installed (pip install -e the plugins, or run "
                    "make test): %s" % ", ".join(missing))


def test_sample_config_is_up_to_date(all_namespaces_installed, tmp_path):
    out = tmp_path / "ember.conf.sample"
    generator = Path(sys.executable).parent / "oslo-config-generator"
    subprocess.run([str(generator), "--config-file", "etc/ember-config-generator.conf",
                    "--output-file", str(out)], cwd=ROOT, check=True, capture_output=True)
    assert out.read_text() == (ROOT / "etc" / "ember.conf.sample").read_text(), (
        "etc/ember.conf.sample is stale: run "
        "oslo-config-generator --config-file etc/ember-config-generator.conf")


def test_configuration_reference_is_up_to_date(all_namespaces_installed):
    result = subprocess.run([sys.executable, "docs/gen_config_reference.py", "--check"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_user_guide_covers_every_command(ember):
    """docs/user-guide.md has a section for every command ``ember --help`` lists."""
    listing = ember.ok("--help").stdout.split("Commands:", 1)[1]
    guide = (ROOT / "docs" / "user-guide.md").read_text()
    names = []
    for line in listing.splitlines():
        words = line.strip().split("  ")[0]
        if words and words not in ("complete", "help"):
            names.append(words)
    assert "volume backup create" in names and "backup-reset-state" in names
    missing = [n for n in names if "### ember %s\n" % n not in guide]
    assert not missing, "docs/user-guide.md lacks sections for: %s" % ", ".join(missing)


def test_search_list_is_the_same_in_help_readme_and_reference(ember, monkeypatch):
    monkeypatch.setenv("HOME", "/HOME")
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    dirs = [d.replace("/HOME", "~") for d in config.search_dirs()]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    readme = open(os.path.join(root, "README.md"), encoding="utf-8").read()
    assert " ".join(readme.split()).count(", ".join("`%s/`" % d.rstrip("/") for d in dirs)) == 1
    reference = " ".join(open(os.path.join(root, "docs", "configuration.md"),
                              encoding="utf-8").read().split())
    assert ", ".join("`%s/ember.conf`" % d.rstrip("/") for d in dirs) in reference
    usage = " ".join(ember.ok("--help").stdout.split())
    assert "the first ember.conf in %s." % ", ".join(d.rstrip("/") for d in dirs) in usage
