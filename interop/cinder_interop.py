#!/usr/bin/env python3
"""Interop check: the real Cinder restores Ember's backups (and, with ``--reverse``,
Ember restores the real Cinder's).

For each codec (none, zlib, bz2, zstd) and each shape the writer makes a chain full + 2
incrementals of a seeded volume into a posix directory; the reader then restores every
point of the chain onto a new sparse target and the sha256 must equal that point's.
Shapes: ``small`` (4 MiB + 12345 bytes in 256 KiB objects: many objects, each one piece
of Ember's pipeline) and ``multi-piece`` (20 MiB + 12345 bytes in 9 MiB objects: Ember
streams each object as several 4 MiB pieces, i.e. its pigz-style joined zlib stream and
multi-threaded zstd frame). The odd size makes the last SHA block short; the volume holds
random data, text, written zeros and a hole. Between points it gets scattered 4 KiB writes, and before the
second incremental 1 MiB of random data is overwritten with zeros: the region that must not
show the older data after a restore (the hazard docs/format.md, Chains, describes).

Cinder is the real ``cinder.backup.drivers.posix.PosixBackupDriver`` from the throwaway
venv ``benchmarks/work/cinder-venv`` (see ``cinder_posix_runner.py``); Ember is its engine
and posix driver (``ember_runner.py``). Both share the chain catalogue file format, so the
reader finds the writer's containers, prefixes and parents.

    python3 interop/cinder_interop.py              # Ember writes, Cinder restores
    python3 interop/cinder_interop.py --reverse    # also Cinder writes, Ember restores
    python3 interop/cinder_interop.py --writer cinder --reader cinder   # harness self-check
    python3 interop/cinder_interop.py --consolidate --reverse
        # also: Ember consolidates each chain's tip into a new full backup (from the
        # repository alone) and Cinder restores that full; it must equal the tip
    python3 interop/cinder_interop.py --store s3 --reverse [--sse-c]
        # the same through Cinder's and Ember's s3 drivers against the S3 server of
        # scripts/servers/s3.sh (one fresh bucket per chain, removed afterwards)
Exit status 0 only if every point of every chain restored bit-exact.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import subprocess
import sys
import uuid

# The runners, the seeded volume and the Cinder venv are shared with the benchmarks.
BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
sys.path.insert(0, BENCH)
import volume as vol  # noqa: E402
from compare import CINDER_PY, EMBER_PY, WORK, ensure_cinder  # noqa: E402

RUNNERS = {
    "cinder": (CINDER_PY, os.path.join(BENCH, "cinder_posix_runner.py")),
    "ember": (EMBER_PY, os.path.join(BENCH, "ember_runner.py")),
}
CODECS = ("none", "zlib", "bz2", "zstd")
SHAPES = {  # name -> (volume bytes, object size)
    "small": (4 * vol.MiB + 12345, 256 * 1024),
    "multi-piece": (20 * vol.MiB + 12345, 9 * vol.MiB),
}
SHA_BLOCK = 32768


def call(who: str, *args: str) -> None:
    python, runner = RUNNERS[who]
    proc = subprocess.run([python, runner, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError("%s %s failed: %s" % (who, args[0], tail[0]))


def change(path: str, rng: random.Random, zero_out: bool) -> None:
    """A few scattered 4 KiB writes; optionally zero 1 MiB of the random region."""
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        for _ in range(24):
            f.seek(rng.randrange(0, size - 4096) // 4096 * 4096)
            f.write(rng.randbytes(4096))
        f.seek(size - 700)  # the short tail block changes too
        f.write(rng.randbytes(700))
        if zero_out:
            f.seek(vol.MiB // 2)
            f.write(bytes(vol.MiB))


def ensure_cinder_s3() -> None:
    """Cinder's s3 driver needs boto3, its ``s3`` extra: add it to the Cinder venv."""
    if subprocess.run([CINDER_PY, "-c", "import boto3"], capture_output=True).returncode:
        print("installing cinder[s3]'s boto3 into the Cinder venv", flush=True)
        subprocess.run([CINDER_PY, "-m", "pip", "install", "-q", "boto3>=1.18.49"], check=True)


def s3_bucket(command: str, repo: str) -> dict:
    """``s3_bucket.py COMMAND REPO`` in Ember's venv (the S3 client lives there)."""
    proc = subprocess.run([EMBER_PY, os.path.join(BENCH, "s3_bucket.py"), command, repo],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError("s3_bucket.py %s failed: %s" % (
            command, (proc.stderr.strip().splitlines() or ["(no output)"])[-1]))
    return json.loads(proc.stdout)


def recorded_codecs(repo: str) -> str:
    """How the writer recorded its objects, e.g. ``zlib x14, none x6``: shows the codec
    was really exercised (objects compression does not shrink are stored ``none``)."""
    counts: collections.Counter = collections.Counter()
    if repo.startswith("s3://"):
        counts.update(s3_bucket("codecs", repo))
    for base, _, files in os.walk(repo):
        for name in files:
            if name.endswith("_metadata"):
                with open(os.path.join(base, name)) as f:
                    for entry in json.load(f)["objects"]:
                        counts.update(e["compression"] for e in entry.values())
    return ", ".join("%s x%d" % kv for kv in sorted(counts.items()))


def check_codec(writer: str, reader: str, codec: str, shape: str, base: str,
                seed: int, store: str = "posix",
                consolidate: bool = False) -> tuple[list[str], str]:
    """Write a 3-point chain with ``writer``, restore each point with ``reader``.
    Returns one line per point (``ok`` or what differed) and the recorded codecs."""
    volume_size, object_size = SHAPES[shape]
    d = os.path.join(base, "%s-%s-to-%s-%s-%s" % (store, writer, reader, codec, shape))
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    repo, catalog, volume = (os.path.join(d, n) for n in ("repo", "catalog.json", "volume.img"))
    if store == "s3":  # a fresh bucket on the S3 server, removed afterwards
        repo = "s3://ember-interop-%s" % uuid.uuid4().hex[:12]
    else:  # as an operator makes it: Ember refuses a repository path that does not exist
        os.makedirs(repo)
    try:
        return _check_chain(writer, reader, codec, repo, catalog, volume, volume_size,
                            object_size, seed, d, consolidate)
    finally:
        if store == "s3":
            s3_bucket("remove", repo)


def _check_chain(writer, reader, codec, repo, catalog, volume, volume_size, object_size,
                 seed, d, consolidate=False) -> tuple[list[str], str]:
    vol.build(volume, volume_size, seed)
    rng = random.Random(seed)
    points: list[tuple[str, str]] = []
    for i in range(3):
        if i:
            change(volume, rng, zero_out=(i == 2))
        backup_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        args = ["backup", "--repo", repo, "--catalog", catalog, "--volume", volume,
                "--backup-id", backup_id, "--codec", codec, "--object-size", str(object_size),
                "--sha-block-size", str(SHA_BLOCK)]
        if points:
            args += ["--parent", points[-1][0]]
        call(writer, *args)
        points.append((backup_id, vol.sha256_of(volume)))
    if consolidate:  # Ember makes the tip's restore point a full; the reader restores it
        full_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        call("ember", "consolidate", "--repo", repo, "--catalog", catalog,
             "--backup-id", points[-1][0], "--new-id", full_id, "--codec", codec,
             "--object-size", str(object_size), "--sha-block-size", str(SHA_BLOCK))
        points.append((full_id, points[-1][1]))
    lines = []
    for i, (backup_id, expected) in enumerate(points):
        target = os.path.join(d, "restored-%d.img" % i)
        # the consolidated full is restored by Cinder whoever wrote the chain
        who = "cinder" if consolidate and i == len(points) - 1 else reader
        try:
            call(who, "restore", "--repo", repo, "--catalog", catalog,
                 "--backup-id", backup_id, "--target", target, "--size", str(volume_size))
            got = vol.sha256_of(target)
            lines.append("ok" if got == expected else
                         "sha256 %s, expected %s" % (got[:16], expected[:16]))
        except RuntimeError as e:
            lines.append(str(e))
    codecs = recorded_codecs(repo)
    shutil.rmtree(d, ignore_errors=True)
    return lines, codecs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--writer", choices=RUNNERS, default="ember")
    p.add_argument("--reader", choices=RUNNERS, default="cinder")
    p.add_argument("--reverse", action="store_true",
                   help="also run the opposite direction (reader writes, writer restores)")
    p.add_argument("--codecs", default=",".join(CODECS))
    p.add_argument("--shapes", default=",".join(SHAPES))
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--store", choices=("posix", "s3"), default="posix",
                   help="posix: a directory; s3: the S3 server of scripts/servers/s3.sh, "
                        "through Cinder's and Ember's s3 drivers")
    p.add_argument("--consolidate", action="store_true",
                   help="also consolidate each chain's tip with Ember (a synthetic full) "
                        "and have Cinder restore it: the last point of each line")
    p.add_argument("--sse-c", action="store_true",
                   help="with --store s3: every object encrypted with an SSE-C key")
    args = p.parse_args(argv)
    if args.sse_c:
        os.environ["EMBER_S3_SSE_CUSTOMER_KEY"] = "ember-interop-sse-c-key-32-bytes"
    ensure_cinder()
    if args.store == "s3":
        ensure_cinder_s3()
    base = os.path.join(WORK, "interop")
    directions = [(args.writer, args.reader)]
    if args.reverse and args.writer != args.reader:
        directions.append((args.reader, args.writer))
    failures = 0
    print("%s: chain full + 2 incrementals, SHA block %d; shapes: %s" % (
        args.store + (" with SSE-C" if args.sse_c else ""), SHA_BLOCK, ", ".join(
        "%s = %d-byte volume in %d-byte objects" % (n, *SHAPES[n])
        for n in args.shapes.split(","))))
    for shape in args.shapes.split(","):
        for writer, reader in directions:
            for codec in args.codecs.split(","):
                try:
                    lines, codecs = check_codec(writer, reader, codec, shape, base, args.seed,
                                                args.store, args.consolidate)
                except RuntimeError as e:
                    lines, codecs = ["backup: %s" % e], "?"
                failures += sum(1 for ln in lines if ln != "ok")
                print("%-11s %-6s writes, %-6s restores, %-5s: %s  [objects: %s]" % (
                    shape, writer, reader, codec,
                    ", ".join("point %d %s" % (i, ln) for i, ln in enumerate(lines)), codecs))
    print("PASS" if not failures else "FAIL (%d)" % failures)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
