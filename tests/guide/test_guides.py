"""The README's short guide and docs/user-guide.md, run as written.

The commands are read out of the Markdown itself, so the documents and this test
cannot drift apart: each is run in order, in a fresh ``$HOME`` with no configuration
(the embedded default, as a new user has it), by bash in that directory, against the
real ``ember`` executable.

* README: every line of the fenced blocks of "A short guide" is a command; each must
  exit 0.
* user guide: in fenced blocks, a line ``$ COMMAND`` is a command and the lines after it
  are what it prints (stdout and stderr together). A command must exit 0 unless what it
  prints ends with an error line (``ember: …``, or ``ember CMD: error: …`` for a
  malformed command line); ``echo $?`` prints the previous status.
  Shown output must match what the command printed, line by line, where a UUID stands
  for any UUID, ``…`` for any text, ``~`` for the home directory, a timestamp in an object
  name for any timestamp, and runs of spaces or of table dashes for any run (column
  widths follow the data).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import entry_points

import pytest
from ember.testing.services import require

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
#: the last line a refused command prints: "ember: …" or argparse's "ember CMD: error: …"
ERROR_LINE = re.compile(r"ember( [a-z -]+: error)?: ")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def fenced_blocks(text: str) -> list[list[str]]:
    """The lines of every fenced code block, in order."""
    blocks, current = [], None
    for line in text.splitlines():
        if line.startswith("```"):
            if current is None:
                current = []
            else:
                blocks.append(current)
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def section(text: str, title: str) -> str:
    """The Markdown from the heading ``title`` to the next heading of its level."""
    start = re.search(r"^(#+) %s$" % re.escape(title), text, re.M)
    level = len(start.group(1))
    end = re.compile(r"^#{1,%d} " % level, re.M).search(text, start.end())
    return text[start.end():end.start() if end else len(text)]


def sessions(blocks) -> list[tuple[str, list[str]]]:
    """(command, lines it prints) for each ``$ `` line of the blocks."""
    steps = []
    for block in blocks:
        for line in block:
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif steps and line.strip():
                steps[-1][1].append(line)
    return steps


class Shell:
    """bash in a fresh home directory, with ``ember`` on the PATH."""

    def __init__(self, home):
        self.home = str(home)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OS_", "EMBER_", "XDG_"))}
        env.update(HOME=self.home, PATH=BIN + os.pathsep + env.get("PATH", ""),
                   COLUMNS="200")
        self.env = env
        self.status = 0

    def run(self, command: str) -> subprocess.CompletedProcess:
        if command.strip() == "echo $?":
            return subprocess.CompletedProcess(command, 0, "%d\n" % self.status, "")
        done = subprocess.run(["bash", "-c", command], cwd=self.home, env=self.env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=300)
        self.status = done.returncode
        return done


def _normal(line: str) -> str:
    line = re.sub(r" +", " ", line.rstrip())
    return re.sub(r"-{2,}", "-", line)


def matches(expected: list[str], printed: str, home: str) -> bool:
    actual = [line for line in printed.replace(home, "~").splitlines() if line.strip()]
    if len(actual) != len(expected):
        return False
    for want, got in zip(expected, actual):
        parts = [re.escape(p) for p in UUID.split(_normal(want))]
        pattern = "[0-9a-f-]{36}".join(parts).replace(re.escape("…"), ".*")
        pattern = re.sub(r"_\d{14}_", "_[0-9]{14}_", pattern)
        if not re.fullmatch(pattern, _normal(got)):
            return False
    return True


def _read(*path) -> str:
    with open(os.path.join(ROOT, *path), encoding="utf-8") as f:
        return f.read()


@pytest.fixture
def shell(tmp_path):
    installed = {ep.name for ep in entry_points(group="ember.backup.drivers")}
    require("posix" in installed, "the posix driver plugin (ember-backup-posix)",
            "pip install -e plugins/posix, or make test")
    (tmp_path / "home").mkdir()
    return Shell(tmp_path / "home")


def test_readme_short_guide_runs_as_written(shell):
    commands = [line for block in fenced_blocks(section(_read("README.md"), "A short guide"))
                for line in block if line.strip()]
    assert len(commands) >= 10
    for command in commands:
        done = shell.run(command)
        assert done.returncode == 0, "README: %s\n%s" % (command, done.stdout)


def test_user_guide_runs_as_written(shell):
    steps = sessions(fenced_blocks(_read("docs", "user-guide.md")))
    assert len(steps) >= 40
    for command, expected in steps:
        done = shell.run(command)
        failing = bool(expected) and ERROR_LINE.match(expected[-1]) is not None
        assert failing or done.returncode == 0, "user guide: %s\n%s" % (command, done.stdout)
        if expected:
            assert matches(expected, done.stdout, shell.home), (
                "user guide: %s printed:\n%s\nthe guide shows:\n%s"
                % (command, done.stdout, "\n".join(expected)))


def test_policies_guide_runs_as_written(shell):
    steps = sessions(fenced_blocks(_read("docs", "policies.md")))
    assert len(steps) >= 6
    for command, expected in steps:
        done = shell.run(command)
        failing = bool(expected) and ERROR_LINE.match(expected[-1]) is not None
        assert failing or done.returncode == 0, "policies: %s\n%s" % (command, done.stdout)
        if expected:
            assert matches(expected, done.stdout, shell.home), (
                "policies: %s printed:\n%s\nthe guide shows:\n%s"
                % (command, done.stdout, "\n".join(expected)))
