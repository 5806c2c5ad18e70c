"""The real ``ember`` executable with a private state, plus what the progress tests need:
compressible text volumes (bz2 on them is slow enough for several progress reports),
and a hook plugin published through a real ``ember.hooks`` entry point.

The plugin is a module and a ``.dist-info`` directory (with ``entry_points.txt``) in a
temporary directory put on ``PYTHONPATH`` of the ``ember`` processes only, so
``importlib.metadata`` finds it exactly as an installed distribution, without touching
the shared virtualenv. It appends every hook call as one JSON line to ``$EVENTS_FILE``.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from importlib.metadata import entry_points

import pytest
from ember.testing.services import require

EMBER = os.path.join(os.path.dirname(sys.executable), "ember")
MiB = 1 << 20

RECORDER = '''
import json, os
from ember.hooks import hookimpl

def _write(**event):
    with open(os.environ["EVENTS_FILE"], "a") as f:
        f.write(json.dumps(event, default=str) + "\\n")

@hookimpl
def ember_operation_start(operation, backup, volume):
    _write(hook="start", operation=operation, status=backup["status"],
           volume_status=volume and volume["status"])

@hookimpl
def ember_operation_end(operation, backup, error):
    _write(hook="end", operation=operation, status=backup["status"],
           error=type(error).__name__ if error else None)

@hookimpl
def ember_progress(operation, backup, done_bytes, total_bytes, percent):
    _write(hook="progress", operation=operation, backup=backup, done=done_bytes,
           total=total_bytes, percent=percent)
'''


def text(size: int, seed: int = 1) -> bytes:
    rnd = random.Random(seed)
    words = [bytes(rnd.choices(b"abcdefghijklmnopqrstuvwxyz", k=rnd.randint(2, 9)))
             for _ in range(4096)]
    out = bytearray()
    while len(out) < size:
        out += b" ".join(rnd.choices(words, k=4096)) + b"\n"
    return bytes(out[:size])


class Ember:
    def __init__(self, root):
        self.root = root
        self.state = root / "state"
        (root / "home").mkdir(parents=True)
        self.state.mkdir()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OS_", "EMBER_", "XDG_"))}
        env.update({"HOME": str(root / "home"), "OS_DEFAULT__STATE_PATH": str(self.state),
                    "OS_DEFAULT__BACKUP_FILE_SIZE": str(MiB),
                    "OS_DEFAULT__BACKUP_SHA_BLOCK_SIZE_BYTES": "4096",
                    "OS_DEFAULT__BACKUP_COMPRESSION_ALGORITHM": "bz2"})
        self.env = env

    def argv(self, *args):
        return [EMBER, *map(str, args)]

    def run(self, *args):
        return subprocess.run(self.argv(*args), capture_output=True, text=True,
                              env=self.env, timeout=120)

    def ok(self, *args) -> subprocess.CompletedProcess:
        result = self.run(*args)
        assert result.returncode == 0, (args, result.stderr)
        return result

    def json(self, *args):
        return json.loads(self.ok(*args, "-f", "json").stdout)

    def volume(self, name: str, size_mib: int) -> dict:
        volume = self.json("volume", "create", "--size", "%dM" % size_mib, name)
        with open(volume["path"], "r+b") as f:
            f.write(text(size_mib * MiB))
        return volume

    def install_recorder(self) -> "Events":
        """Publish the recording plugin through an ``ember.hooks`` entry point."""
        site = self.root / "plugin-site"
        info = site / "ember_test_recorder-1.0.dist-info"
        info.mkdir(parents=True)
        (site / "ember_test_recorder.py").write_text(RECORDER)
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ember-test-recorder\n"
                                       "Version: 1.0\n")
        (info / "entry_points.txt").write_text("[ember.hooks]\nrecorder = ember_test_recorder\n")
        events = Events(self.root / "events.jsonl")
        self.env["PYTHONPATH"] = str(site)
        self.env["EVENTS_FILE"] = str(events.path)
        return events


class Events:
    def __init__(self, path):
        self.path = path

    def read(self) -> list:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines()]


@pytest.fixture
def ember(tmp_path) -> Ember:
    installed = {ep.name for ep in entry_points(group="ember.backup.drivers")}
    require("posix" in installed, "the posix driver plugin (ember-backup-posix)",
            "pip install -e plugins/posix, or make test")
    return Ember(tmp_path)
