"""Start-up of the ``ember`` command: ``ember --help`` and ``ember volume list``, the median
of 20 runs each (wall and CPU seconds of the process, from ``os.wait4``), against the
targets of issue 23 (``--help`` <= 0.2 s, ``volume list`` <= 0.25 s), and against the
tree at ``--baseline REV`` in the same invocation, interleaved run by run.

    .venv/bin/python benchmarks/cli_startup.py [--runs 20] [--baseline REV]

Each run is a fresh interpreter, as a user's command is; the catalogue (SQLite, a few
volumes) is made once in a temporary directory. Byte-code is written on the warm-up
runs (``PYTHONDONTWRITEBYTECODE`` is unset), as an installed Ember has it. The floor
printed beside is ``python -c pass`` and ``python -c "import sqlalchemy.orm"`` (the
catalogue's ORM, which ``volume list`` cannot do without) in the same loop.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
EMBER = os.path.join(ROOT, ".venv", "bin", "ember")
TARGETS = {"--help": 0.2, "volume list": 0.25}


def run(cmd: list[str], env: dict, cwd: str) -> tuple[float, float]:
    """(wall, CPU) seconds of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        sys.exit("%s failed (%d): %s" % (" ".join(cmd), proc.returncode, err.strip()))
    return wall, usage.ru_utime + usage.ru_stime


def baseline_tree(rev: str) -> str:
    """``git archive REV core`` unpacked under benchmarks/work (reused)."""
    tree = os.path.join(HERE, "work", "cli-base-" + rev)
    if not os.path.isdir(tree):
        os.makedirs(tree)
        archive = subprocess.run(["git", "-C", ROOT, "archive", rev, "core", "plugins"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
    return tree


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--baseline", metavar="REV", help="also the tree at this revision")
    args = p.parse_args(argv)
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    work = tempfile.mkdtemp(prefix="ember-cli-startup-")
    base_env.update(HOME=work, XDG_CONFIG_HOME=os.path.join(work, "config"))
    trees = {"after": dict(base_env)}
    if args.baseline:
        tree = baseline_tree(args.baseline)
        path = [os.path.join(tree, "core")] + [
            os.path.join(tree, "plugins", d) for d in sorted(os.listdir(os.path.join(tree, "plugins")))]
        trees["before@" + args.baseline] = dict(base_env, PYTHONPATH=os.pathsep.join(path))
    for n in range(3):
        run([EMBER, "volume", "create", "--size", "1M", "vol%d" % n], base_env, work)
    cases = [("--help", [EMBER, "--help"]), ("volume list", [EMBER, "volume", "list"])]
    floors = [("python -c pass", [PYTHON, "-c", "pass"]),
              ("import sqlalchemy.orm", [PYTHON, "-c", "import sqlalchemy.orm"])]
    results: dict = {}
    for _ in range(2):  # warm-up: byte-code written, page cache warm
        for env in trees.values():
            for _, cmd in cases:
                run(cmd, env, work)
    for _ in range(args.runs):
        for tree, env in trees.items():
            for name, cmd in cases:
                results.setdefault((tree, name), []).append(run(cmd, env, work))
        for name, cmd in floors:
            results.setdefault(("floor", name), []).append(run(cmd, base_env, work))
    load = os.getloadavg()
    print("median of %d runs, load average %.1f/%.1f/%.1f, %d CPUs"
          % (args.runs, *load, os.cpu_count()))
    print("%-22s %-22s %8s %8s  %s" % ("tree", "command", "wall s", "CPU s", "target"))
    for (tree, name), samples in results.items():
        wall = statistics.median(s[0] for s in samples)
        cpu = statistics.median(s[1] for s in samples)
        target = TARGETS.get(name) if tree == "after" else None
        verdict = "" if target is None else "<= %.2f s: %s" % (
            target, "met" if wall <= target else "NOT met (CPU %s)" % (
                "met" if cpu <= target else "not met"))
        print("%-22s %-22s %8.3f %8.3f  %s" % (tree, name, wall, cpu, verdict))
    if args.baseline:
        for name, _ in cases:
            a = results[("after", name)]
            b = results[("before@" + args.baseline, name)]
            print("%-22s speed-up after/before: wall %.2fx, CPU %.2fx" % (
                name, statistics.median(s[0] for s in b) / statistics.median(s[0] for s in a),
                statistics.median(s[1] for s in b) / statistics.median(s[1] for s in a)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
