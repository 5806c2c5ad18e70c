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

import pytest
from ember.testing.cli import MiB, EmberCLI, require_posix_plugin, words

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


class Ember(EmberCLI):
    """``EmberCLI`` compressing with bz2 (slow enough on text for several progress
    reports), with text volumes and the recording hook plugin."""

    def __init__(self, root):
        super().__init__(root, {"OS_DEFAULT__BACKUP_COMPRESSION_ALGORITHM": "bz2"})

    def volume(self, name: str, size_mib: int) -> dict:
        """A volume of ``size_mib`` MiB of compressible text."""
        volume = self.json("volume", "create", "--size", "%dM" % size_mib, name)
        self.write_at(volume["path"], 0, words(size_mib * MiB))
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
        # only whole lines: the writer may be caught (or held) in the middle of one
        return [json.loads(line) for line in self.path.read_text().split("\n")[:-1]]


@pytest.fixture
def ember(tmp_path) -> Ember:
    require_posix_plugin()
    return Ember(tmp_path)
