"""Drive the real Cinder posix backup driver (``cinder.backup.drivers.posix``) directly
(or its s3 driver, ``cinder.backup.drivers.s3``, for ``--repo s3://BUCKET``; its swift
driver, ``cinder.backup.drivers.swift``, for ``--repo swift://CONTAINER``: that one needs
python-swiftclient in the Cinder venv, the s3 one boto3; its gcs driver,
``cinder.backup.drivers.gcs``, for ``--repo gcs://BUCKET``, through ``cinder_gcs.py``).

Runs with the *Cinder* throwaway venv's Python (``benchmarks/work/cinder-venv``), never
with Ember's: Ember does not import Cinder. Cinder's driver needs a backup record, a
volume row and the object registry; like Cinder's own unit tests
(``cinder/tests/unit/backup/drivers/test_backup_posix.py``) we hand it minimal stand-ins:

* ``FakeBackup``: the fields ``ChunkedBackupDriver`` reads and writes, ``save()`` and
  ``refresh()`` as no-ops (nobody cancels a benchmark), ``as_read_deleted()``.
* ``objects.Backup.get_by_id`` answers from a JSON catalogue file (the parent chain).
* ``self.db.volume_get`` returns a volume of ``size`` GiB; notifications are dropped and
  the progress timer is off. Volume metadata is not backed up (``backup_metadata=False``).

Cinder runs in its native-threads mode (eventlet is not monkey-patched), so
``tpool_wrap`` is a no-op and nothing in this harness slows Cinder down.

    python cinder_posix_runner.py backup  --repo R --catalog C --volume V --backup-id ID
                                          [--parent ID] [--codec zlib] [--object-size N]
    python cinder_posix_runner.py restore --repo R --catalog C --backup-id ID --target T
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import sys
import warnings

import runner_cli  # beside this script (sys.path[0])
from runner_cli import load_catalog, save_catalog

warnings.filterwarnings("ignore")  # Cinder's eventlet deprecation banner

VOLUME_ID = "5f0c3a5e-0b7e-4d6a-9c52-6e1d2c0b1e11"


class FakeBackup:
    """The slice of ``cinder.objects.Backup`` the chunked driver touches."""

    def __init__(self, row: dict):
        self.id = row["id"]
        self.volume_id = row.get("volume_id", VOLUME_ID)
        self.parent_id = row.get("parent_id")
        self.size = row.get("size", 1)
        self.container = row.get("container")
        self.service_metadata = row.get("service_metadata")
        self.status = row.get("status", "creating")
        self.display_name = row.get("display_name")
        self.display_description = row.get("display_description")
        self.created_at = row.get("created_at") or str(
            datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0))
        self.object_count = row.get("object_count", 0)

    def __getitem__(self, key):
        return getattr(self, key)

    def get(self, key, default=None):
        return getattr(self, key, default)

    def save(self):
        pass

    def refresh(self):
        pass

    @contextlib.contextmanager
    def as_read_deleted(self):
        yield self

    def row(self) -> dict:
        keys = ("id", "volume_id", "parent_id", "size", "container", "service_metadata",
                "display_name", "display_description", "created_at", "object_count")
        return {k: getattr(self, k) for k in keys}


class FakeDB:
    def __init__(self, size_gib: int):
        self.size_gib = size_gib

    def volume_get(self, context, volume_id):
        return {"id": volume_id, "size": self.size_gib}


def make_driver(repo: str, catalog: dict, codec: str, object_size: int,
                sha_block_size: int, workdir: str):
    """A real ``PosixBackupDriver`` with the stand-ins described in the module doc
    (``workdir``: where files the driver needs are written, the catalogue's directory)."""
    from cinder import context, objects
    from cinder.backup.drivers import posix
    from cinder.volume import volume_utils
    from oslo_config import cfg

    objects.register_all()
    conf = cfg.CONF
    conf([], project="cinder", default_config_files=[])
    conf.set_override("backup_compression_algorithm", codec)
    conf.set_override("backup_file_size", object_size)
    conf.set_override("backup_sha_block_size_bytes", sha_block_size)
    conf.set_override("backup_enable_progress_timer", False)
    # Base.__init__ touches the DB engine; an in-memory SQLite satisfies it.
    conf.set_override("connection", "sqlite://", group="database")
    volume_utils.notify_about_backup_usage = lambda *a, **k: None

    def get_by_id(ctx, backup_id, *a, **k):
        return FakeBackup(catalog[backup_id])

    objects.Backup.get_by_id = staticmethod(get_by_id)
    s3 = runner_cli.s3_options(repo, object_size, sha_block_size)
    if s3 is not None:  # Cinder's own s3 driver (boto3), options as in cinder.conf
        from cinder.backup.drivers import s3 as s3_driver  # registers the s3 options
        for name, value in s3.items():
            conf.set_override(name, value)
        return s3_driver.S3BackupDriver(context.get_admin_context())
    gcs = runner_cli.gcs_options(repo, object_size, sha_block_size)
    if gcs is not None:  # Cinder's own gcs driver, its world moved to 127.0.0.1
        import cinder_gcs

        endpoint = gcs.pop(runner_cli.GCS_ENDPOINT_OPTION)
        gcs["backup_gcs_credential_file"] = cinder_gcs.prepare(endpoint, workdir)
        from cinder.backup.drivers import gcs as gcs_driver  # registers its options
        for name, value in gcs.items():
            conf.set_override(name, value)
        driver = gcs_driver.GoogleBackupDriver(context.get_admin_context())
        driver.check_for_setup_error()
        return driver
    swift = runner_cli.swift_options(repo, object_size, sha_block_size)
    if swift is not None:  # Cinder's own swift driver (python-swiftclient), single_user
        from cinder.backup.drivers import swift as swift_driver  # registers its options
        for name, value in swift.items():
            conf.set_override(name, value)
        driver = swift_driver.SwiftBackupDriver(context.get_admin_context())
        driver.initialize()  # the backup manager's call: makes its swiftclient connection
        return driver
    return posix.PosixBackupDriver(context.get_admin_context(), backup_path=repo)


def _workdir(args) -> str:
    return os.path.dirname(os.path.abspath(args.catalog))


def cmd_backup(args) -> int:
    catalog = load_catalog(args.catalog)
    driver = make_driver(args.repo, catalog, args.codec, args.object_size, args.sha_block_size,
                         _workdir(args))
    size_gib = max(1, -(-os.path.getsize(args.volume) // 2**30))
    driver.db = FakeDB(size_gib)
    backup = FakeBackup({"id": args.backup_id, "parent_id": args.parent, "size": size_gib,
                         "container": args.container, "display_name": args.name})
    with open(args.volume, "rb") as volume_file:
        driver.backup(backup, volume_file, backup_metadata=False)
    catalog[backup.id] = backup.row()
    save_catalog(args.catalog, catalog)
    print(json.dumps({"backup_id": backup.id, "object_count": backup.object_count,
                      "container": backup.container, "prefix": backup.service_metadata}))
    return 0


def cmd_restore(args) -> int:
    catalog = load_catalog(args.catalog)
    driver = make_driver(args.repo, catalog, "none", 32768 * 1600, 32768, _workdir(args))
    backup = FakeBackup(dict(catalog[args.backup_id], status="restoring"))
    # A new target, as Cinder creates one for "restore to a new volume": sparse, zeroed.
    size = args.size if args.size is not None else None
    with open(args.target, "wb") as f:
        if size:
            f.truncate(size)
    with open(args.target, "r+b") as volume_file:
        driver.restore(backup, backup.volume_id, volume_file, volume_is_new=True)
    return 0


def main(argv=None) -> int:
    p = runner_cli.parser(__doc__.splitlines()[0], cmd_backup, cmd_restore)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
