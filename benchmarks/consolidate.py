#!/usr/bin/env python3
"""Consolidation figures: the time to make a synthetic full of a chain (full + 2
incrementals of the benchmark volume, 1 % scattered change each) from the repository,
against two baselines measured in the same run on the same repository: a full backup of
the volume itself (what consolidation replaces: re-reading the volume) and a restore of
the chain (the read half of consolidation). The ratios are what to compare across
machines; the consolidated full is checked to restore to the tip's bytes.

    .venv/bin/python benchmarks/consolidate.py [--size-mib 1024] [--codec zstd]
        [--object-mib 32]
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import volume as vol  # noqa: E402
from ember_runner import VOLUME_ID, make_engine  # noqa: E402


def spec_for(driver, backup_id: str, source: str, parent=None):
    from ember.engine import format as fmt
    from ember.engine.spec import BackupSpec
    from ember.wrappers import layout_of

    created = datetime.datetime.now(datetime.timezone.utc)
    layout = layout_of(driver)
    return BackupSpec(backup_id=backup_id, volume_id=VOLUME_ID, source_path=source,
                      container=layout.default_container(backup_id),
                      prefix=layout.object_prefix(VOLUME_ID, backup_id, fmt.timestamp(created)),
                      created_at=str(created), parent=parent)


def member(spec):
    from ember.engine.spec import ChainMember

    return ChainMember(backup_id=spec.backup_id, container=spec.container, prefix=spec.prefix)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main(argv=None) -> int:
    from ember.engine.consolidate import consolidate

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--codec", default="zstd")
    p.add_argument("--object-mib", type=int, default=32)
    args = p.parse_args(argv)
    work = tempfile.mkdtemp(prefix="ember-consolidate-bench-")
    try:
        engine, driver = make_engine(os.path.join(work, "repo"), args.codec,
                                     args.object_mib * vol.MiB, 32768)
        image, size = os.path.join(work, "volume.img"), args.size_mib * vol.MiB
        vol.build(image, size, seed=7)
        chain = []
        for i in range(3):
            if i:
                vol.mutate(image, seed=100 + i)
            spec = spec_for(driver, str(uuid.uuid4()), image, member(chain[-1]) if chain else None)
            engine.backup(spec)
            chain.append(spec)
        tip_sha = vol.sha256_of(image)
        vol.warm(image)
        full_s, _ = timed(lambda: engine.backup(spec_for(driver, str(uuid.uuid4()), image)))
        target = os.path.join(work, "restored.img")
        with open(target, "wb") as f:
            f.truncate(size)
        restore_s, _ = timed(lambda: engine.restore([member(s) for s in chain], target,
                                                    target_is_new=True))
        os.unlink(target)
        synthetic = spec_for(driver, str(uuid.uuid4()), "")
        consolidate_s, _ = timed(lambda: consolidate(
            engine, [member(s) for s in chain], synthetic, os.path.join(work, "staging.img")))
        with open(target, "wb") as f:
            f.truncate(size)
        engine.restore([member(synthetic)], target, target_is_new=True)
        ok = vol.sha256_of(target) == tip_sha
        print("volume %d MiB, %s, %d MiB objects, chain of 3" % (args.size_mib, args.codec,
                                                                 args.object_mib))
        print("full backup of the volume   %7.2f s  (baseline)" % full_s)
        print("restore of the chain        %7.2f s  %.2fx the full backup"
              % (restore_s, restore_s / full_s))
        print("consolidate (no volume read) %6.2f s  %.2fx the full backup, %.2fx restore + "
              "full" % (consolidate_s, consolidate_s / full_s,
                        consolidate_s / (restore_s + full_s)))
        print("consolidated full restores bit-exact: %s" % ("yes" if ok else "NO"))
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
