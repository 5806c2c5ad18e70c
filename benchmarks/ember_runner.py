"""Drive Ember's engine with the posix driver (the s3 driver for ``--repo s3://BUCKET``),
one operation per process.

Runs with Ember's venv (``.venv/bin/python``). It takes the same arguments as
``cinder_posix_runner.py`` so ``compare.py`` and ``cinder_interop.py`` treat both alike;
the chain (ids, containers, prefixes, parents) is kept in a small JSON catalogue file,
standing in for Ember's SQLite catalogue, which is not what is being measured.

    python ember_runner.py backup  --repo R --catalog C --volume V --backup-id ID
                                   [--parent ID] [--codec zstd] [--object-size N]
    python ember_runner.py restore --repo R --catalog C --backup-id ID --target T [--size N]
    python ember_runner.py consolidate --repo R --catalog C --backup-id ID --new-id ID2
                                   [--codec zstd] [--object-size N]
        (a full backup ID2 equal to ID's restore point, from the repository alone)

``--profile OUT`` writes a cProfile dump of the operation (``python -m pstats OUT``).
"""

from __future__ import annotations

import cProfile
import datetime
import json
import sys

import runner_cli  # beside this script (sys.path[0])
from runner_cli import load_catalog, save_catalog

VOLUME_ID = "5f0c3a5e-0b7e-4d6a-9c52-6e1d2c0b1e11"


def _naming(engine):
    """Where the engine's names come from: its layout, or, in a tree from before
    ``ember.layout`` (a ``--baseline`` run of compare.py), its driver."""
    return getattr(engine, "layout", None) or engine.driver


def make_engine(repo: str, codec: str, object_size: int, sha_block_size: int):
    """An ``Engine`` over a posix driver whose ``backup_posix_path`` is ``repo``."""
    from ember.engine.engine import Engine
    from ember.testing.config import make_conf
    from ember_posix.driver import PosixBackupDriver

    s3 = runner_cli.s3_options(repo, object_size, sha_block_size)
    if s3 is not None:
        from ember_s3 import opts as s3_opts
        from ember_s3.driver import S3BackupDriver

        # the smallest part S3 allows, so objects above 5 MiB are multipart uploads
        conf = make_conf(extra_opts=s3_opts.s3_opts, backup_compression_algorithm=codec,
                         backup_s3_part_size=s3_opts.MIN_PART_SIZE, **s3)
        driver = S3BackupDriver(conf)
        driver.check_setup()
        return Engine(driver, conf), driver
    conf = make_conf(backup_compression_algorithm=codec, backup_file_size=object_size,
                     backup_sha_block_size_bytes=sha_block_size)
    driver = PosixBackupDriver(conf)
    conf.set_override("backup_posix_path", repo)
    driver.check_setup()
    return Engine(driver, conf), driver


def member(row: dict):
    from ember.engine.engine import ChainMember
    return ChainMember(backup_id=row["id"], container=row["container"],
                       prefix=row["service_metadata"])


def cmd_backup(args) -> dict:
    from ember.engine import format as fmt
    from ember.engine.engine import BackupSpec

    catalog = load_catalog(args.catalog)
    engine, driver = make_engine(args.repo, args.codec, args.object_size, args.sha_block_size)
    created = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    container = args.container or _naming(engine).default_container(args.backup_id)
    prefix = _naming(engine).object_prefix(VOLUME_ID, args.backup_id, fmt.timestamp(created))
    parent = member(catalog[args.parent]) if args.parent else None
    spec = BackupSpec(backup_id=args.backup_id, volume_id=VOLUME_ID, source_path=args.volume,
                      container=container, prefix=prefix, created_at=str(created),
                      name=args.name, parent=parent)
    result = engine.backup(spec)
    catalog[args.backup_id] = {"id": args.backup_id, "volume_id": VOLUME_ID,
                               "parent_id": args.parent, "container": container,
                               "service_metadata": prefix, "created_at": str(created),
                               "object_count": result.object_count}
    save_catalog(args.catalog, catalog)
    return {"backup_id": args.backup_id, "object_count": result.object_count,
            "bytes_read": result.bytes_read, "bytes_stored": result.bytes_stored,
            "container": container, "prefix": prefix}


def chain_of(catalog: dict, backup_id: str) -> list:
    chain = []
    while backup_id:
        chain.append(member(catalog[backup_id]))
        backup_id = catalog[backup_id]["parent_id"]
    return chain[::-1]


def cmd_consolidate(args) -> dict:
    import os
    import tempfile

    from ember.engine import format as fmt
    from ember.engine.consolidate import consolidate
    from ember.engine.spec import BackupSpec

    catalog = load_catalog(args.catalog)
    engine, driver = make_engine(args.repo, args.codec, args.object_size, args.sha_block_size)
    created = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    container = _naming(engine).default_container(args.new_id)
    prefix = _naming(engine).object_prefix(VOLUME_ID, args.new_id, fmt.timestamp(created))
    spec = BackupSpec(backup_id=args.new_id, volume_id=VOLUME_ID, source_path="",
                      container=container, prefix=prefix, created_at=str(created))
    staging = os.path.join(tempfile.mkdtemp(), "staging.img")
    result = consolidate(engine, chain_of(catalog, args.backup_id), spec, staging)
    catalog[args.new_id] = {"id": args.new_id, "volume_id": VOLUME_ID, "parent_id": None,
                            "container": container, "service_metadata": prefix,
                            "created_at": str(created), "object_count": result.object_count}
    save_catalog(args.catalog, catalog)
    return {"backup_id": args.new_id, "object_count": result.object_count}


def cmd_restore(args) -> dict:
    catalog = load_catalog(args.catalog)
    chain = chain_of(catalog, args.backup_id)
    engine, _ = make_engine(args.repo, "none", 32768 * 1600, 32768)
    with open(args.target, "wb") as f:  # a new, zeroed (sparse) target
        if args.size:
            f.truncate(args.size)
    result = engine.restore(chain, args.target, target_is_new=True)
    return {"bytes_written": result.bytes_written, "members": len(chain)}


def main(argv=None) -> int:
    p = runner_cli.parser(__doc__.splitlines()[0], cmd_backup, cmd_restore,
                          cmd_consolidate=cmd_consolidate)
    p.add_argument("--profile", help="write a cProfile dump here")
    args = p.parse_args(argv)
    if args.profile:
        prof = cProfile.Profile()
        out = prof.runcall(args.func, args)
        prof.dump_stats(args.profile)
    else:
        out = args.func(args)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
