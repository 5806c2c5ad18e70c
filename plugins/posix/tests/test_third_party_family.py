"""A third-party driver joins the posix family and answers to a Cinder class path by
declaring both itself: a small distribution is built and installed (pip, into a
directory put on the path of the real ``ember``), with nothing about it in Ember."""

import os
import subprocess
import sys
import textwrap

import pytest
from ember.testing.cli import EmberCLI, MiB, pattern, sha256_file

ALIAS = "cinder.backup.drivers.cephfs.CephFSBackupDriver"

PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "acme-ember-cephfs"
version = "1.0"
dependencies = ["ember-backup-posix"]

[project.entry-points."ember.backup.drivers"]
cephfs = "acme_cephfs:CephFSBackupDriver"
"%s" = "acme_cephfs:CephFSBackupDriver"

[tool.setuptools]
py-modules = ["acme_cephfs"]
""" % ALIAS

MODULE = '''\
"""A CephFS driver: a posix-family repository on a mounted CephFS directory."""
from ember import opts
from ember.layout import posix_family
from ember_posix.driver import PosixBackupDriver


class CephFSBackupDriver(PosixBackupDriver):
    name = "cephfs"

    @classmethod
    def layout(cls, conf):
        # the posix family's names and sizes, recorded as the CephFS driver
        return posix_family(opts.register(conf), "%s")
''' % ALIAS


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The plugin, built into a wheel and installed as users do (no source on the path)."""
    src = tmp_path_factory.mktemp("acme-src")
    (src / "pyproject.toml").write_text(PYPROJECT)
    (src / "acme_cephfs.py").write_text(MODULE)
    target = tmp_path_factory.mktemp("acme-site")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--no-build-isolation", "--no-index", "--target", str(target), str(src)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert not (target / "acme_cephfs.py").samefile(src / "acme_cephfs.py")
    return target


@pytest.fixture
def ember(tmp_path, site):
    return EmberCLI(tmp_path, extra_env={"PYTHONPATH": str(site)})


def test_a_plugin_declares_its_alias_and_joins_the_posix_family(ember):
    data = pattern(7, 3 * MiB)
    volume = ember.create_volume("vol", data=data)
    cephfs = {"OS_DEFAULT__BACKUP_DRIVER": ALIAS}  # the class path a cinder.conf holds
    backup = ember.json("volume", "backup", "create", "vol", "--name", "b", env=cephfs)
    shown = ember.json("volume", "backup", "show", backup["id"], env=cephfs)
    assert (shown["status"], shown["service"]) == ("available", ALIAS)

    # the posix driver reads it: same family, declared by the plugin, not by Ember
    restored = ember.json("volume", "backup", "restore", backup["id"], "copy",
                          env={"OS_DEFAULT__BACKUP_DRIVER": "posix"})
    path = ember.volume_path(restored["volume_id"])
    assert sha256_file(path, len(data)) == sha256_file(volume["path"], len(data))
    ember.ok("volume", "backup", "delete", backup["id"], env=cephfs)
    # deleting the only backup in it removes its emptied container directory too
    assert not os.path.exists(os.path.join(ember.state, "backup", shown["container"]))
