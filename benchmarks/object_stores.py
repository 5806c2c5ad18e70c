"""MB/s of an Ember backup and restore to each local object-store server, next to posix.

One run backs the same seeded volume (``benchmarks/volume.py``) up to every backend in
turn through ``ember.engine.engine.Engine``, restores it into a new sparse file, checks the
restore's sha256, deletes the backup, and prints MB/s (volume bytes per wall-clock
second) with the ratio to posix measured in the same run. Every backend uses the same
object size and codec, so the difference is the transport.

    .venv/bin/python benchmarks/object_stores.py [--size 1G] [--codec none]
        [--object-size 50M] [--backends posix,gcs,swift,s3] [--json OUT]

Each backend runs in its own process (``--one``), so the peak RSS printed is that
backend's own (``os.wait4`` rusage). The default object size is Cinder's default for
Swift, GCS and S3 (52,428,800 bytes), used for posix too so only the transport differs.

Each backend is one function ``<name>_driver(work_dir, object_size) -> driver`` in
``BACKENDS``; it returns ``None`` with a printed reason when its server is not running
(start them with ``bash scripts/servers/<name>.sh start``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import volume as bench_volume  # noqa: E402  (benchmarks/volume.py, beside this file)

MiB = 1 << 20
SHA_BLOCK = 32768
VOLUME_ID = "0b5e7f9c-3d2a-4c1e-9f80-6a7b8c9d0e1f"


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().rstrip("IB")
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


# ---- one function per backend ------------------------------------------------------------
def posix_driver(work: str, object_size: int):
    """The posix driver on a directory of the benchmark's work dir (local disk)."""
    from ember.testing.config import make_conf
    from ember_posix.driver import PosixBackupDriver

    conf = make_conf(backup_file_size=object_size, backup_sha_block_size_bytes=SHA_BLOCK)
    driver = PosixBackupDriver(conf)
    conf.set_override("backup_posix_path", os.path.join(work, "posix-repo"))
    driver.check_setup()
    return driver, None


def gcs_driver(work: str, object_size: int):
    """The GCS driver on fake-gcs-server (``STORAGE_EMULATOR_HOST`` or 127.0.0.1:4443),
    in a fresh bucket, with Cinder's default 2 MiB resumable-upload chunks."""
    import urllib.parse

    from ember.testing.config import make_conf
    from ember.testing.services import tcp_open
    from ember_gcs import opts
    from ember_gcs.driver import GoogleBackupDriver

    endpoint = os.environ.get("STORAGE_EMULATOR_HOST") or "http://127.0.0.1:4443"
    url = urllib.parse.urlsplit(endpoint)
    if not tcp_open(url.hostname, url.port or 80):
        print("gcs: skipped, nothing at %s (bash scripts/servers/gcs.sh start)" % endpoint)
        return None
    bucket = "ember-bench-%s" % uuid.uuid4().hex[:10]
    conf = make_conf(extra_opts=opts.gcs_opts, backup_gcs_endpoint_url=endpoint,
                     backup_gcs_bucket=bucket, backup_gcs_object_size=object_size,
                     backup_gcs_block_size=SHA_BLOCK)
    driver = GoogleBackupDriver(conf)
    driver.check_setup()
    driver.ensure_container(bucket)

    def drop_bucket():
        driver._client().bucket(bucket).delete(retry=None)

    return driver, drop_bucket


def swift_driver(work: str, object_size: int):
    """The Swift driver on the SAIO of ``scripts/servers/swift.sh`` (tempauth
    test:tester at ``EMBER_SWIFT_AUTH_URL`` or 127.0.0.1:8080), in a fresh container."""
    import urllib.parse

    from ember.testing.config import make_conf
    from ember.testing.services import tcp_open
    from ember_swift import opts
    from ember_swift.driver import SwiftBackupDriver

    auth_url = os.environ.get("EMBER_SWIFT_AUTH_URL", "http://127.0.0.1:8080/auth/v1.0")
    url = urllib.parse.urlsplit(auth_url)
    if not tcp_open(url.hostname, url.port or 80):
        print("swift: skipped, nothing at %s (bash scripts/servers/swift.sh start)" % auth_url)
        return None
    container = "ember-bench-%s" % uuid.uuid4().hex[:10]
    conf = make_conf(extra_opts=opts.swift_opts, backup_swift_auth="single_user",
                     backup_swift_auth_url=auth_url,
                     backup_swift_user=os.environ.get("EMBER_SWIFT_USER", "test:tester"),
                     backup_swift_key=os.environ.get("EMBER_SWIFT_KEY", "testing"),
                     backup_swift_container=container, backup_swift_object_size=object_size,
                     backup_swift_block_size=SHA_BLOCK)
    driver = SwiftBackupDriver(conf)
    driver.check_setup()
    driver.ensure_container(container)

    def drop_container():
        driver._connection().delete_container(container)

    return driver, drop_container


def s3_driver(work: str, object_size: int):
    """The S3 driver on the SeaweedFS of ``scripts/servers/s3.sh`` (``EMBER_S3_ENDPOINT``
    or 127.0.0.1:8333), in a fresh bucket, with Cinder's defaults otherwise (Content-MD5
    on, 10 connections) and Ember's 8 MiB multipart parts."""
    import urllib.parse

    import runner_cli  # beside this file: the S3 server's address and keys
    from ember.testing.config import make_conf
    from ember.testing.services import tcp_open
    from ember_s3 import opts
    from ember_s3.driver import S3BackupDriver

    bucket = "ember-bench-%s" % uuid.uuid4().hex[:10]
    options = runner_cli.s3_options("s3://" + bucket, object_size, SHA_BLOCK)
    url = urllib.parse.urlsplit(options["backup_s3_endpoint_url"])
    if not tcp_open(url.hostname, url.port or 80):
        print("s3: skipped, nothing at %s (bash scripts/servers/s3.sh start)"
              % options["backup_s3_endpoint_url"])
        return None
    driver = S3BackupDriver(make_conf(extra_opts=opts.s3_opts, **options))
    driver.check_setup()
    driver.ensure_container(bucket)

    def drop_bucket():
        driver.client().delete_bucket(Bucket=bucket)

    return driver, drop_bucket


BACKENDS = {
    "posix": posix_driver,
    "gcs": gcs_driver,
    "swift": swift_driver,
    "s3": s3_driver,
}


# ---- the measurement ------------------------------------------------------------------------
def measure(name: str, make, work: str, source: str, size: int, expected: str,
            codec: str, object_size: int) -> dict | None:
    try:
        from ember.engine import format as fmt
        from ember.engine.engine import BackupSpec, ChainMember, Engine
    except ImportError:  # a tree from before the ember.engine package (PYTHONPATH=old/core)
        from ember import format as fmt
        from ember.engine import BackupSpec, ChainMember, Engine

    made = make(os.path.join(work, name), object_size)
    if made is None:
        return None
    driver, cleanup = made
    driver.conf.set_override("backup_compression_algorithm", codec)
    engine = Engine(driver, driver.conf)
    backup_id = str(uuid.uuid4())
    created = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    container = engine.layout.default_container(backup_id)
    prefix = engine.layout.object_prefix(VOLUME_ID, backup_id, fmt.timestamp(created))
    spec = BackupSpec(backup_id=backup_id, volume_id=VOLUME_ID, source_path=source,
                      container=container, prefix=prefix, created_at=str(created))
    driver.ensure_container(container)

    start = time.perf_counter()
    result = engine.backup(spec)
    backup_s = time.perf_counter() - start

    target = os.path.join(work, "%s.restored" % name)
    with open(target, "wb") as f:
        f.truncate(size)
    start = time.perf_counter()
    engine.restore([ChainMember(backup_id, container, prefix)], target, target_is_new=True)
    restore_s = time.perf_counter() - start
    restored = bench_volume.sha256_of(target)
    os.unlink(target)

    engine.delete(container, prefix)
    if cleanup:
        cleanup()
    driver.close()
    if restored != expected:
        raise SystemExit("%s: restored volume differs (sha256 %s, expected %s)"
                         % (name, restored, expected))
    return {"backend": name, "objects": result.object_count,
            "stored_bytes": result.bytes_stored,
            "backup_s": round(backup_s, 3), "restore_s": round(restore_s, 3),
            "backup_MBps": round(size / MiB / backup_s, 1),
            "restore_MBps": round(size / MiB / restore_s, 1)}


def table(rows: list[dict]) -> str:
    base = next((r for r in rows if r["backend"] == "posix"), None)
    lines = ["| backend | objects | backup MB/s | vs posix | restore MB/s | vs posix "
             "| peak RSS MiB |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = (lambda key: "%.2f" % (r[key] / base[key]) if base else "-")
        lines.append("| %s | %d | %.1f | %s | %.1f | %s | %.0f |" % (
            r["backend"], r["objects"], r["backup_MBps"], ratio("backup_MBps"),
            r["restore_MBps"], ratio("restore_MBps"), r.get("peak_rss_MiB", 0)))
    return "\n".join(lines)


def run_isolated(name: str, args, work: str, source: str, expected: str) -> dict | None:
    """``measure`` for one backend in a child process; adds its peak RSS."""
    out = os.path.join(work, "%s.json" % name)
    cmd = [sys.executable, os.path.abspath(__file__), "--one", name, "--source", source,
           "--expected", expected, "--work", work, "--size", args.size, "--codec", args.codec,
           "--object-size", args.object_size, "--json", out]
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("%s: the measuring process failed (exit %d)"
                         % (name, os.waitstatus_to_exitcode(status)))
    if not os.path.exists(out):
        return None  # skipped: the server is not running
    with open(out) as f:
        row = json.load(f)
    row["peak_rss_MiB"] = round(usage.ru_maxrss / 1024, 1)
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="1G", help="volume size (default 1G)")
    p.add_argument("--codec", default="none",
                   help="backup_compression_algorithm (default none: measure transport)")
    p.add_argument("--object-size", default="52428800",
                   help="object size for every backend (default Cinder's 52428800)")
    p.add_argument("--one", help=argparse.SUPPRESS)  # the child: measure this backend
    p.add_argument("--source", help=argparse.SUPPRESS)
    p.add_argument("--expected", help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    p.add_argument("--backends", default=",".join(BACKENDS),
                   help="comma-separated, from: %s" % ", ".join(BACKENDS))
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)
    size, object_size = parse_size(args.size), parse_size(args.object_size)
    if object_size % SHA_BLOCK:
        p.error("--object-size must be a multiple of %d" % SHA_BLOCK)

    if args.one:
        row = measure(args.one, BACKENDS[args.one], args.work, args.source, size,
                      args.expected, args.codec, object_size)
        if row:
            with open(args.json, "w") as f:
                json.dump(row, f)
        return 0

    rows = []
    with tempfile.TemporaryDirectory(prefix="ember-objstores-") as work:
        source = os.path.join(work, "volume.img")
        expected = bench_volume.build(source, size, args.seed)
        for name in [n.strip() for n in args.backends.split(",") if n.strip()]:
            if name not in BACKENDS:
                p.error("unknown backend %s (known: %s)" % (name, ", ".join(BACKENDS)))
            bench_volume.warm(source)
            row = run_isolated(name, args, work, source, expected)
            if row:
                rows.append(row)
                print("%s: backup %.1f MB/s, restore %.1f MB/s, peak RSS %.0f MiB" % (
                    name, row["backup_MBps"], row["restore_MBps"], row["peak_rss_MiB"]),
                    flush=True)
    print()
    print("%s volume, codec %s, %s objects, %d cores" % (
        args.size, args.codec, args.object_size, os.cpu_count() or 0))
    print(table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"size": size, "codec": args.codec, "object_size": object_size,
                       "results": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
