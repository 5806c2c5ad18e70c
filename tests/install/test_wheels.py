"""Ember as users install it: wheels of every distribution (``python -m build``) in a
clean virtual environment, with no editable install and no source tree on the path.

One module-scoped venv serves every test: stevedore finds every plugin, the sample
configuration lists every plugin's options, a backup and a restore run through each
installed driver that needs no server (posix through the real ``ember``, memory through
the service in one process), and a catalogue URL whose database driver is missing names
the extra that installs it. Dependencies come from PyPI (the machine's pip cache is
used when it has them).
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest
from ember.testing.services import require

pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[2]
DISTRIBUTIONS = [ROOT] + sorted(p.parent for p in ROOT.glob("plugins/*/pyproject.toml"))
PLUGINS = sorted(p.parent.name for p in ROOT.glob("plugins/*/pyproject.toml"))


def _run(argv, **kwargs):
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=1800, **kwargs)
    assert proc.returncode == 0, "%s failed:\n%s\n%s" % (argv, proc.stdout, proc.stderr)
    return proc


def _clean_env(home: pathlib.Path) -> dict:
    """No PYTHONPATH, no configuration from this machine, the machine's pip cache."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
           and not k.startswith(("OS_", "EMBER_", "XDG_"))}
    env.update(HOME=str(home), PIP_CACHE_DIR=os.path.expanduser("~/.cache/pip"),
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv bin directory, environment, work directory) of the clean install."""
    try:
        import build  # noqa: F401
    except ImportError:
        build = None
    require(build is not None, "the 'build' package", "pip install 'ember-backup[test]'")
    work = tmp_path_factory.mktemp("install")
    wheels = work / "wheels"
    for dist in DISTRIBUTIONS:
        # built from a copy: setuptools writes build/ and *.egg-info beside the sources,
        # and a stale build/ of the tree would leak removed modules into the wheel
        copy = work / "src" / dist.relative_to(ROOT.parent)
        shutil.copytree(dist, copy, ignore=shutil.ignore_patterns(
            "build", "*.egg-info", "__pycache__", ".venv", ".git", ".tox", "plugins",
            "tests", "benchmarks", "interop", "docs"))
        # --no-isolation: this venv's setuptools, no download
        _run([sys.executable, "-m", "build", "--wheel", "--no-isolation",
              "--outdir", wheels, copy], cwd=work)
    names = sorted(p.name for p in wheels.glob("*.whl"))
    assert len(names) == len(DISTRIBUTIONS), names
    venv = work / "venv"
    _run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", venv], cwd=work)
    home = work / "home"
    home.mkdir()
    env = _clean_env(home)
    _run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--prefer-binary",
          *sorted(wheels.glob("*.whl"))], cwd=work, env=env)
    return venv / "bin", env, work


def _python(installed, code: str) -> str:
    bin_dir, env, work = installed
    return _run([bin_dir / "python", "-c", textwrap.dedent(code)], cwd=work, env=env).stdout


def test_nothing_comes_from_the_source_tree(installed):
    bin_dir, env, work = installed
    out = _python(installed, """
        import ember, ember_posix
        print(ember.__file__); print(ember_posix.__file__)
    """)
    for path in out.split():
        assert "site-packages" in path and not path.startswith(str(ROOT)), path
    editable = _run([bin_dir / "python", "-m", "pip", "list", "--editable"], cwd=work,
                    env=env).stdout
    assert "ember" not in editable


def test_stevedore_finds_every_plugin(installed):
    out = _python(installed, """
        from stevedore import ExtensionManager
        manager = ExtensionManager("ember.backup.drivers", invoke_on_load=False)
        print(" ".join(sorted(n for n in manager.names() if "." not in n)))
    """)
    assert out.split() == sorted(PLUGINS + ["memory"])


def test_the_dashboard_and_metrics_work_from_the_wheel(installed):
    """The page's templates and stylesheet are package data of the wheel."""
    out = _python(installed, """
        from ember.api import dashboard
        page = dashboard.sign_in_page().text
        print(dashboard._environment().get_template("dashboard.html").filename)
        print("ok" if 'name="token"' in page and "--ok:" in page else "broken")
        import prometheus_client, jinja2
    """)
    template, rendered = out.split()
    assert "site-packages" in template and rendered == "ok", out


def test_the_config_generator_lists_every_plugins_options(installed):
    bin_dir, env, work = installed
    namespaces = ["ember"] + ["ember." + p for p in PLUGINS]
    argv = [bin_dir / "oslo-config-generator"]
    for namespace in namespaces:
        argv += ["--namespace", namespace]
    sample = _run(argv, cwd=work, env=env).stdout
    for option in ("backup_driver", "backup_posix_path", "backup_share",
                   "glusterfs_backup_share", "backup_swift_url", "backup_gcs_bucket",
                   "backup_s3_endpoint_url"):
        assert "#%s = " % option in sample, option


def test_posix_backs_up_and_restores_through_the_installed_ember(installed):
    bin_dir, env, work = installed
    state = work / "state"
    env = dict(env, OS_DEFAULT__STATE_PATH=str(state), OS_DEFAULT__BACKUP_DRIVER="posix")

    def ember(*args):
        return _run([bin_dir / "ember", *args, "-f", "value", "-c", "id"], cwd=work,
                    env=env).stdout.strip()

    volume = ember("volume", "create", "--size", "2M", "v")
    path = _run([bin_dir / "ember", "volume", "show", volume, "-f", "value", "-c", "path"],
                cwd=work, env=env).stdout.strip()
    data = hashlib.shake_256(b"wheel").digest(1 << 20)
    with open(path, "r+b") as f:
        f.write(data)
    backup = ember("volume", "backup", "create", "v")
    _run([bin_dir / "ember", "volume", "backup", "restore", backup, "copy"],
         cwd=work, env=env)
    copy = _run([bin_dir / "ember", "volume", "show", "copy", "-f", "value", "-c", "path"],
                cwd=work, env=env).stdout.strip()
    with open(copy, "rb") as f:
        assert f.read(len(data)) == data


def test_memory_backs_up_and_restores_through_the_installed_service(installed, tmp_path):
    out = _python(installed, """
        import hashlib
        from ember.context import RequestContext
        from ember.service import Ember
        from ember.testing.config import make_conf

        ctx = RequestContext.default()
        service = Ember(make_conf(state_path=%r, backup_driver="memory"))
        vol = service.create_volume(ctx, "v", size="2M")
        with open(vol["path"], "r+b") as f:
            f.write(hashlib.shake_256(b"memory").digest(1 << 20))
        backup = service.create_backup(ctx, "v")
        copy = service.restore_backup(ctx, backup["id"], name="copy")
        target = service.get_volume(ctx, copy["volume_id"])["path"]
        digest = [hashlib.sha256(open(p, "rb").read()).hexdigest()
                  for p in (vol["path"], target)]
        print(backup["status"], digest[0] == digest[1])
    """ % str(tmp_path / "state"))
    assert out.split() == ["available", "True"]


@pytest.mark.parametrize("url,extra", [
    ("postgresql://postgres@127.0.0.1:5432/test", "ember-backup[postgresql]"),
    ("mysql://root@127.0.0.1:3306/test", "ember-backup[mysql]"),
])
def test_a_missing_database_driver_names_the_extra(installed, url, extra):
    bin_dir, env, work = installed
    env = dict(env, OS_DEFAULT__STATE_PATH=str(work / "state-db"),
               OS_DATABASE__CONNECTION=url)
    proc = subprocess.run([str(bin_dir / "ember"), "volume", "list"], capture_output=True,
                          text=True, cwd=work, env=env, timeout=300)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].endswith("pip install '%s'" % extra), lines[0]


def test_the_readme_puts_the_catalogue_on_postgresql(installed):
    """README, "The catalogue on PostgreSQL": the extra, a plain URL, the first command."""
    from ember.testing.services import scratch_database

    bin_dir, env, work = installed
    wheels = work / "wheels"
    _run([bin_dir / "python", "-m", "pip", "install", "--quiet", "--find-links", wheels,
          "ember-backup[postgresql]"], cwd=work, env=env)
    server = ("postgresql+psycopg2://postgres@127.0.0.1:5432/test",
              "service postgresql start (trust auth for postgres on 127.0.0.1:5432)")
    with scratch_database(*server) as url:
        plain = url.replace("postgresql+psycopg2://", "postgresql://", 1)
        env = dict(env, OS_DEFAULT__STATE_PATH=str(work / "state-pg"),
                   OS_DATABASE__CONNECTION=plain)
        _run([bin_dir / "ember", "volume", "create", "--size", "1M", "on-pg"], cwd=work,
             env=env)
        listed = _run([bin_dir / "ember", "volume", "list", "-f", "value", "-c", "Name"],
                      cwd=work, env=env).stdout.split()
        assert listed == ["on-pg"]
