"""Two real ``ember`` processes on one state: one runs a long backup or restore, the other
cancels it. The test watches the catalogue (SQLite, read-only queries) to time how long
the running process takes to react.

"Long" is made cheaply: bz2 on compressible text, with one engine thread for the
operation that gets cancelled, so a 48-64 MiB volume takes seconds even on an idle
machine; the cancel comes from an ``ember`` shell started beforehand (no start-up
delay), so it surely lands while the operation runs.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sqlite3
import subprocess
import sys
import time
from importlib.metadata import entry_points

import pytest
from ember.testing.cli import words
from ember.testing.services import PATIENCE, require

EMBER = os.path.join(os.path.dirname(sys.executable), "ember")
MiB = 1 << 20
class Ember:
    """The ``ember`` executable with its own $HOME and state directory."""

    def __init__(self, root):
        self.root = root
        self.state = root / "state"
        self.repo = self.state / "backup"  # the posix default repository
        (root / "home").mkdir(parents=True)
        self.state.mkdir()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OS_", "EMBER_", "XDG_"))}
        env.update({"HOME": str(root / "home"), "OS_DEFAULT__STATE_PATH": str(self.state),
                    "OS_DEFAULT__BACKUP_FILE_SIZE": str(MiB),
                    "OS_DEFAULT__BACKUP_SHA_BLOCK_SIZE_BYTES": "4096",
                    "OS_DEFAULT__BACKUP_COMPRESSION_ALGORITHM": "bz2"})
        self.env = env
        self.shells = []

    def run(self, *args):
        return subprocess.run([EMBER, *map(str, args)], capture_output=True, text=True,
                              env=self.env, timeout=PATIENCE)

    def ok(self, *args) -> str:
        result = self.run(*args)
        assert result.returncode == 0, (args, result.stderr)
        return result.stdout

    def json(self, *args):
        return json.loads(self.ok(*args, "-f", "json"))

    def start(self, *args, threads: int = 1) -> subprocess.Popen:
        """Start ``ember ARGS`` with ``threads`` engine threads (one: slow on purpose),
        with Ctrl-C's default action: a test run started in the background by a script
        (``make test &``) has SIGINT ignored, and Python keeps an inherited ignore, as a
        background job should, so a Ctrl-C test would see the operation run to its end."""
        env = dict(self.env, OS_DEFAULT__BACKUP_ENGINE_THREADS=str(threads))
        return subprocess.Popen([EMBER, *map(str, args)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env,
                                preexec_fn=_ctrl_c_default)

    def shell(self, warm_up_volume: str) -> "Shell":
        return Shell(self, warm_up_volume)

    # --- the catalogue, read directly (no ember process start-up in the timing) -------
    def query(self, sql: str, *params):
        db = sqlite3.connect("file:%s?mode=ro" % (self.state / "ember.sqlite"), uri=True,
                             timeout=PATIENCE)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    def wait_for(self, sql: str, *params, timeout: float = PATIENCE, poll: float = 0.02):
        """Poll until ``sql`` returns a row; returns (row, time of the last poll that
        did not see it) so a latency measured from there is never too small."""
        deadline = time.monotonic() + timeout
        before = time.monotonic()
        while time.monotonic() < deadline:
            rows = self.query(sql, *params)
            if rows:
                return rows[0], before
            before = time.monotonic()
            time.sleep(poll)
        raise AssertionError("timed out waiting for: %s %r" % (sql, params))

    def files(self) -> list:
        """Every file left in the repository (directories do not count)."""
        return sorted(os.path.relpath(os.path.join(d, f), self.repo)
                      for d, _, names in os.walk(self.repo) for f in names)

    def committed(self, first: str, last: str):
        """A test of "under way": an object ending ``first`` is committed (there is
        something to clean up) and none ending ``last`` is (the work is not done). A
        writer's temporary file (``.ember-tmp-…``) is not committed."""
        def under_way() -> bool:
            names = [os.path.basename(f) for f in self.files()]
            names = [n for n in names if not n.startswith(".")]
            return (any(n.endswith(first) for n in names)
                    and not any(n.endswith(last) for n in names))
        return under_way

    def volume(self, name: str, size_mib: int, seed: int = 1) -> dict:
        volume = self.json("volume", "create", "--size", "%dM" % size_mib, name)
        with open(volume["path"], "r+b") as f:
            f.write(words(size_mib * MiB, seed))
        return volume


def _ctrl_c_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Shell:
    """``ember`` in interactive mode (commands on stdin), started and warmed up before
    it is needed: a cancel sent to it acts at once, with no process start-up in the
    way, so it lands while the other process is surely still running."""

    def __init__(self, ember: Ember, warm_up_volume: str):
        self.proc = subprocess.Popen([EMBER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     env=dict(ember.env, PYTHONUNBUFFERED="1"))
        ember.shells.append(self)
        # the first command loads the service (imports, catalogue); wait for its answer
        self.send("volume show %s -f value -c status" % warm_up_volume)
        ready, _, _ = select.select([self.proc.stdout], [], [], PATIENCE)
        assert ready and self.proc.stdout.readline().strip() == "available", "shell not ready"

    def send(self, command: str) -> None:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def close(self) -> str:
        """End the shell; returns what it wrote on stderr."""
        _, err = self.proc.communicate(timeout=PATIENCE)
        return err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def ember(tmp_path):
    installed = {ep.name for ep in entry_points(group="ember.backup.drivers")}
    require("posix" in installed, "the posix driver plugin (ember-backup-posix)",
            "pip install -e plugins/posix, or make test")
    ember = Ember(tmp_path)
    yield ember
    for shell in ember.shells:  # a failed test must not leave a shell waiting on stdin
        shell.kill()
