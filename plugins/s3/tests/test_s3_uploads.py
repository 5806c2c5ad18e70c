"""Unfinished multipart uploads (invisible to listings, yet stored and billed) never
outlive their backup on the real S3 server (SeaweedFS): the driver's ``sweep`` aborts
those under a backup's prefix and no other; a backup killed while an upload is in
progress has them aborted by the repair that finds it, and its delete leaves nothing.
"""

import os
import re
import signal
import subprocess
import time

from ember.testing.cli import EmberCLI, MiB

from ember_s3.driver import S3BackupDriver
from ember.testing.services import PATIENCE


def uploads(driver, bucket, prefix=""):
    answer = driver.client().list_multipart_uploads(Bucket=bucket, Prefix=prefix)
    return [(u["Key"], u["UploadId"]) for u in answer.get("Uploads", [])]


def test_sweep_aborts_the_uploads_under_the_prefix_only(bucket, s3_conf):
    with S3BackupDriver(s3_conf(backup_s3_store_bucket=bucket)) as driver:
        driver.ensure_container(bucket)
        mine = "volume_v/20260101000000/az_nova_backup_b1"
        other = "volume_v/20260101000000/az_nova_backup_b2"
        for n in range(3):  # with a part each, as a killed writer leaves them
            upload_id = driver.start_upload(bucket, "%s-%05d" % (mine, n + 1))
            driver.upload_part(bucket, "%s-%05d" % (mine, n + 1), upload_id, 1, b"x" * MiB)
        kept = driver.start_upload(bucket, other + "-00001")
        driver.put_object(bucket, mine + "_metadata", b"{}")
        driver.sweep(bucket, mine)
        assert uploads(driver, bucket) == [(other + "-00001", kept)]
        assert list(driver.list_objects(bucket, mine)) == [mine + "_metadata"]
        driver.sweep(bucket, mine)  # nothing left: no error
        driver.sweep("no-such-bucket-ember", mine)


def test_a_backup_killed_mid_upload_leaves_no_upload(tmp_path, s3_credentials, bucket,
                                                     s3_conf):
    endpoint, access_key, secret_key = s3_credentials
    ember = EmberCLI(tmp_path, {
        "OS_DEFAULT__BACKUP_DRIVER": "s3",
        "OS_DEFAULT__BACKUP_S3_ENDPOINT_URL": endpoint,
        "OS_DEFAULT__BACKUP_S3_STORE_ACCESS_KEY": access_key,
        "OS_DEFAULT__BACKUP_S3_STORE_SECRET_KEY": secret_key,
        "OS_DEFAULT__BACKUP_S3_STORE_BUCKET": bucket,
        "OS_DEFAULT__BACKUP_S3_OBJECT_SIZE": str(32 * MiB),
        "OS_DEFAULT__BACKUP_S3_PART_SIZE": str(5 * MiB),
        "OS_DEFAULT__BACKUP_S3_BLOCK_SIZE": "4096",
        "OS_DEFAULT__BACKUP_COMPRESSION_ALGORITHM": "none",
    })
    volume = ember.json("volume", "create", "--size", "128M", "vol")
    with open(volume["path"], "r+b") as f:
        for _ in range(128):
            f.write(os.urandom(MiB))
    with S3BackupDriver(s3_conf(backup_s3_store_bucket=bucket)) as store:
        store.ensure_container(bucket)
        proc = subprocess.Popen(ember.argv("volume", "backup", "create", "--name", "b", "vol"),
                                env=ember.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        deadline = time.monotonic() + PATIENCE
        while True:  # an upload in progress: it has a part on the server
            started = [(k, u) for k, u in uploads(store, bucket) if store.client().list_parts(
                Bucket=bucket, Key=k, UploadId=u).get("Parts")]
            if started:
                break
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "no upload was ever in progress"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        prefix = re.sub(r"-\d{5}$", "", started[0][0])
        assert uploads(store, bucket, prefix)  # the killed writer could not abort it

        backup = ember.json("volume", "backup", "show", "b")  # repaired on the way
        assert backup["status"] == "error", backup
        assert uploads(store, bucket, prefix) == []
        ember.run("volume", "backup", "delete", "b")
        assert uploads(store, bucket) == [] and list(store.list_objects(bucket)) == []
    assert ember.json("volume", "show", "vol")["status"] == "available"
