#!/usr/bin/env python3
"""Ember against Cinder 29 (posix driver), borg and restic, on one seeded volume, in one run.

Steps, each tool in its own process (wall time and that process's peak RSS from
``os.wait4``):

1. build (or reuse) the seeded volume (see ``volume.py``), copy it to the run directory
   and read it once, so every tool starts from the same warm page cache;
2. full backup with every tool;
3. 1 % random 4 KiB writes (seeded), warm again, incremental backup with every tool;
   repository growth = bytes under the repository after minus before;
4. restore of the newest point (Ember and Cinder: the chain full + incremental) onto a
   new sparse target, verified against the volume's sha256.

Tools (``--only`` picks a subset, comma separated):
  cinder-zlib  Cinder's PosixBackupDriver, default zlib, default 1.86 GiB objects
  cinder-zstd  same with zstd (python-zstd, level 3: Cinder's zstd)
  ember-zlib   Ember's engine + posix driver, zlib, default object size
  ember-zstd   same with zstd
  borg         borg 1.2 (Debian), default compression lz4, ``-e none``
  restic       restic (Debian), repository v2, default compression (auto = zstd)

Usage:  python3 benchmarks/compare.py [--size 1G] [--only ember-zstd,borg] [--json OUT]
Setup it does itself when missing: the Cinder venv in benchmarks/work/cinder-venv
(``pip install 'cinder>=29,<30'``) and, as root, ``apt-get install restic borgbackup``.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORK = os.path.join(HERE, "work")
CINDER_VENV = os.path.join(WORK, "cinder-venv")
CINDER_PY = os.path.join(CINDER_VENV, "bin", "python")
EMBER_PY = os.path.join(ROOT, ".venv", "bin", "python")
CINDER_SPEC = "cinder>=29,<30"
DEFAULT_OBJECT_SIZE = 1999994880  # Cinder's posix backup_file_size
SHA_BLOCK = 32768  # Cinder's backup_sha_block_size_bytes, the runners' default
MiB = 1 << 20

sys.path.insert(0, HERE)
import volume as vol  # noqa: E402


# ---- measuring one process -----------------------------------------------------------------
@dataclass
class Measure:
    seconds: float
    cpu_seconds: float  # user + system of the process and its threads
    peak_rss_mib: float
    returncode: int
    log: str


NICE = 0  # --nice: niceness of every measured process (negative needs root)


def tool_env(env: dict | None = None) -> dict:
    """The environment of a measured tool: ours plus ``env``, byte-code caching on (an
    installed tool has its ``.pyc`` files; with ``PYTHONDONTWRITEBYTECODE`` set, every
    ``ember`` process compiled Ember's own modules again, 0.6 s of CPU under load)."""
    merged = dict(os.environ, **(env or {}))
    merged.pop("PYTHONDONTWRITEBYTECODE", None)
    return merged


def measure(cmd: list[str], log: str, cwd: str | None = None, env: dict | None = None) -> Measure:
    """Run ``cmd`` to completion; wall time and *its own* peak RSS (``wait4`` rusage).
    Linux carries the forking process's high-water mark across the child's exec, so the
    figure is at least the caller's RSS: call it from a small process (the benchmarks do)."""
    with open(log, "ab") as out:
        out.write(("$ " + " ".join(cmd) + "\n").encode())
        out.flush()
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                env=tool_env(env),
                                # compare.py runs no threads, so preexec_fn is safe here
                                preexec_fn=(lambda: os.nice(NICE)) if NICE else None)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Measure(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                   proc.returncode, log)


def tree_bytes(path: str) -> int:
    """Apparent bytes of every file under ``path`` (what the repository stores)."""
    total = 0
    for base, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(base, name)).st_size
            except FileNotFoundError:
                pass
    return total


# ---- the tools -------------------------------------------------------------------------------
class Tool:
    """One contender. Subclasses return the command of each step."""

    name = ""
    label = ""

    def __init__(self, run_dir: str, object_size: int):
        self.dir = os.path.join(run_dir, self.name)
        self.repo = os.path.join(self.dir, "repo")
        self.object_size = object_size
        os.makedirs(self.repo, exist_ok=True)
        self.log = os.path.join(self.dir, "log.txt")

    def setup(self) -> None:
        """Create the repository (not timed)."""

    def env(self) -> dict:
        return {}

    def backup_cmd(self, volume: str, step: str) -> list[str]:
        raise NotImplementedError

    def restore_cmd(self, target_dir: str, size: int) -> tuple[list[str], str]:
        """The command, and the path of the restored file it leaves."""
        raise NotImplementedError

    def version(self) -> str:
        return ""


class ChunkedTool(Tool):
    """Ember and Cinder: a runner script per operation, a JSON catalogue for the chain."""

    python = ""
    runner = ""
    codec = ""

    def __init__(self, run_dir, object_size):
        super().__init__(run_dir, object_size)
        self.catalog = os.path.join(self.dir, "catalog.json")
        self.ids: list[str] = []

    def backup_cmd(self, volume, step):
        backup_id = str(uuid.uuid4())
        cmd = [self.python, self.runner, "backup", "--repo", self.repo, "--catalog",
               self.catalog, "--volume", volume, "--backup-id", backup_id,
               "--codec", self.codec, "--object-size", str(self.object_size)]
        if self.ids:
            cmd += ["--parent", self.ids[-1]]
        self.ids.append(backup_id)
        return cmd

    def restore_cmd(self, target_dir, size):
        target = os.path.join(target_dir, "restored.img")
        return ([self.python, self.runner, "restore", "--repo", self.repo, "--catalog",
                 self.catalog, "--backup-id", self.ids[-1], "--target", target,
                 "--size", str(size)], target)


class Cinder(ChunkedTool):
    name, label, codec = "cinder-zlib", "Cinder 29 posix, zlib", "zlib"
    python = CINDER_PY
    runner = os.path.join(HERE, "cinder_posix_runner.py")

    def version(self):
        out = subprocess.run([CINDER_PY, "-m", "pip", "show", "cinder"], capture_output=True,
                             text=True, check=False).stdout
        return next((ln.split()[1] for ln in out.splitlines() if ln.startswith("Version")), "?")


class CinderZstd(Cinder):
    name, label, codec = "cinder-zstd", "Cinder 29 posix, zstd", "zstd"


class EmberZlib(ChunkedTool):
    name, label, codec = "ember-zlib", "Ember posix, zlib", "zlib"
    python = EMBER_PY
    runner = os.path.join(HERE, "ember_runner.py")

    def version(self):
        """HEAD, plus ``+wip`` when the engine's or posix driver's files differ from it
        (the tree is shared: a run may measure someone's uncommitted change)."""
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=False).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--",
                                "core/ember", "plugins/posix"],
                               capture_output=True, text=True, check=False).stdout.strip()
        return head + ("+wip" if dirty else "")


class EmberZstd(EmberZlib):
    name, label, codec = "ember-zstd", "Ember posix, zstd", "zstd"


def ember_at(rev: str, tool: type) -> type:
    """``tool`` run from the tree at git revision ``rev`` (``git archive`` of its core and
    posix plugin, first on PYTHONPATH): the "before" of a before/after in one run."""
    tree = os.path.join(WORK, "base-" + rev)
    if not os.path.isdir(tree):
        os.makedirs(tree)
        archive = subprocess.run(["git", "-C", ROOT, "archive", rev, "core", "plugins/posix"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
    path = os.pathsep.join(os.path.join(tree, d) for d in ("core", "plugins/posix"))
    return type("EmberAt", (tool,), {
        "name": "%s@%s" % (tool.name, rev), "label": "%s at %s" % (tool.label, rev),
        "env": lambda self: {"PYTHONPATH": path}, "version": lambda self: rev})


class Borg(Tool):
    name, label = "borg", "borg 1.2, lz4 (default), -e none"

    def env(self):
        return {"BORG_BASE_DIR": os.path.join(self.dir, "base"),
                "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes",
                "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes"}

    def setup(self):
        shutil.rmtree(self.repo)
        subprocess.run(["borg", "init", "-e", "none", self.repo], check=True,
                       env=dict(os.environ, **self.env()), capture_output=True)

    def backup_cmd(self, volume, step):
        self.cwd = os.path.dirname(volume)
        self.member = os.path.basename(volume)
        return ["borg", "create", "%s::%s" % (self.repo, step), self.member]

    def restore_cmd(self, target_dir, size):
        return (["borg", "extract", "--sparse", "%s::%s" % (self.repo, "incremental")],
                os.path.join(target_dir, self.member))

    def version(self):
        return subprocess.run(["borg", "--version"], capture_output=True, text=True, check=False).stdout.split()[-1]


class Restic(Tool):
    name, label = "restic", "restic, repo v2, compression auto (zstd)"

    def env(self):
        return {"RESTIC_PASSWORD": "benchmark", "RESTIC_REPOSITORY": self.repo,
                "RESTIC_CACHE_DIR": os.path.join(self.dir, "cache")}

    def setup(self):
        shutil.rmtree(self.repo)
        subprocess.run(["restic", "init", "--repository-version", "2"], check=True,
                       env=dict(os.environ, **self.env()), capture_output=True)

    def backup_cmd(self, volume, step):
        self.volume = volume
        return ["restic", "backup", "--host", "bench", "--tag", step, volume]

    def restore_cmd(self, target_dir, size):
        return (["restic", "restore", "--host", "bench", "latest", "--target",
                 target_dir], os.path.join(target_dir, self.volume.lstrip("/")))

    def version(self):
        return subprocess.run(["restic", "version"], capture_output=True, text=True, check=False).stdout.split()[1]


TOOLS = {t.name: t for t in (Cinder, CinderZstd, EmberZlib, EmberZstd, Borg, Restic)}


def cinder_reading(ember: ChunkedTool, run_dir: str, object_size: int) -> Cinder:
    """Cinder's driver pointed at an Ember tool's repository and chain."""
    cls = type("CinderReads", (Cinder,), {"name": "cinder-reads-" + ember.name,
                                          "label": "Cinder 29 restoring %s's chain" % ember.name})
    cross = cls(run_dir, object_size)
    cross.repo, cross.catalog, cross.ids = ember.repo, ember.catalog, ember.ids
    return cross


# ---- setup of the contenders -----------------------------------------------------------------
def ensure_cinder() -> None:
    if os.path.exists(CINDER_PY):
        return
    print("installing %s into %s (throwaway venv, never an Ember dependency)"
          % (CINDER_SPEC, CINDER_VENV), flush=True)
    subprocess.run([sys.executable, "-m", "venv", CINDER_VENV], check=True)
    subprocess.run([CINDER_PY, "-m", "pip", "install", "-q", CINDER_SPEC], check=True)


def ensure_debian_tools() -> None:
    missing = [pkg for exe, pkg in (("restic", "restic"), ("borg", "borgbackup"))
               if shutil.which(exe) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit("missing %s: run `sudo apt-get install %s`" % (", ".join(missing),
                                                                 " ".join(missing)))
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True,
                   env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


# ---- the run ---------------------------------------------------------------------------------
@dataclass
class StepResult:
    seconds: float | None = None
    cpu_seconds: float | None = None
    mb_s: float | None = None
    peak_rss_mib: float | None = None
    stored_bytes: int | None = None  # repository after a backup, or its growth (incremental)
    ok: bool = False
    note: str = ""


@dataclass
class ToolResult:
    label: str
    version: str
    steps: dict = field(default_factory=dict)


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    text = text.strip().upper().rstrip("IB")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def prepare_volume(size: int, seed: int, run_dir: str, layout: str = "regions") -> str:
    """A fresh working copy of the seeded volume (the pristine one is cached)."""
    cache = os.path.join(WORK, "volumes")
    os.makedirs(cache, exist_ok=True)
    suffix = "" if layout == "regions" else "-" + layout
    pristine = os.path.join(cache, "volume-%d-%d%s.img" % (size, seed, suffix))
    if not os.path.exists(pristine + ".sha256"):
        print("building the seeded %d MiB %s volume ..." % (size // MiB, layout), flush=True)
        digest = vol.build(pristine, size, seed, layout)
        with open(pristine + ".sha256", "w") as f:
            f.write(digest)
    work = os.path.join(run_dir, "volume.img")
    subprocess.run(["cp", "--sparse=always", pristine, work], check=True)
    return work


def run(args) -> dict:
    size = parse_size(args.size)
    names = [n.strip() for n in args.only.split(",")] if args.only else list(TOOLS)
    unknown = set(names) - set(TOOLS)
    if unknown:
        sys.exit("unknown tool(s) %s; choose from %s" % (", ".join(sorted(unknown)),
                                                        ", ".join(TOOLS)))
    if {"cinder-zlib", "cinder-zstd"} & set(names):
        ensure_cinder()
    if {"borg", "restic"} & set(names):
        ensure_debian_tools()

    run_dir = os.path.join(WORK, "run")
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    volume = prepare_volume(size, args.seed, run_dir, args.layout)
    classes = [TOOLS[n] for n in names]
    if args.baseline:  # the same Ember tools at the baseline revision, interleaved
        classes = [c for n in names for c in (
            (TOOLS[n], ember_at(args.baseline, TOOLS[n])) if n.startswith("ember-")
            else (TOOLS[n],))]
    tools = [c(run_dir, args.object_size) for c in classes]
    results = {t.name: ToolResult(t.label, t.version()) for t in tools}
    for t in tools:
        t.setup()

    def backup_step(step: str):
        vol.warm(volume)
        for t in tools:
            before = tree_bytes(t.repo)
            cmd = t.backup_cmd(volume, step)
            m = measure(cmd, t.log, cwd=getattr(t, "cwd", None), env=t.env())
            after = tree_bytes(t.repo)
            r = StepResult(round(m.seconds, 2), round(m.cpu_seconds, 2),
                           round(size / 1e6 / m.seconds, 1), round(m.peak_rss_mib, 1),
                           after - before, m.returncode == 0)
            if not r.ok:
                r.note = "exit %d, see %s" % (m.returncode, t.log)
            results[t.name].steps[step] = r
            print("  %-23s %-11s %s" % (t.name, step, fmt_step(r)), flush=True)

    print("full backups of %s (%d MiB)" % (volume, size // MiB), flush=True)
    backup_step("full")
    changed = vol.mutate(volume, seed=args.seed + 1)
    expected = vol.sha256_of(volume)
    print("incremental backups after 1% random 4 KiB writes", flush=True)
    backup_step("incremental")

    def restore_step(t: Tool) -> StepResult:
        target_dir = os.path.join(t.dir, "restore")
        shutil.rmtree(target_dir, ignore_errors=True)
        os.makedirs(target_dir)
        cmd, restored = t.restore_cmd(target_dir, size)
        m = measure(cmd, t.log, cwd=target_dir, env=t.env())
        r = StepResult(round(m.seconds, 2), round(m.cpu_seconds, 2),
                       round(size / 1e6 / m.seconds, 1), round(m.peak_rss_mib, 1), None,
                       m.returncode == 0)
        if r.ok:
            got = vol.sha256_of(restored) if os.path.exists(restored) else "missing"
            if got != expected:
                r.ok, r.note = False, "restored sha256 %s != %s" % (got[:12], expected[:12])
        else:
            r.note = "exit %d, see %s" % (m.returncode, t.log)
        shutil.rmtree(target_dir, ignore_errors=True)
        print("  %-23s %-11s %s" % (t.name, "restore", fmt_step(r)), flush=True)
        return r

    print("restore of the newest point onto a new sparse target", flush=True)
    for t in tools:
        if not results[t.name].steps["incremental"].ok:
            results[t.name].steps["restore"] = StepResult(note="skipped: backup failed")
            continue
        results[t.name].steps["restore"] = restore_step(t)

    # The real Cinder restores Ember's 1 GiB chains: interop at scale, and the restore
    # comparison on identical objects (each tool's own backup differs: Ember stores
    # incompressible data raw, Cinder deflates it).
    if "cinder-zlib" in names:
        for t in tools:
            if isinstance(t, EmberZlib) and results[t.name].steps["incremental"].ok:
                cross = cinder_reading(t, run_dir, args.object_size)
                results[cross.name] = ToolResult(cross.label, cross.version())
                results[cross.name].steps["restore"] = restore_step(cross)

    for spec in filter(None, (args.sparse or "").split(",")):
        sparse_run(parse_size(spec), volume, size, expected, args, run_dir, results)
    changed_bytes = len({o // SHA_BLOCK for o in changed}) * SHA_BLOCK
    floors = json.loads(subprocess.run([EMBER_PY, os.path.join(HERE, "floors.py"), volume,
                                        "--changed", str(changed_bytes)],
                                       capture_output=True, text=True, check=True).stdout)
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "volume_bytes": size, "seed": args.seed, "object_size": args.object_size,
        "nice": NICE, "baseline": args.baseline, "floors": floors,
        "cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg(),
        "tools": {n: {"label": r.label, "version": r.version,
                      "steps": {s: asdict(v) for s, v in r.steps.items()}}
                  for n, r in results.items()},
    }


def sparse_run(big: int, dense: str, data: int, expected: str, args, run_dir: str,
               results: dict) -> None:
    """Ember (zlib) on a ``big`` sparse volume holding the dense volume's data at its
    start: full, the same 1 % change (inside the data), incremental, restore onto a new
    sparse target; the image must equal the data followed by zeros."""
    tool = EmberZlib(run_dir, args.object_size)
    tool.name = "ember-zlib-sparse-%dG" % (big >> 30)
    tool.dir = os.path.join(run_dir, tool.name)
    tool.repo, tool.catalog = os.path.join(tool.dir, "repo"), os.path.join(tool.dir, "c.json")
    tool.log = os.path.join(tool.dir, "log.txt")
    os.makedirs(tool.repo)
    volume = os.path.join(tool.dir, "volume.img")
    pristine = os.path.join(WORK, "volumes", "volume-%d-%d.img" % (data, args.seed))
    subprocess.run(["cp", "--sparse=always", pristine, volume], check=True)
    os.truncate(volume, big)
    result = results[tool.name] = ToolResult("Ember posix, zlib, %d GiB sparse volume holding "
                                             "%d MiB" % (big >> 30, data // MiB),
                                             tool.version())
    print("sparse %d GiB volume holding the %d MiB one" % (big >> 30, data // MiB), flush=True)

    def step(name, cmd, stored=True):
        before = tree_bytes(tool.repo)
        m = measure(cmd, tool.log)
        r = StepResult(round(m.seconds, 2), round(m.cpu_seconds, 2),
                       round(big / 1e6 / m.seconds, 1), round(m.peak_rss_mib, 1),
                       tree_bytes(tool.repo) - before if stored else None, m.returncode == 0)
        if not r.ok:
            r.note = "exit %d, see %s" % (m.returncode, tool.log)
        result.steps[name] = r
        return r

    vol.warm(volume, data)  # the data only: reading a terabyte of holes warms nothing
    step("full", tool.backup_cmd(volume, "full"))
    vol.mutate(volume, seed=args.seed + 1, span=data)
    step("incremental", tool.backup_cmd(volume, "incremental"))
    target_dir = os.path.join(tool.dir, "restore")
    os.makedirs(target_dir)
    cmd, restored = tool.restore_cmd(target_dir, big)
    r = step("restore", cmd, stored=False)
    if r.ok:
        problem = sparse_image_problem(restored, big, data, expected)
        if problem:
            r.ok, r.note = False, problem
    shutil.rmtree(tool.dir, ignore_errors=True)  # a 1 TiB apparent size is no use kept
    for name, r in result.steps.items():
        print("  %-23s %-11s %s" % (tool.name, name, fmt_step(r)), flush=True)


def sparse_image_problem(path: str, size: int, data: int, expected: str) -> str:
    """'' if ``path`` is the dense volume's image followed by zeros up to ``size``."""
    if os.path.getsize(path) != size:
        return "restored size %d != %d" % (os.path.getsize(path), size)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        fd, pos = f.fileno(), data
        for off in range(0, data, 8 * MiB):
            h.update(os.pread(fd, min(8 * MiB, data - off), off))
        if h.hexdigest() != expected:
            return "restored data sha256 %s != %s" % (h.hexdigest()[:12], expected[:12])
        while pos < size:  # every data extent after the data must be zeros
            try:
                pos = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fd, pos, os.SEEK_HOLE)
            for off in range(pos, end, 8 * MiB):
                if any(os.pread(fd, min(8 * MiB, end - off), off)):
                    return "non-zero bytes at %d, past the data" % off
            pos = end
    return ""


# ---- reporting -------------------------------------------------------------------------------
def fmt_step(r: StepResult) -> str:
    if r.seconds is None:
        return r.note
    stored = "" if r.stored_bytes is None else "  stored %8.1f MB" % (r.stored_bytes / 1e6)
    flag = "" if r.ok else "  FAILED: " + r.note
    return "%7.2f s (cpu %6.2f s) %8.1f MB/s  peak RSS %7.1f MiB%s%s" % (
        r.seconds, r.cpu_seconds, r.mb_s, r.peak_rss_mib, stored, flag)


def _step(res, tool, step):
    s = res["tools"].get(tool, {}).get("steps", {}).get(step)
    return s if s and s["ok"] else None


def ratio_rows(res) -> list[tuple[str, str, float | None, str]]:
    """(comparison, target, measured, verdict) for every target of issues 2 and 13."""
    rows = []

    def speed(ember, other, step, target):
        a, b = _step(res, ember, step), _step(res, other, step)
        value = b["seconds"] / a["seconds"] if a and b else None
        cpu = b["cpu_seconds"] / a["cpu_seconds"] if a and b else None
        rows.append(("%s %s speed / %s" % (ember, step, other), ">= %g x" % target, value,
                     verdict(value, lambda v: v >= target), cpu))

    def growth(ember, other, target):
        a, b = _step(res, ember, "incremental"), _step(res, other, "incremental")
        value = a["stored_bytes"] / b["stored_bytes"] if a and b and b["stored_bytes"] else None
        rows.append(("%s incremental growth / %s" % (ember, other), "<= %g" % target, value,
                     verdict(value, lambda v: v <= target), None))

    def stored(ember, other, target):  # issue 18 item 4: bytes an operator pays for
        a, b = _step(res, ember, "full"), _step(res, other, "full")
        value = a["stored_bytes"] / b["stored_bytes"] if a and b and b["stored_bytes"] else None
        rows.append(("%s full stored bytes / %s" % (ember, other), "<= %g" % target, value,
                     verdict(value, lambda v: v <= target), None))

    stored("ember-zlib", "cinder-zlib", 1.05)
    stored("ember-zstd", "cinder-zstd", 1.05)
    speed("ember-zlib", "cinder-zlib", "full", 5)
    speed("ember-zlib", "cinder-zlib", "incremental", 2.5)
    speed("ember-zlib", "cinder-zlib", "restore", 5)
    growth("ember-zlib", "cinder-zlib", 1.1)
    for ember in ("ember-zlib", "ember-zstd"):  # same objects, restored by both
        speed(ember, "cinder-reads-" + ember, "restore", 5)
    speed("ember-zstd", "borg", "full", 2)
    speed("ember-zstd", "restic", "restore", 1.5)
    for other in ("borg", "restic"):
        speed("ember-zstd", other, "incremental", 1)
        growth("ember-zstd", other, 0.2)
    if res.get("baseline"):  # after / before, same run
        for ember in ("ember-zlib", "ember-zstd"):
            for step in ("full", "incremental", "restore"):
                speed(ember, "%s@%s" % (ember, res["baseline"]), step, 1)
            before = _step(res, "%s@%s" % (ember, res["baseline"]), "full")
            a = _step(res, ember, "full")
            value = a["cpu_seconds"] / before["cpu_seconds"] if a and before else None
            rows.append(("%s full CPU / %s@%s" % (ember, ember, res["baseline"]), "<= 1.15",
                         value, verdict(value, lambda v: v <= 1.15), None))
            stored(ember, "%s@%s" % (ember, res["baseline"]), 1)
    for ember, codec in (("ember-zlib", "zlib"), ("ember-zstd", "zstd")):
        for step, test, target in (("full", lambda v: v >= 0.8, ">= 0.8 of floor"),
                                   ("incremental", lambda v: v >= 1 / 1.3, ">= 0.77 of floor"),
                                   ("restore", lambda v: True, "(reported)")):
            a = _step(res, ember, step)
            floor = res.get("floors", {}).get("floors", {}).get(codec, {}).get(step)
            value = floor / a["seconds"] if a and floor else None
            rows.append(("%s %s: floor %.2f s / wall" % (ember, step, floor or 0), target,
                         value, verdict(value, test) if target[0] != "(" else "", None))
    for name, t in res["tools"].items():  # sparse volumes against the dense one
        if not name.startswith("ember-zlib-sparse-"):
            continue
        big = int(name.rsplit("-", 1)[1].rstrip("G"))
        for step in ("full", "incremental", "restore"):
            a, dense = _step(res, name, step), _step(res, "ember-zlib", step)
            if big <= 64:
                value = a["seconds"] / dense["seconds"] if a and dense else None
                rows.append(("%s %s time / dense %s" % (name, step, step), "<= 2", value,
                             verdict(value, lambda v: v <= 2), None))
            else:
                value = a["seconds"] if a else None
                rows.append(("%s %s seconds" % (name, step), "<= 60", value,
                             verdict(value, lambda v: v <= 60), None))
    for ember in [n for n in res["tools"] if n.startswith("ember-") and "@" not in n]:
        peaks = [s["peak_rss_mib"] for s in res["tools"].get(ember, {}).get("steps", {}).values()
                 if s["ok"]]
        value = max(peaks) if peaks else None
        rows.append(("%s peak RSS (MiB, any step)" % ember, "<= 300", value,
                     verdict(value, lambda v: v <= 300), None))
    return rows


def verdict(value, test) -> str:
    if value is None:
        return "n/a"
    return "met" if test(value) else "NOT met"


def markdown(res) -> str:
    lines = ["Volume %d MiB (seed %d), object size %d, %d CPUs, nice %d, load average at "
             "end %s, %s." % (res["volume_bytes"] // MiB, res["seed"], res["object_size"],
                              res["cpus"], res.get("nice", 0),
                              "/".join("%.1f" % x for x in res["loadavg_at_end"]), res["date"]),
             "",
             "| tool | step | seconds | CPU s | MB/s | peak RSS MiB | stored MB | ok |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for name, t in res["tools"].items():
        for step, s in t["steps"].items():
            stored = "" if s["stored_bytes"] is None else "%.1f" % (s["stored_bytes"] / 1e6)
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                name, step, s["seconds"] if s["seconds"] is not None else "",
                s["cpu_seconds"] if s["cpu_seconds"] is not None else "",
                s["mb_s"] if s["mb_s"] is not None else "",
                s["peak_rss_mib"] if s["peak_rss_mib"] is not None else "", stored,
                "yes" if s["ok"] else "NO " + s["note"]))
    floors = res.get("floors")
    if floors:
        lines += ["", "Floors on %d cores ((read + md5 + SHA-256 + codec CPU) / cores for the "
                  "full; read + SHA-256 of the volume plus the changed blocks' objects for the "
                  "incremental; inflate + SHA-256 for the restore), measured per byte on this "
                  "volume's regions by floors.py:" % floors["cores"], "",
                  "| codec | step | floor s | CPU s | Ember wall s | floor / wall |",
                  "|---|---|---:|---:|---:|---:|"]
        for codec, steps in floors["floors"].items():
            for step in ("full", "incremental", "restore"):
                a = _step(res, "ember-" + codec, step)
                lines.append("| %s | %s | %.2f | %.2f | %s | %s |" % (
                    codec, step, steps[step], steps[step + "_cpu"],
                    a["seconds"] if a else "", "%.2f" % (steps[step] / a["seconds"]) if a else ""))
    lines += ["", "| comparison | target | measured (wall) | verdict | CPU-time ratio |",
              "|---|---|---:|---|---:|"]
    for what, target, value, v, cpu in ratio_rows(res):
        lines.append("| %s | %s | %s | %s | %s |" % (
            what, target, "" if value is None else "%.2f" % value, v,
            "" if cpu is None else "%.2f" % cpu))
    lines += ["", "Versions: " + ", ".join("%s %s" % (n, t["version"])
                                          for n, t in res["tools"].items())]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="1G", help="volume size (default 1G; e.g. 256M)")
    p.add_argument("--only", help="comma-separated subset of: " + ", ".join(TOOLS))
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--layout", choices=vol.LAYOUTS, default="regions",
                   help="regions: each kind of data in one region (default); mixed: the "
                        "same kinds interleaved in 4 KiB-1 MiB extents")
    p.add_argument("--object-size", type=int, default=DEFAULT_OBJECT_SIZE,
                   help="Ember's and Cinder's backup_file_size (default Cinder's 1999994880)")
    p.add_argument("--json", help="also write the results here (default: work/results-<date>.json)")
    p.add_argument("--baseline", metavar="REV",
                   help="also run the Ember tools from git revision REV (before/after in "
                        "one run; ratios after/before)")
    p.add_argument("--sparse", metavar="SIZES",
                   help="also back up and restore sparse volumes of these sizes holding "
                        "the benchmark volume's data (e.g. 64G,1024G; Ember zlib only)")
    p.add_argument("--nice", type=int, default=0,
                   help="run every measured tool at this niceness (e.g. -10 as root on a "
                        "shared machine, so other loads disturb the figures less)")
    args = p.parse_args(argv)
    global NICE
    NICE = args.nice
    res = run(args)
    out = args.json or os.path.join(WORK, "results-%s.json"
                                    % time.strftime("%Y%m%d-%H%M%S"))
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
    print()
    print(markdown(res))
    print("\nresults: " + out)
    return 0 if all(s["ok"] for t in res["tools"].values() for s in t["steps"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
