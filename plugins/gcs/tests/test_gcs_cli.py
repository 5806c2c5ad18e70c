"""The ``ember`` command with ``backup_driver = gcs`` against fake-gcs-server: full and
incremental backups, bit-exact restores, delete, cancel during upload, and the one-line
errors for unusable credentials and a missing bucket."""

import hashlib
import json
import os
import random
import subprocess
import sys
import time

import pytest

from ember_gcs.driver import GoogleBackupDriver

EMBER = os.path.join(os.path.dirname(sys.executable), "ember")
MiB = 1 << 20


class Ember:
    """``ember`` in subprocesses with its own state, home and config: GCS at the emulator,
    1 MiB objects of 4 KiB blocks."""

    def __init__(self, root, endpoint, bucket):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OS_", "EMBER_", "XDG_", "STORAGE_EMULATOR"))}
        env.update({
            "HOME": str(root / "home"), "XDG_CACHE_HOME": str(root / "cache"),
            "XDG_CONFIG_HOME": str(root / "home" / ".config"),
            "OS_DEFAULT__STATE_PATH": str(root / "state"),
            "OS_DEFAULT__BACKUP_DRIVER": "gcs",
            "OS_DEFAULT__BACKUP_GCS_ENDPOINT_URL": endpoint,
            "OS_DEFAULT__BACKUP_GCS_BUCKET": bucket,
            "OS_DEFAULT__BACKUP_GCS_OBJECT_SIZE": str(MiB),
            "OS_DEFAULT__BACKUP_GCS_BLOCK_SIZE": "4096",
        })
        self.env, self.root = env, root

    def run(self, *args, **env):
        return subprocess.run([EMBER, *args], capture_output=True, text=True, timeout=300,
                              cwd=str(self.root), env=dict(self.env, **env))

    def json(self, *args, **env):
        result = self.run(*args, "-f", "json", **env)
        assert result.returncode == 0, (args, result.stderr)
        return json.loads(result.stdout)

    def fails(self, *args, **env) -> str:
        """The single stderr line of a command that must exit 1."""
        result = self.run(*args, **env)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        return lines[0]

    def start(self, *args, **env):
        return subprocess.Popen([EMBER, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=str(self.root),
                                env=dict(self.env, **env))


def sha256(path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_at(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


@pytest.fixture
def ember(tmp_path, gcs_endpoint, bucket):
    return Ember(tmp_path, gcs_endpoint, bucket)


@pytest.fixture
def store(bucket, gcs_conf):
    """The bucket as the server shows it (a driver of our own, outside the CLI)."""
    with GoogleBackupDriver(gcs_conf(backup_gcs_bucket=bucket)) as driver:
        yield driver


def test_full_incremental_restore_and_delete(ember, store, bucket):
    rng = random.Random(5)
    volume = ember.json("volume", "create", "--size", "4M", "vol1")
    write_at(volume["path"], 0, rng.randbytes(3 * MiB + 100))
    first = sha256(volume["path"])
    full = ember.json("volume", "backup", "create", "--name", "full", "vol1")
    assert (full["status"], full["container"], full["object_count"]) == (
        "available", bucket, 4)
    assert full["service"] == "cinder.backup.drivers.gcs.GoogleBackupDriver"
    assert full["service_metadata"].startswith("volume_%s/" % volume["id"])

    write_at(volume["path"], MiB - 4096, rng.randbytes(8192))  # one run across a boundary
    second = sha256(volume["path"])
    incr = ember.json("volume", "backup", "create", "--incremental", "--name", "incr", "vol1")
    assert incr["is_incremental"] and incr["parent_id"] == full["id"]
    assert incr["object_count"] == 2  # the run split at the object boundary

    for backup, expected in ((incr, second), (full, first)):
        prefix = backup["service_metadata"]
        assert sorted(store.list_objects(bucket, prefix)) == sorted(
            ["%s-%05d" % (prefix, n) for n in range(1, backup["object_count"] + 1)]
            + [prefix + "_metadata", prefix + "_sha256file"])
        restored = ember.json("volume", "backup", "restore", backup["id"],
                              "restored-" + backup["name"])
        target = ember.json("volume", "show", restored.get("volume_id") or
                            "restored-" + backup["name"])
        assert sha256(target["path"]) == expected

    for backup in (incr, full):
        assert ember.run("volume", "backup", "delete", backup["id"]).returncode == 0
    for _ in range(100):  # delete may finish in the background
        if not list(store.list_objects(bucket, "volume_%s/" % volume["id"])):
            break
        time.sleep(0.1)
    assert list(store.list_objects(bucket, "volume_%s/" % volume["id"])) == []
    assert ember.json("volume", "backup", "list") == []


def test_cancel_during_upload_leaves_nothing(ember, store, bucket):
    volume = ember.json("volume", "create", "--size", "128M", "big")
    text = b"".join(b"%08d the quick brown fox jumps over the lazy dog\n" % i
                    for i in range(128 * MiB // 50 + 1))[:128 * MiB]
    write_at(volume["path"], 0, text)
    # bz2 on 128 MiB of text with one engine thread takes ~5 s even on an idle machine
    # (~25 MB/s), so the force delete (a new process: ~1 s) lands while the backup runs
    proc = ember.start("volume", "backup", "create", "--name", "doomed", "big",
                       OS_DEFAULT__BACKUP_COMPRESSION_ALGORITHM="bz2",
                       OS_DEFAULT__BACKUP_ENGINE_THREADS="1")
    prefix = "volume_%s/" % volume["id"]
    try:
        deadline = time.monotonic() + 60
        while not list(store.list_objects(bucket, prefix)):  # wait for the first objects
            assert proc.poll() is None, "backup ended before any object was seen"
            assert time.monotonic() < deadline, "no object uploaded within 60 s"
            time.sleep(0.05)
        deleted = ember.run("volume", "backup", "delete", "--force", "doomed")
        assert deleted.returncode == 0, deleted.stderr
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        out, err = proc.communicate()
    assert code == 1, (out, err)
    for _ in range(100):
        if not list(store.list_objects(bucket, prefix)):
            break
        time.sleep(0.1)
    assert list(store.list_objects(bucket, prefix)) == []
    assert ember.json("volume", "backup", "list") == []
    assert ember.json("volume", "show", "big")["status"] == "available"


def test_a_missing_bucket_is_one_clear_line(ember, bucket, gcs_endpoint):
    ember.json("volume", "create", "--size", "1M", "vol1")
    line = ember.fails("volume", "backup", "create", "vol1",
                       OS_DEFAULT__BACKUP_CREATE_CONTAINERS="false")
    assert ("GCS bucket %s does not exist at %s and backup_create_containers is False"
            % (bucket, gcs_endpoint)) in line


def test_an_unusable_credential_file_is_one_clear_line(ember, tmp_path):
    key = tmp_path / "missing-key.json"
    ember.json("volume", "create", "--size", "1M", "vol1")
    line = ember.fails("volume", "backup", "create", "vol1",
                       OS_DEFAULT__BACKUP_GCS_CREDENTIAL_FILE=str(key))
    assert ("backup_gcs_credential_file %s does not exist; point it at a service-account "
            "JSON key file" % key) in line
