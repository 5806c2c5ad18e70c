"""The S3 driver against the real S3 server on 127.0.0.1: options, loading, setup checks,
bucket rules, multipart streaming, Content-MD5, SSE-C, credentials, TLS, error mapping."""

import re
import tracemalloc

import pytest

from ember import errors, loader
from ember.engine.plan import read_document
from ember.testing.config import make_conf
from ember.testing.services import assert_unreachable_is_retried, closed_port
from ember.wrappers import RetryingDriver, unwrap

from ember_s3 import opts
from ember_s3.driver import S3BackupDriver, content_md5
from ember_s3.errors import translate

MiB = 1 << 20
SSE_KEY = "0123456789abcdef0123456789abcdef"

CINDER_DEFAULTS = {
    "backup_s3_store_bucket": "volumebackups",
    "backup_s3_object_size": 52428800,
    "backup_s3_block_size": 32768,
    "backup_s3_enable_progress_timer": True,
    "backup_s3_http_proxy": "",
    "backup_s3_https_proxy": "",
    "backup_s3_timeout": 60,
    "backup_s3_max_pool_connections": 10,
    "backup_s3_retry_max_attempts": 4,
    "backup_s3_retry_mode": "legacy",
    "backup_s3_verify_ssl": True,
    "backup_s3_ca_cert_file": None,
    "backup_s3_md5_validation": True,
    "backup_s3_sse_customer_key": None,
    "backup_s3_sse_customer_algorithm": None,
}


def sent_headers(driver, operation):
    """Record the headers of every ``operation`` request the driver's client sends."""
    seen = []
    driver.client().meta.events.register(
        "before-send.s3.%s" % operation,
        lambda request, **_: seen.append({k: v.decode() if isinstance(v, bytes) else v
                                          for k, v in request.headers.items()}))
    return seen


# ---- options and loading ---------------------------------------------------------------
def test_every_cinder_option_is_in_default_with_cinders_default():
    conf = opts.register(make_conf())
    assert {name: conf[name] for name in CINDER_DEFAULTS} == CINDER_DEFAULTS
    for name in ("backup_s3_endpoint_url", "backup_s3_store_access_key",
                 "backup_s3_store_secret_key"):
        assert conf[name] is None
    assert opts.list_opts() == [("DEFAULT", opts.s3_opts)]


@pytest.mark.parametrize("name", ["s3", "cinder.backup.drivers.s3.S3BackupDriver",
                                  "cinder.backup.drivers.s3"])
def test_loader_finds_the_driver_by_short_name_and_cinder_path(name, s3_conf):
    drv = loader.load_driver(s3_conf(backup_s3_retry_max_attempts=4), name)
    assert isinstance(drv, RetryingDriver) and drv.attempts == 5
    assert type(unwrap(drv)) is S3BackupDriver
    assert loader.layout_of(drv).cinder_service == "cinder.backup.drivers.s3.S3BackupDriver"
    assert not isinstance(loader.load_driver(s3_conf(), name), RetryingDriver)  # 0 retries


def test_boto3_retries_are_off(s3_conf):
    config = S3BackupDriver(s3_conf(backup_s3_retry_max_attempts=7)).client().meta.config
    assert config.retries["total_max_attempts"] == 1


def test_sizes_prefix_container_and_concurrency_follow_the_s3_options(s3_conf):
    drv = S3BackupDriver(s3_conf(backup_s3_store_bucket="b1", backup_s3_object_size=1 << 20,
                                 backup_s3_block_size=4096,
                                 backup_s3_enable_progress_timer=False,
                                 backup_s3_max_pool_connections=6))
    layout = loader.layout_of(drv)
    assert (layout.object_size, layout.sha_block_size, layout.progress_timer) == (
        1 << 20, 4096, False)
    assert layout.default_container("0f3c") == "b1"
    assert layout.object_prefix("vol", "bid", "20250101120000") == (
        "volume_vol/20250101120000/az_nova_backup_bid")
    assert drv.capabilities.max_concurrency == 6


@pytest.mark.parametrize("overrides, message", [
    ({"backup_s3_endpoint_url": None},
     "backup_s3_endpoint_url is not set; the S3 driver needs the endpoint URL, access key "
     "and secret key"),
    ({"backup_s3_store_secret_key": ""},
     "backup_s3_store_secret_key is not set; the S3 driver needs the endpoint URL, access "
     "key and secret key"),
    ({"backup_s3_sse_customer_key": SSE_KEY},
     "backup_s3_sse_customer_key is set but backup_s3_sse_customer_algorithm is not; set "
     "both to encrypt with SSE-C, or neither"),
    ({"backup_s3_sse_customer_key": SSE_KEY, "backup_s3_sse_customer_algorithm": "aws:kms"},
     "backup_s3_sse_customer_algorithm aws:kms is not one S3 knows; use AES256"),
    ({"backup_s3_sse_customer_key": "short", "backup_s3_sse_customer_algorithm": "AES256"},
     "backup_s3_sse_customer_key is 5 bytes long; AES256 needs a key of exactly 32 bytes"),
])
def test_check_setup_refuses_what_cinder_or_s3_would(overrides, message, s3_conf):
    with pytest.raises(errors.ConfigError) as err:
        S3BackupDriver(s3_conf(**overrides)).check_setup()
    assert str(err.value) == message


# ---- buckets ---------------------------------------------------------------------------
def test_a_missing_bucket_is_created_or_refused(bucket, s3_conf, s3_endpoint):
    refusing = S3BackupDriver(s3_conf(backup_create_containers=False))
    with pytest.raises(errors.ContainerNotFound) as err:
        refusing.ensure_container(bucket)
    assert str(err.value) == (
        "S3 bucket %s does not exist at %s and backup_create_containers is False; create "
        "the bucket or allow Ember to" % (bucket, s3_endpoint))
    assert list(refusing.list_objects(bucket)) == []
    with pytest.raises(errors.ContainerNotFound):
        refusing.put_object(bucket, "x", b"data")
    creating = S3BackupDriver(s3_conf())
    creating.ensure_container(bucket)
    creating.ensure_container(bucket)  # idempotent
    refusing.ensure_container(bucket)  # exists now


# ---- multipart streaming -----------------------------------------------------------------
def test_a_large_object_streams_as_a_multipart_upload_visible_only_once_committed(
        driver, bucket):
    driver.ensure_container(bucket)
    data = bytes(range(256)) * (12 * MiB // 256) + b"tail"
    parts = sent_headers(driver, "UploadPart")
    with driver.open_writer(bucket, "big") as writer:
        for offset in range(0, len(data), MiB):
            writer.write(data[offset:offset + MiB])
        assert driver.list_objects(bucket) == []  # a part is up, nothing visible yet
    assert driver.get_object(bucket, "big") == data
    head = driver.client().head_object(Bucket=bucket, Key="big")
    assert head["ETag"].endswith('-2"')  # 8 MiB + 4 MiB parts, S3's multipart ETag
    assert [h["Content-MD5"] for h in parts] == [
        content_md5(data[:8 * MiB]), content_md5(data[8 * MiB:])]


def test_reads_stream_so_an_oversized_object_is_refused_without_downloading_it(driver,
                                                                              bucket):
    # a hostile repository: a "_metadata" of 24 MiB where the backup allows 1 MiB
    driver.ensure_container(bucket)
    data = b"{" + b" " * (24 * MiB)
    with driver.open_writer(bucket, "huge_metadata") as writer:
        writer.write(data)
    reader = driver.open_reader(bucket, "huge_metadata")
    assert reader.read(5) == data[:5]
    reader.close()
    tracemalloc.start()
    try:
        with pytest.raises(errors.InvalidBackup, match="holds more than the %d bytes" % MiB):
            read_document(driver, bucket, "huge_metadata", MiB, "b1")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * MiB  # the limit and a chunk or two, never the 24 MiB object
    with driver.open_reader(bucket, "huge_metadata") as reader:
        assert reader.read() == data  # read to its end, it is whole


def test_an_aborted_or_failed_upload_leaves_no_object_and_no_parts(driver, bucket):
    driver.ensure_container(bucket)
    writer = driver.open_writer(bucket, "gone")
    writer.write(b"x" * (9 * MiB))  # one part uploaded
    writer.abort()
    assert driver.list_objects(bucket) == []
    assert driver.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    # a part the server refuses: the upload is aborted and the error is mapped
    writer = Damaging(driver.conf).open_writer(bucket, "damaged")
    with pytest.raises(errors.TransientDriverError) as err:
        writer.write(b"y" * (8 * MiB))  # the part goes up while the next one fills
        writer.commit()
    assert "the server received other bytes than were sent (HTTP 400 BadDigest" in str(err.value)
    assert driver.list_objects(bucket) == []
    assert driver.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


class FlakyParts(S3BackupDriver):
    """The first try of every part fails as a dropped connection would (which cannot be
    caused on demand against a live server); the second goes to the server."""

    def upload_part(self, container, name, upload_id, number, data):
        self.tries = getattr(self, "tries", 0) + 1
        if self.tries % 2:
            raise errors.TransientDriverError("S3 part %d: connection reset" % number)
        return super().upload_part(container, name, upload_id, number, data)


def test_a_part_that_fails_transiently_is_sent_again_under_the_retry_policy(driver, bucket,
                                                                            s3_conf):
    driver.ensure_container(bucket)
    flaky = FlakyParts(s3_conf(backup_s3_retry_max_attempts=1))
    data = b"p" * (5 * MiB) + b"q" * (6 * MiB)
    with flaky.open_writer(bucket, "resent") as writer:
        writer.write(data)
    assert flaky.tries == 4  # two parts, each tried twice
    assert driver.get_object(bucket, "resent") == data


class Damaging(S3BackupDriver):
    """Sends the Content-MD5 of other bytes: what the server sees when data is damaged on
    the way, which loopback cannot do for real. The refusal is the server's own."""

    def _integrity(self, data):
        return {"ContentMD5": content_md5(b"other bytes")}


def test_small_objects_are_one_put_with_content_md5_and_without_it_when_disabled(
        bucket, s3_conf):
    for validation in (True, False):
        drv = S3BackupDriver(s3_conf(backup_s3_md5_validation=validation))
        drv.ensure_container(bucket)
        puts = sent_headers(drv, "PutObject")
        with drv.open_writer(bucket, "small") as writer:
            writer.write(b"abc")
        assert len(puts) == 1 and drv.get_object(bucket, "small") == b"abc"
        assert puts[0].get("Content-MD5") == (content_md5(b"abc") if validation else None)
        assert not any(k.lower().startswith("x-amz-checksum") for k in puts[0])


# ---- SSE-C ---------------------------------------------------------------------------------
def test_sse_c_objects_need_the_key(bucket, s3_conf, s3_endpoint):
    sse = S3BackupDriver(s3_conf(backup_s3_sse_customer_key=SSE_KEY,
                                 backup_s3_sse_customer_algorithm="AES256"))
    sse.ensure_container(bucket)
    sse.put_object(bucket, "doc", b"secret")
    with sse.open_writer(bucket, "big") as writer:
        writer.write(b"s" * (9 * MiB))
    assert sse.get_object(bucket, "doc") == b"secret"
    assert sse.get_object(bucket, "big") == b"s" * (9 * MiB)

    plain = S3BackupDriver(s3_conf())
    with pytest.raises(errors.PermanentDriverError) as err:
        plain.get_object(bucket, "doc")
    assert str(err.value).startswith("S3 s3://%s/doc at %s: the object is encrypted with a "
                                     "customer key (HTTP 400 " % (bucket, s3_endpoint))
    assert str(err.value).endswith("set backup_s3_sse_customer_key and "
                                   "backup_s3_sse_customer_algorithm to the key it was "
                                   "written with")
    wrong = S3BackupDriver(s3_conf(backup_s3_sse_customer_key="k" * 32,
                                   backup_s3_sse_customer_algorithm="AES256"))
    with pytest.raises(errors.AccessDenied) as err:
        wrong.get_object(bucket, "big")
    assert "another SSE-C key than backup_s3_sse_customer_key" in str(err.value)
    assert "k" * 32 not in str(err.value) and SSE_KEY not in str(err.value)


# ---- credentials and permissions ---------------------------------------------------------
@pytest.mark.parametrize("keys, code", [
    ({"backup_s3_store_secret_key": "wrong-secret-key"}, "SignatureDoesNotMatch"),
    ({"backup_s3_store_access_key": "nosuchaccesskey"}, "InvalidAccessKeyId"),
])
def test_refused_credentials_are_access_denied_and_never_printed(keys, code, bucket, s3_conf,
                                                                s3_endpoint):
    drv = S3BackupDriver(s3_conf(**keys))
    with pytest.raises(errors.AccessDenied) as err:
        drv.ensure_container(bucket)
    message = str(err.value)
    assert message.startswith("S3 bucket %s at %s: the credentials were refused (HTTP 403 %s"
                              % (bucket, s3_endpoint, code))
    assert message.endswith("check backup_s3_store_access_key and backup_s3_store_secret_key")
    assert list(keys.values())[0] not in message and "\n" not in message


def test_an_identity_without_write_permission_is_access_denied(driver, bucket, s3_conf,
                                                               s3_endpoint):
    driver.ensure_container(bucket)
    reader = S3BackupDriver(s3_conf(backup_s3_store_access_key="emberreader",
                                    backup_s3_store_secret_key="emberreadersecret"))
    assert reader.list_objects(bucket) == []
    with pytest.raises(errors.AccessDenied) as err:
        reader.put_object(bucket, "x", b"1")
    assert str(err.value) == (
        "S3 s3://%s/x at %s: access denied (HTTP 403 AccessDenied: Access Denied.); check "
        "the permissions of backup_s3_store_access_key on the bucket" % (bucket, s3_endpoint))


def test_a_missing_object_is_object_not_found(driver, bucket, s3_endpoint):
    driver.ensure_container(bucket)
    with pytest.raises(errors.ObjectNotFound) as err:
        driver.get_object(bucket, "nope")
    assert str(err.value) == "S3 s3://%s/nope at %s does not exist" % (bucket, s3_endpoint)


def test_an_unreachable_endpoint_is_transient_and_retried(bucket, s3_conf):
    where = "http://127.0.0.1:%d" % closed_port()
    drv = S3BackupDriver(s3_conf(backup_s3_endpoint_url=where))
    with pytest.raises(errors.TransientDriverError) as err:
        drv.get_object(bucket, "x")
    assert str(err.value) == ("S3 s3://%s/x at %s: cannot reach the server ([Errno 111] "
                              "Connection refused)" % (bucket, where))
    assert_unreachable_is_retried(drv, bucket)


def test_the_proxy_option_routes_this_drivers_requests(bucket, s3_conf, s3_endpoint):
    drv = S3BackupDriver(s3_conf(backup_s3_http_proxy="http://127.0.0.1:%d" % closed_port()))
    with pytest.raises(errors.TransientDriverError, match="cannot reach the server"):
        drv.list_objects(bucket)
    # the same settings without the proxy reach the server: the proxy was the cause
    assert S3BackupDriver(s3_conf()).list_objects(bucket) == []


# ---- TLS -------------------------------------------------------------------------------------
def test_tls_verifies_against_the_ca_file_or_not_at_all(bucket, s3_conf, s3_tls):
    https, ca_file = s3_tls
    # SSE-C over TLS, as AWS requires it
    with S3BackupDriver(s3_conf(backup_s3_endpoint_url=https, backup_s3_ca_cert_file=ca_file,
                                backup_s3_sse_customer_key=SSE_KEY,
                                backup_s3_sse_customer_algorithm="AES256")) as verified:
        verified.ensure_container(bucket)
        verified.put_object(bucket, "tls", b"over tls")
        assert verified.get_object(bucket, "tls") == b"over tls"
    with S3BackupDriver(s3_conf(backup_s3_endpoint_url=https,
                                backup_s3_verify_ssl=False)) as unverified:
        assert unverified.list_objects(bucket) == ["tls"]
    # the system's CA bundle does not know the self-signed certificate
    with S3BackupDriver(s3_conf(backup_s3_endpoint_url=https)) as refused:
        with pytest.raises(errors.PermanentDriverError) as err:
            refused.list_objects(bucket)
    # OpenSSL's wording of the reason varies by version ("self signed", "self-signed")
    assert re.fullmatch(
        r"S3 bucket %s at %s: the TLS handshake failed \(certificate verify failed: "
        r"self.signed certificate\); check backup_s3_ca_cert_file or backup_s3_verify_ssl"
        % (bucket, re.escape(https)), str(err.value)), str(err.value)


# ---- error mapping for answers this server cannot be made to give --------------------------
@pytest.mark.parametrize("status, code, expected, says", [
    (503, "SlowDown", errors.TransientDriverError, "the server is throttling requests"),
    (400, "ThrottlingException", errors.TransientDriverError, "the server is throttling"),
    (429, "TooManyRequests", errors.TransientDriverError, "the server is throttling"),
    (500, "InternalError", errors.TransientDriverError, "HTTP 500 InternalError"),
    (400, "RequestTimeout", errors.TransientDriverError, "HTTP 400 RequestTimeout"),
    (403, "ExpiredToken", errors.AccessDenied, "the credentials were refused"),
    (409, "BucketNotEmpty", errors.PermanentDriverError, "HTTP 409 BucketNotEmpty"),
])
def test_s3_error_codes_map_onto_ember_errors(status, code, expected, says):
    # the botocore exception as boto3 raises it for such an answer: SeaweedFS does not
    # throttle, fail internally or expire tokens on demand
    from botocore.exceptions import ClientError

    exc = ClientError({"Error": {"Code": code, "Message": "server says no"},
                       "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")
    mapped = translate(exc, where="http://h", bucket="b", name="o")
    assert type(mapped) is expected
    assert str(mapped).startswith("S3 s3://b/o at http://h: ") and says in str(mapped)


# ---- a download cut mid-body is an error, never a short object (issue 18) -------------------
def test_cut_download_is_transient_never_short(driver, bucket, s3_conf):
    from ember.testing.conformance import random_bytes
    from ember.testing.cutting_proxy import CuttingProxy, cut_read_errors

    data = random_bytes(3 << 20, 7)
    driver.ensure_container(bucket)
    driver.put_object(bucket, "obj-00001", data)
    port = int(s3_conf().backup_s3_endpoint_url.rsplit(":", 1)[1])
    with CuttingProxy(port, cut_after=1 << 20) as proxy:
        cut = S3BackupDriver(s3_conf(backup_s3_endpoint_url="http://127.0.0.1:%d" % proxy.port))
        messages = cut_read_errors(cut, bucket, "obj-00001")
    expected = "S3 s3://%s/obj-00001 at http://127.0.0.1:%d: cannot reach the server (the answer was cut short)" % (bucket, proxy.port)
    assert messages == (expected, expected)
