"""The ``ember`` command with ``backup_driver = s3`` against the S3 server: the
object-store suite (full and incremental backups restored bit-exact, objects named as
Cinder names them, delete and cancel leave nothing: no object, no unfinished upload)
with objects that go up as multipart uploads, the one-line errors for wrong
credentials and a missing bucket, and SSE-C."""

import pytest

from ember.testing.cli import EmberCLI, MiB, pattern, sha256_file
from ember.testing.object_store_cli import ObjectStoreCLI

from ember_s3.driver import S3BackupDriver

#: 8 MiB objects in 5 MiB parts: every full object is a two-part multipart upload
OBJECT_SIZE = 8 * MiB
PART_SIZE = 5 * MiB
SSE_KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def container(bucket):  # conftest's bucket: removed (uploads aborted) after the test
    return bucket


@pytest.fixture
def ember(tmp_path, s3_credentials, bucket):
    endpoint, access_key, secret_key = s3_credentials
    return EmberCLI(tmp_path, {
        "OS_DEFAULT__BACKUP_DRIVER": "s3",
        "OS_DEFAULT__BACKUP_S3_ENDPOINT_URL": endpoint,
        "OS_DEFAULT__BACKUP_S3_STORE_ACCESS_KEY": access_key,
        "OS_DEFAULT__BACKUP_S3_STORE_SECRET_KEY": secret_key,
        "OS_DEFAULT__BACKUP_S3_STORE_BUCKET": bucket,
        "OS_DEFAULT__BACKUP_S3_OBJECT_SIZE": str(OBJECT_SIZE),
        "OS_DEFAULT__BACKUP_S3_BLOCK_SIZE": "4096",
        "OS_DEFAULT__BACKUP_S3_PART_SIZE": str(PART_SIZE),
        "OS_DEFAULT__BACKUP_S3_RETRY_MAX_ATTEMPTS": "0",
    })


@pytest.fixture
def store(bucket, s3_conf):
    """The bucket as the server shows it (a driver of our own, outside the CLI)."""
    with S3BackupDriver(s3_conf(backup_s3_store_bucket=bucket)) as driver:
        yield driver


class TestS3CLI(ObjectStoreCLI):
    service = "cinder.backup.drivers.s3.S3BackupDriver"
    object_size = OBJECT_SIZE
    # 32 MiB objects of bz2-compressed text still exceed a part: the force delete lands
    # during multipart uploads
    cancel_env = {"OS_DEFAULT__BACKUP_S3_OBJECT_SIZE": str(32 * MiB)}

    def leftovers(self, store, container, prefix=""):
        uploads = store.client().list_multipart_uploads(Bucket=container, Prefix=prefix)
        return self.names(store, container, prefix) + [
            "upload of %s" % upload["Key"] for upload in uploads.get("Uploads", [])]

    def check_stored(self, store, container, full):
        # the 8 MiB objects went up as two-part multipart uploads (S3's ETag says so)
        head = store.client().head_object(Bucket=container,
                                          Key=full["service_metadata"] + "-00001")
        assert head["ETag"].endswith('-2"') and head["ContentLength"] == OBJECT_SIZE


def test_wrong_credentials_are_one_line_without_the_key(ember, bucket, s3_endpoint):
    ember.create_volume("vol1", size="1M", data=b"x" * 4096)
    line = ember.fails("volume", "backup", "create", "vol1",
                       env={"OS_DEFAULT__BACKUP_S3_STORE_SECRET_KEY": "not-the-secret-key"})
    assert ("S3 bucket %s at %s: the credentials were refused (HTTP 403 "
            "SignatureDoesNotMatch: " % (bucket, s3_endpoint)) in line
    assert "check backup_s3_store_access_key and backup_s3_store_secret_key" in line
    assert "not-the-secret-key" not in line
    # refused by the check before the backup is recorded: nothing to clean up
    assert ember.json("volume", "backup", "list") == []


def test_a_missing_bucket_is_one_clear_line(ember, bucket, s3_endpoint):
    ember.create_volume("vol1", size="1M", data=b"x" * 4096)
    line = ember.fails("volume", "backup", "create", "vol1",
                       env={"OS_DEFAULT__BACKUP_CREATE_CONTAINERS": "false"})
    assert ("S3 bucket %s does not exist at %s and backup_create_containers is False; "
            "create the bucket or allow Ember to" % (bucket, s3_endpoint)) in line


def test_sse_c_round_trip_and_a_wrong_key_is_refused(ember, store, bucket, s3_endpoint):
    sse = {"OS_DEFAULT__BACKUP_S3_SSE_CUSTOMER_KEY": SSE_KEY,
           "OS_DEFAULT__BACKUP_S3_SSE_CUSTOMER_ALGORITHM": "AES256"}
    volume = ember.create_volume("vol1", size="12M", data=pattern(9, 12 * MiB))
    expected = sha256_file(volume["path"])
    backup = ember.json("volume", "backup", "create", "--name", "secret", "vol1", env=sse)
    first = backup["service_metadata"] + "-00001"  # a multipart upload, encrypted
    # the server keeps the objects encrypted: without the key it refuses to return them
    with pytest.raises(Exception) as refused:
        store.client().get_object(Bucket=bucket, Key=first)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    restored = ember.json("volume", "backup", "restore", backup["id"], "back", env=sse)
    target = ember.json("volume", "show", restored.get("volume_id") or "back")
    assert sha256_file(target["path"]) == expected

    wrong = dict(sse, OS_DEFAULT__BACKUP_S3_SSE_CUSTOMER_KEY="W" * 32)
    line = ember.fails("volume", "backup", "restore", backup["id"], "wrong", env=wrong)
    assert line == (
        "ember: S3 s3://%s/%s_metadata at %s: access denied (HTTP 403 AccessDenied: Access "
        "Denied.); the object was stored with another SSE-C key than "
        "backup_s3_sse_customer_key, or these credentials may not read it"
        % (bucket, backup["service_metadata"], s3_endpoint))
    assert "W" * 32 not in line and SSE_KEY not in line
