"""End to end through the ``ember`` executable with ``backup_driver = swift`` against
the real Swift: full and incremental backups, bit-exact restores, delete (the objects
are gone from the server), a force delete cancelling a running upload (nothing left),
and the one-line errors for a wrong key and a missing container."""

import hashlib
import json
import os
import subprocess
import sys
import time

import pytest
import swiftclient

EMBER = os.path.join(os.path.dirname(sys.executable), "ember")
MiB = 1 << 20


class Ember:
    """``ember`` in subprocesses with its own HOME and state, configured for Swift through
    oslo.config's environment source (OS_DEFAULT__<OPTION>)."""

    def __init__(self, root, auth_url, user, key, container):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "XDG_"))}
        env.update({
            "HOME": str(root), "XDG_CONFIG_HOME": str(root / "config"),
            "XDG_DATA_HOME": str(root / "data"), "XDG_CACHE_HOME": str(root / "cache"),
            "OS_DEFAULT__STATE_PATH": str(root / "state"),
            "OS_DEFAULT__BACKUP_DRIVER": "swift",
            "OS_DEFAULT__BACKUP_SWIFT_AUTH": "single_user",
            "OS_DEFAULT__BACKUP_SWIFT_AUTH_URL": auth_url,
            "OS_DEFAULT__BACKUP_SWIFT_USER": user,
            "OS_DEFAULT__BACKUP_SWIFT_KEY": key,
            "OS_DEFAULT__BACKUP_SWIFT_CONTAINER": container,
            "OS_DEFAULT__BACKUP_SWIFT_OBJECT_SIZE": str(MiB),
            "OS_DEFAULT__BACKUP_SWIFT_BLOCK_SIZE": "4096",
        })
        self.env = env

    def run(self, *args, **env):
        return subprocess.run([EMBER, *args], capture_output=True, text=True, timeout=180,
                              env=dict(self.env, **env))

    def start(self, *args, **env):
        return subprocess.Popen([EMBER, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=dict(self.env, **env))

    def json(self, *args, **env):
        result = self.run(*args, "-f", "json", **env)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def fails(self, *args, **env) -> str:
        result = self.run(*args, **env)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1 and len(lines) == 1, (result.returncode, result.stderr)
        return lines[0]

    def volume(self, name, size, data=b""):
        path = self.json("volume", "create", "--size", size, name)["path"]
        write_at(path, 0, data)
        return path


def write_at(path, offset, data):
    with open(path, "r+b") as image:
        image.seek(offset)
        image.write(data)


def sha256(path, length):
    with open(path, "rb") as image:
        return hashlib.sha256(image.read(length)).hexdigest()


def noise(seed, size):
    return hashlib.shake_256(b"%d" % seed).digest(size)


@pytest.fixture
def ember(tmp_path, swift_credentials, container):
    return Ember(tmp_path, *swift_credentials, container)


def names(admin, container, prefix=""):
    """Object names on the server under ``prefix`` (none when the container is missing)."""
    try:
        _, listing = admin.get_container(container, prefix=prefix, full_listing=True)
    except swiftclient.ClientException as exc:
        if exc.http_status == 404:
            return []
        raise
    return sorted(entry["name"] for entry in listing)


def test_full_incremental_restore_delete(ember, admin, container):
    path = ember.volume("vol1", "8M", noise(1, 6 * MiB))
    sums = [sha256(path, 8 * MiB)]
    full = ember.json("volume", "backup", "create", "--name", "full", "vol1")
    write_at(path, 3 * MiB - 4096, noise(2, 12288))  # across an object boundary
    sums.append(sha256(path, 8 * MiB))
    inc = ember.json("volume", "backup", "create", "--incremental", "--name", "inc", "vol1")
    assert (full["status"], inc["status"], inc["parent_id"]) == ("available", "available",
                                                                 full["id"])
    assert full["container"] == inc["container"] == container
    assert full["service"] == "cinder.backup.drivers.swift.SwiftBackupDriver"
    for backup, data_objects in ((full, 8), (inc, 2)):
        prefix = backup["service_metadata"]
        assert prefix == "volume_%s/%s/az_nova_backup_%s" % (
            backup["volume_id"], prefix.split("/")[1], backup["id"])
        assert backup["object_count"] == data_objects
        assert names(admin, container, prefix) == sorted(
            ["%s-%05d" % (prefix, n) for n in range(1, data_objects + 1)]
            + [prefix + "_metadata", prefix + "_sha256file"])

    for backup, expected in ((inc, sums[1]), (full, sums[0])):
        restored = ember.json("volume", "backup", "restore", backup["id"])
        target = ember.json("volume", "show", restored["volume_id"])["path"]
        assert sha256(target, 8 * MiB) == expected

    assert ember.run("volume", "backup", "delete", "inc").returncode == 0
    assert names(admin, container, inc["service_metadata"]) == []
    assert ember.run("volume", "backup", "delete", "full").returncode == 0
    assert names(admin, container) == []
    assert ember.json("volume", "backup", "list") == []


def test_force_delete_cancels_a_running_upload_and_leaves_nothing(ember, admin, container):
    # bz2 on 128 MiB of text with one engine thread takes ~5 s even on an idle machine
    # (~25 MB/s), so the force delete (a new process: ~1 s) lands while the backup runs
    text = b"".join(b"%08d the quick brown fox jumps over the lazy dog\n" % i
                    for i in range(128 * MiB // 50 + 1))[:128 * MiB]
    ember.volume("big", "128M", text)
    volume_id = ember.json("volume", "show", "big")["id"]
    running = ember.start("volume", "backup", "create", "--name", "doomed", "big",
                          OS_DEFAULT__BACKUP_COMPRESSION_ALGORITHM="bz2",
                          OS_DEFAULT__BACKUP_ENGINE_THREADS="1")
    deadline = time.monotonic() + 60
    while not (uploaded := names(admin, container, "volume_%s/" % volume_id)):
        assert running.poll() is None and time.monotonic() < deadline, running.stderr.read()
        time.sleep(0.05)
    backup_id = uploaded[0].split("_backup_")[1][:36]  # <prefix>-NNNNN, prefix ends in the id
    assert ember.run("volume", "backup", "delete", "--force", backup_id).returncode == 0
    _, err = running.communicate(timeout=120)
    assert running.returncode == 1
    assert err.strip() == ("ember: Backup %s was cancelled: it was force-deleted while it "
                           "ran; its objects were removed." % backup_id)
    assert names(admin, container) == []
    assert ember.json("volume", "backup", "list") == []


def test_wrong_key_fails_with_one_line(ember):
    ember.volume("vol1", "1M", noise(4, MiB))
    line = ember.fails("volume", "backup", "create", "vol1",
                       OS_DEFAULT__BACKUP_SWIFT_KEY="not-the-key")
    assert "Swift refused authentication of http://127.0.0.1:8080/auth/v1.0 for user " \
           "test:tester (HTTP 401 Unauthorized)" in line, line
    assert "not-the-key" not in line


def test_missing_container_with_create_containers_off_fails_with_one_line(
        ember, admin, container):
    ember.volume("vol1", "1M", noise(5, MiB))
    line = ember.fails("volume", "backup", "create", "vol1",
                       OS_DEFAULT__BACKUP_CREATE_CONTAINERS="false")
    assert ("Swift container %s does not exist at http://127.0.0.1:8080/v1/AUTH_test and "
            "backup_create_containers is False" % container) in line, line
    assert names(admin, container) == [] and admin.get_account(prefix=container)[1] == []
