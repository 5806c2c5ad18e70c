"""Run the real ``ember`` executable in subprocesses, each test with its own state.

Every test gets a fresh ``$HOME``, XDG directories and ``state_path`` (SQLite catalogue,
volume images and the posix repository under it), so no user or system configuration
and no other test can leak in. Objects are small: 1 MiB objects, 4 KiB SHA blocks.

Shipped with Ember so that every plugin's tests drive the real CLI the same way; the
core's fixtures built on it are in ``tests/conftest.py``, and a test directory that needs
more (``tests/progress``) subclasses ``EmberCLI``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points

from ember.testing.services import PATIENCE, require

EMBER = os.path.join(os.path.dirname(sys.executable), "ember")
MiB = 1 << 20


@dataclass
class Result:
    args: tuple
    returncode: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


class EmberCLI:
    """The ``ember`` command with an isolated environment."""

    def __init__(self, root, extra_env=None):
        """``extra_env``: variables added to (or replacing) the isolated environment."""
        self.root = root
        self.state = root / "state"
        self.home = root / "home"
        for path in (self.state, self.home, root / "cache"):
            path.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OS_", "EMBER_", "XDG_"))}
        env.update({
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_CACHE_HOME": str(root / "cache"),
            "OS_DEFAULT__STATE_PATH": str(self.state),
            "OS_DEFAULT__BACKUP_FILE_SIZE": str(MiB),
            "OS_DEFAULT__BACKUP_SHA_BLOCK_SIZE_BYTES": "4096",
        })
        env.update(extra_env or {})
        self.env = env

    def argv(self, *args) -> list:
        """The command line of ``ember ARGS`` (for a test that starts it its own way)."""
        return [EMBER, *map(str, args)]

    def run(self, *args, env=None, timeout=PATIENCE) -> Result:
        """Run ``ember ARGS``; never raises on a non-zero exit."""
        full_env = dict(self.env, **(env or {}))
        proc = subprocess.run(self.argv(*args), capture_output=True, text=True,
                              env=full_env, timeout=timeout, cwd=str(self.root))
        return Result(args, proc.returncode, proc.stdout, proc.stderr)

    def start(self, *args, env=None) -> subprocess.Popen:
        """Start ``ember ARGS`` without waiting (stdout/stderr piped, text)."""
        return subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=str(self.root),
                                env=dict(self.env, **(env or {})))

    def ok(self, *args, env=None) -> Result:
        """Run and assert success (showing stderr if not)."""
        result = self.run(*args, env=env)
        assert result.returncode == 0, "ember %s failed (%d): %s" % (
            " ".join(map(str, args)), result.returncode, result.stderr)
        return result

    def json(self, *args, env=None):
        """Run with ``-f json`` and return the parsed output."""
        return self.ok(*args, "-f", "json", env=env).json()

    def fails(self, *args, env=None, returncode=1) -> str:
        """Run, assert it fails with ``returncode`` and exactly one line on stderr (no
        traceback), and return that line."""
        result = self.run(*args, env=env)
        assert result.returncode == returncode, (result.returncode, result.stdout,
                                                 result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, "expected one line on stderr, got: %r" % result.stderr
        assert "Traceback" not in result.stderr
        return lines[0]

    def catalogue(self) -> list[str]:
        """A full SQL dump of the SQLite catalogue under ``state_path`` (every table,
        every row): equal dumps before and after prove a refused command changed nothing."""
        import sqlite3
        db = self.state / "ember.sqlite"
        if not db.exists():
            return []
        with sqlite3.connect("file:%s?mode=ro" % db, uri=True) as connection:
            return list(connection.iterdump())

    # --- volumes with data -------------------------------------------------------------
    def volume_path(self, ref) -> str:
        return self.json("volume", "show", ref)["path"]

    def create_volume(self, name, size="4M", data=b"") -> dict:
        """``volume create --size SIZE NAME`` and write ``data`` at offset 0."""
        volume = self.json("volume", "create", "--size", size, name)
        if data:
            write_at(volume["path"], 0, data)
        return volume

    # module helpers, reachable through the fixture too
    write_at = staticmethod(lambda path, offset, data: write_at(path, offset, data))
    sha256 = staticmethod(lambda path, length=None: sha256_file(path, length))
    pattern = staticmethod(lambda seed, size: pattern(seed, size))


def write_at(path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def sha256_file(path, length: int | None = None) -> str:
    """sha256 of the file (of its first ``length`` bytes if given)."""
    digest = hashlib.sha256()
    remaining = length
    with open(path, "rb") as f:
        while remaining is None or remaining > 0:
            block = f.read(MiB if remaining is None else min(MiB, remaining))
            if not block:
                break
            digest.update(block)
            if remaining is not None:
                remaining -= len(block)
    return digest.hexdigest()


def pattern(seed: int, size: int) -> bytes:
    """Deterministic, incompressible test data."""
    return random.Random(seed).randbytes(size)


def words(size: int, seed: int = 1) -> bytes:
    """Deterministic, compressible test data (words of a-z), so bz2 really works on it."""
    rnd = random.Random(seed)
    vocabulary = [bytes(rnd.choices(b"abcdefghijklmnopqrstuvwxyz", k=rnd.randint(2, 9)))
                  for _ in range(4096)]
    out = bytearray()
    while len(out) < size:
        out += b" ".join(rnd.choices(vocabulary, k=4096)) + b"\n"
    return bytes(out[:size])


def require_posix_plugin() -> None:
    """The embedded default's repository is the posix plugin (a separate distribution)."""
    installed = {ep.name for ep in entry_points(group="ember.backup.drivers")}
    require("posix" in installed, "the posix driver plugin (ember-backup-posix)",
            "pip install -e plugins/posix, or make test")
