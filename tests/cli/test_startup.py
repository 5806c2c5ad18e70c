"""Start-up cost: what a command imports, not how long it takes (timings would be flaky
on a shared machine). ``ember --help`` needs no catalogue; ``ember volume list`` on a
catalogue at the packaged schema head needs neither Alembic nor oslo.messaging (nor, on
SQLite, SQLAlchemy).

Each probe runs the CLI's ``main`` in a fresh interpreter and records ``sys.modules``
after it returns.
"""

from __future__ import annotations

import json
import subprocess
import sys

from ember.testing.services import PATIENCE

WATCHED = ("alembic", "oslo_messaging", "oslo_policy", "sqlalchemy", "ember.service",
           "ember.repository.scan", "ember.repository.verify", "ember.engine.engine")

PROBE = """
import json, sys
from ember.cli.shell import main
try:
    code = main(sys.argv[2:])
except SystemExit as exc:
    code = exc.code
code = 0 if code is None else code  # as sys.exit(main()) does
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "modules": sorted(m for m in %r if m in sys.modules)}, out)
""" % (WATCHED,)


def imported(ember, *args):
    """(exit code, the watched modules imported) of ``ember ARGS`` run in-process."""
    report = ember.root / "modules.json"
    proc = subprocess.run([sys.executable, "-c", PROBE, str(report), *args],
                          capture_output=True, text=True, env=ember.env, cwd=str(ember.root),
                          timeout=PATIENCE)
    assert report.exists(), proc.stderr
    result = json.loads(report.read_text())
    report.unlink()
    return result["code"], set(result["modules"]), proc


def test_help_imports_no_service_stack(ember):
    code, modules, proc = imported(ember, "--help")
    assert code == 0, proc.stderr
    assert "volume backup verify" in proc.stdout  # every command is still listed
    assert modules == set(), modules


def test_command_help_imports_no_service_stack(ember):
    code, modules, proc = imported(ember, "help", "volume", "backup", "record", "scan")
    assert code == 0, proc.stderr
    assert "--dry-run" in proc.stdout
    assert modules == set(), modules


def test_volume_list_at_schema_head_needs_no_alembic_nor_oslo_messaging(ember):
    # the first open creates the catalogue, which is Alembic's job...
    code, modules, proc = imported(ember, "volume", "list")
    assert code == 0, proc.stderr
    assert "alembic" in modules
    ember.ok("volume", "create", "--size", "1M", "vol1")

    # ...every later open finds it at head with one query
    code, modules, proc = imported(ember, "volume", "list", "-f", "value", "-c", "Name")
    assert code == 0, proc.stderr
    assert proc.stdout.split() == ["vol1"]
    assert "ember.service" in modules  # the probe saw a real command run
    # read with sqlite3 (ember.service.quick): neither SQLAlchemy nor oslo.policy's checks
    assert not modules & {"alembic", "oslo_messaging", "sqlalchemy", "ember.repository.scan",
                          "ember.repository.verify", "ember.engine.engine"}, modules
