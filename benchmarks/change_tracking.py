"""Incrementals with changed-block tracking (``ember.engine.cbt``) against reading everything.

On a reflink XFS loop-mounted by this script (root, xfsprogs: ``bash
scripts/servers/xfs.sh install``), one seeded volume (``benchmarks/volume.py``, 4 GiB by
default) is backed up in full by three contenders, 1 % of it is rewritten by random
4 KiB writes, and each takes an incremental:

* ``cinder-zlib``: Cinder 29's posix driver (``cinder_posix_runner.py``; reads everything);
* ``ember-read-all``: the ``ember`` CLI with ``backup_change_tracking = false``;
* ``ember-cbt``: the ``ember`` CLI with change tracking (the default).

Both Ember states adopt the same image file; all use zlib and their default object and
SHA block sizes. With ``--cold`` the page cache is dropped before each incremental (root),
as a backup host finds a VM's image when qemu runs it with ``cache=none``; without it the
volume is read from memory, the case least kind to change tracking. The last row, a
second CBT incremental with nothing changed, is the floor of a CBT incremental through the
CLI (start-up, the catalogue, the clone, the ``_sha256file`` read and written in full). Every step is its own process, measured with ``os.wait4`` (wall, CPU,
peak RSS). Then the CBT incremental is restored through the CLI and its sha256 must
equal the changed volume's. Prints the two ratios issue 13 sets targets for.

    python3 benchmarks/change_tracking.py [--size 4G] [--fraction 0.001] [--cold]
        [--no-cinder] [--baseline REV] [--cinder-python PATH] [--json OUT]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare  # noqa: E402  (measure, CINDER_PY, parse_size: beside this file)
import volume as vol  # noqa: E402

EMBER = os.path.join(compare.ROOT, ".venv", "bin", "ember")


def mount_xfs(work: str, size: int) -> str:
    image, mountpoint = os.path.join(work, "xfs.img"), os.path.join(work, "xfs")
    os.makedirs(mountpoint)
    with open(image, "wb") as f:
        f.truncate(size)
    for cmd in (["mkfs.xfs", "-q", "-f", "-m", "reflink=1", image],
                ["mount", "-o", "loop", image, mountpoint]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            sys.exit("%s failed: %s (root and xfsprogs needed: bash scripts/servers/xfs.sh "
                     "install)" % (cmd[0], proc.stderr.strip()))
    return mountpoint


class EmberState:
    """The ``ember`` CLI with its own state (catalogue, posix repository) on the XFS."""

    def __init__(self, name: str, root: str, tracking: bool, pythonpath: str | None = None):
        self.name, self.dir = name, os.path.join(root, name)
        os.makedirs(self.dir)
        self.log = os.path.join(self.dir, "log.txt")
        self.env = {"OS_DEFAULT__STATE_PATH": self.dir, "HOME": self.dir,
                    "XDG_CONFIG_HOME": os.path.join(self.dir, ".config"),
                    "OS_DEFAULT__BACKUP_CHANGE_TRACKING": "true" if tracking else "false"}
        if pythonpath:  # an older tree (--baseline): its code first on the path
            self.env["PYTHONPATH"] = pythonpath
        self.last = None
        self.volume = "vol"  # its ID once created: a restore adds another volume "vol"

    def json(self, *args):
        out = subprocess.run([EMBER, *args, "-f", "json"], capture_output=True, text=True,
                             env=compare.tool_env(self.env), check=True).stdout
        return json.loads(out)

    def backup(self, incremental: bool) -> compare.Measure:
        args = [EMBER, "volume", "backup", "create", self.volume, "-f", "json"]
        result = compare.measure(args + (["--incremental"] if incremental else []), self.log,
                                 env=self.env)
        if result.returncode:  # the log goes with the XFS at exit: show its end
            with open(self.log) as f:
                tail = "".join(f.readlines()[-5:])
            sys.exit("%s: backup failed:\n%s" % (self.name, tail))
        self.last = self.json("volume", "backup", "list", "--limit", "1")[0]["ID"]
        return result


def drop_caches(cold: bool) -> None:
    """Writes back and drops the page cache (``--cold``), so the next step reads from disk."""
    if not cold:
        return
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError as exc:
        sys.exit("--cold needs root to drop the page cache: %s" % exc)


def cinder_backup(python: str, work: str, volume: str, parent) -> tuple[compare.Measure, str]:
    backup_id = str(uuid.uuid4())
    cmd = [python, os.path.join(HERE, "cinder_posix_runner.py"), "backup", "--repo",
           os.path.join(work, "cinder-repo"), "--catalog", os.path.join(work, "cinder.json"),
           "--volume", volume, "--backup-id", backup_id, "--codec", "zlib"]
    result = compare.measure(cmd + (["--parent", parent] if parent else []),
                             os.path.join(work, "cinder-log.txt"))
    if result.returncode:
        sys.exit("cinder backup failed, see %s" % os.path.join(work, "cinder-log.txt"))
    return result, backup_id


def row(name: str, step: str, m: compare.Measure, size: int) -> dict:
    return {"tool": name, "step": step, "seconds": round(m.seconds, 2),
            "cpu_seconds": round(m.cpu_seconds, 2), "peak_rss_mib": round(m.peak_rss_mib, 1),
            "MB/s": round(size / 1e6 / m.seconds, 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="4G", help="volume size (default 4G)")
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--cinder-python", default=compare.CINDER_PY,
                   help="python of a venv with cinder 29 (default: compare.py's)")
    p.add_argument("--no-cinder", action="store_true", help="leave Cinder out")
    p.add_argument("--fraction", type=float, default=0.01,
                   help="share of the volume rewritten before the incremental (issue 23: "
                        "0.001)")
    p.add_argument("--baseline", metavar="REV",
                   help="also the CLI of the tree at REV with change tracking (before/after)")
    p.add_argument("--cold", action="store_true",
                   help="drop the page cache before each incremental (root)")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)
    size = compare.parse_size(args.size)
    cinder = not args.no_cinder
    if cinder and not os.path.exists(args.cinder_python):
        compare.ensure_cinder()
    if not os.path.exists(EMBER):
        sys.exit("no %s: run make venv" % EMBER)

    work = tempfile.mkdtemp(prefix="ember-cbt-bench-", dir=os.path.join(HERE, "work")
                            if os.path.isdir(os.path.join(HERE, "work")) else None)
    # the volume, each state's full (about half the volume with zlib), the restore
    mountpoint = mount_xfs(work, (4 if args.baseline else 3) * size + (4 << 30))
    rows = []
    try:
        image = os.path.join(mountpoint, "volume.img")
        vol.build(image, size, args.seed)
        read_all = EmberState("ember-read-all", mountpoint, tracking=False)
        cbt = EmberState("ember-cbt", mountpoint, tracking=True)
        states = [read_all, cbt]
        if args.baseline:
            base = compare.ember_at(args.baseline, compare.EmberZlib)(work, 0).env()
            states.append(EmberState("ember-cbt@" + args.baseline, mountpoint, True,
                                     base["PYTHONPATH"]))
        for state in states:
            state.volume = state.json("volume", "create", "--path", image, "vol")["id"]
        vol.warm(image)
        if cinder:
            m, cinder_full = cinder_backup(args.cinder_python, work, image, None)
            rows.append(row("cinder-zlib", "full", m, size))
        for state in states:
            rows.append(row(state.name, "full", state.backup(False), size))
        vol.mutate(image, fraction=args.fraction)
        expected = vol.sha256_of(image)  # also warms the page cache for every contender
        if cinder:
            drop_caches(args.cold)
            m, _ = cinder_backup(args.cinder_python, work, image, cinder_full)
            rows.append(row("cinder-zlib", "incremental", m, size))
        for state in states:
            drop_caches(args.cold)
            rows.append(row(state.name, "incremental", state.backup(True), size))
        shown = cbt.json("volume", "backup", "show", cbt.last)
        note = "%s; %d objects" % (shown["change_tracking"], shown["object_count"])
        try:
            restored = cbt.json("volume", "backup", "restore", cbt.last)
            path = cbt.json("volume", "show", restored["volume_id"])["path"]
            exact = vol.sha256_of(path) == expected
        except subprocess.CalledProcessError as exc:  # the figures above still count
            print("CBT restore failed: %s" % exc.stderr.strip(), file=sys.stderr)
            exact = False
        drop_caches(args.cold)
        rows.append(row("ember-cbt", "floor: no change", cbt.backup(True), size))
    finally:
        subprocess.run(["umount", mountpoint])
        shutil.rmtree(work, ignore_errors=True)

    inc = {r["tool"]: r["seconds"] for r in rows if r["step"] == "incremental"}
    print("\n%s volume, %g %% of it rewritten in 4 KiB writes; zlib; %s page cache; %d cores; "
          "load %.1f" % (args.size, 100 * args.fraction, "cold" if args.cold else "warm",
                         os.cpu_count() or 0, os.getloadavg()[0]))
    print("| tool | step | wall s | CPU s | MB/s | peak RSS MiB |\n|---|---|---:|---:|---:|---:|")
    for r in rows:
        print("| %s | %s | %.2f | %.2f | %.1f | %.1f |" % (
            r["tool"], r["step"], r["seconds"], r["cpu_seconds"], r["MB/s"], r["peak_rss_mib"]))
    print("\nCBT backup's change_tracking: %s" % note)
    print("CBT restore bit-exact: %s" % ("yes" if exact else "NO"))
    ratios = {}
    targets = {"cinder-zlib": 20, "ember-read-all": 10 if args.fraction >= 0.01 else 5}
    if args.baseline:
        targets["ember-cbt@" + args.baseline] = 1
    for other, target in targets.items():
        if other in inc:
            ratios[other] = round(inc[other] / inc["ember-cbt"], 2)
            print("CBT incremental vs %s: %.2fx (target >= %dx)" % (other, ratios[other],
                                                                   target))
    floor = next(r["seconds"] for r in rows if r["step"] == "floor: no change")
    if "ember-read-all" in inc:
        print("ceiling of that ratio with nothing changed (read-all / CBT floor): %.2fx"
              % (inc["ember-read-all"] / floor))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                       "size": size, "cold": args.cold, "rows": rows, "note": note, "bit_exact": exact,
                       "ratios": ratios}, f, indent=1)
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
