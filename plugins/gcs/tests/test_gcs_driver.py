"""The GCS driver against a real fake-gcs-server on 127.0.0.1: options, loading, bucket
creation rules, credentials, integrity, error mapping and threads."""

import json
import os
import threading

import pytest

from ember import errors, loader
from ember.testing.services import assert_unreachable_is_retried, closed_port, require
from ember.wrappers import RetryingDriver, unwrap

from ember_gcs import connection, opts
from ember_gcs.driver import STREAM_CHUNK, GoogleBackupDriver, md5_base64
from ember_gcs.errors import translate

CINDER_DEFAULTS = {
    "backup_gcs_bucket": None,
    "backup_gcs_object_size": 52428800,
    "backup_gcs_block_size": 32768,
    "backup_gcs_reader_chunk_size": 2097152,
    "backup_gcs_writer_chunk_size": 2097152,
    "backup_gcs_num_retries": 3,
    "backup_gcs_retry_error_codes": ["429"],
    "backup_gcs_bucket_location": "US",
    "backup_gcs_storage_class": "NEARLINE",
    "backup_gcs_credential_file": None,
    "backup_gcs_project_id": None,
    "backup_gcs_user_agent": "gcscinder",
    "backup_gcs_enable_progress_timer": True,
    "backup_gcs_proxy_url": None,
}


# ---- options and loading ---------------------------------------------------------------
def test_every_cinder_option_is_in_default_with_cinders_default(gcs_conf):
    conf = gcs_conf()
    assert {name: conf[name] for name in CINDER_DEFAULTS} == CINDER_DEFAULTS
    assert conf.backup_gcs_endpoint_url is not None  # ours, set by gcs_conf
    assert opts.list_opts() == [("DEFAULT", opts.gcs_opts)]


@pytest.mark.parametrize("name", ["gcs", "cinder.backup.drivers.gcs.GoogleBackupDriver",
                                  "cinder.backup.drivers.google.GoogleBackupDriver"])
def test_loader_finds_the_driver_by_short_name_and_cinder_path(name, gcs_conf):
    conf = gcs_conf(backup_gcs_num_retries=2)
    drv = loader.load_driver(conf, name)
    assert isinstance(drv, RetryingDriver) and drv.attempts == 3
    assert type(unwrap(drv)) is GoogleBackupDriver
    assert loader.layout_of(drv).cinder_service == "cinder.backup.drivers.gcs.GoogleBackupDriver"
    assert loader.load_layout(conf, name) == loader.layout_of(drv)


def test_sizes_prefix_and_container_follow_the_gcs_options(gcs_conf):
    drv = GoogleBackupDriver(gcs_conf(backup_gcs_bucket="b1", backup_gcs_object_size=1 << 20,
                                      backup_gcs_block_size=4096,
                                      backup_gcs_enable_progress_timer=False))
    layout = loader.layout_of(drv)
    assert (layout.object_size, layout.sha_block_size, layout.progress_timer) == (
        1 << 20, 4096, False)
    assert layout.default_container("0f3c") == "b1"
    assert layout.object_prefix("vol", "bid", "20250101120000") == (
        "volume_vol/20250101120000/az_nova_backup_bid")


def test_num_retries_zero_means_no_retry_wrapper(gcs_conf):
    assert not isinstance(loader.load_driver(gcs_conf(backup_gcs_num_retries=0), "gcs"),
                          RetryingDriver)


def test_storage_emulator_host_is_honoured_without_the_option(monkeypatch, gcs_endpoint,
                                                              gcs_conf):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "127.0.0.1:4443")
    settings = connection.Settings.from_conf(gcs_conf(backup_gcs_endpoint_url=None))
    assert settings.endpoint == "http://127.0.0.1:4443" and settings.anonymous


def test_google_endpoint_requires_credentials_and_project(monkeypatch, gcs_conf):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    drv = GoogleBackupDriver(gcs_conf(backup_gcs_endpoint_url=None, backup_gcs_bucket="b"))
    with pytest.raises(errors.ConfigError) as err:
        drv.check_setup()
    assert str(err.value) == (
        "backup_gcs_credential_file is not set; Google Cloud Storage at "
        "https://storage.googleapis.com needs it (or set backup_gcs_endpoint_url for an "
        "emulator)")


def test_check_setup_refuses_a_missing_bucket_option_and_a_bad_chunk_size(gcs_conf):
    with pytest.raises(errors.ConfigError, match="^backup_gcs_bucket is not set"):
        GoogleBackupDriver(gcs_conf()).check_setup()
    drv = GoogleBackupDriver(gcs_conf(backup_gcs_bucket="b",
                                      backup_gcs_writer_chunk_size=1000))
    with pytest.raises(errors.ConfigError) as err:
        drv.check_setup()
    assert str(err.value) == ("backup_gcs_writer_chunk_size 1000 is not -1 or a positive "
                              "multiple of 262144 (a GCS rule for resumable uploads)")


# ---- buckets ---------------------------------------------------------------------------
def test_missing_bucket_is_an_error_when_creation_is_disabled(bucket, gcs_conf):
    drv = GoogleBackupDriver(gcs_conf(backup_gcs_bucket=bucket,
                                      backup_create_containers=False))
    with pytest.raises(errors.ContainerNotFound) as err:
        drv.ensure_container(bucket)
    assert str(err.value) == (
        "GCS bucket %s does not exist at %s and backup_create_containers is False; create "
        "the bucket or allow Ember to" % (bucket, drv.settings.where))
    assert list(drv.list_objects(bucket)) == []
    with pytest.raises(errors.ContainerNotFound):
        drv.put_object(bucket, "x", b"data")


def test_ensure_container_creates_once_and_is_idempotent(driver, bucket):
    driver.ensure_container(bucket)
    driver.ensure_container(bucket)
    assert driver._client().get_bucket(bucket).name == bucket


def test_concurrent_ensure_container_on_a_new_bucket(driver, bucket):
    failures = []

    def create():
        try:
            driver.ensure_container(bucket)
        except Exception as exc:  # collected: an exception in a thread would be lost
            failures.append(exc)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


# ---- objects and integrity ----------------------------------------------------------------
@pytest.mark.parametrize("chunk", [262144, -1])
def test_large_objects_round_trip_with_both_upload_modes(bucket, chunk, gcs_conf):
    drv = GoogleBackupDriver(gcs_conf(backup_gcs_bucket=bucket,
                                      backup_gcs_writer_chunk_size=chunk))
    drv.ensure_container(bucket)
    data = os.urandom(9 * 1024 * 1024 + 5)  # above 8 MiB: a resumable upload
    drv.put_object(bucket, "big", data)
    assert drv.get_object(bucket, "big") == data
    blob = drv._client().bucket(bucket).get_blob("big")
    assert blob.md5_hash == md5_base64(data) and blob.size == len(data)


class CorruptingDriver(GoogleBackupDriver):
    """Flips one byte between the driver's MD5 and the wire. A fake, because damage in
    transit cannot be caused for real on loopback; the upload itself goes to the real
    emulator, which stores and reports the damaged bytes."""

    def _upload(self, blob, data):
        super()._upload(blob, data[:-1] + bytes([data[-1] ^ 0xFF]))


def test_an_upload_whose_md5hash_differs_fails_and_leaves_nothing(bucket, gcs_conf):
    drv = CorruptingDriver(gcs_conf(backup_gcs_bucket=bucket))
    drv.ensure_container(bucket)
    data = b"volume bytes" * 100
    with pytest.raises(errors.TransientDriverError) as err:
        drv.put_object(bucket, "obj-00001", data)
    damaged = md5_base64(data[:-1] + bytes([data[-1] ^ 0xFF]))
    assert str(err.value) == (
        "GCS gs://%s/obj-00001 at %s: the server reports MD5 %s for the upload, the data "
        "sent has %s; the object was removed, upload it again"
        % (bucket, drv.settings.where, damaged, md5_base64(data)))
    assert list(drv.list_objects(bucket)) == []


def test_bytes_damaged_in_storage_fail_the_read_as_transient(driver, bucket, gcs_endpoint):
    # real bit rot: the emulator's filesystem backend keeps data in a plain file and
    # the MD5 in an xattr, so overwriting the file in place damages what it serves
    stored = os.path.join(os.environ.get("EMBER_GCS_BASE", "/tmp/ember-gcs"), "data",
                          bucket, "obj")
    driver.ensure_container(bucket)
    driver.put_object(bucket, "obj", b"A" * 4096)
    require(os.path.isfile(stored), "the emulator's data directory (%s)" % stored,
            "bash scripts/servers/gcs.sh start (EMBER_GCS_BASE as for the tests)")
    with open(stored, "r+b") as f:
        f.write(b"B")
    with pytest.raises(errors.TransientDriverError) as err:
        driver.get_object(bucket, "obj")
    assert str(err.value) == ("GCS gs://%s/obj at %s: the downloaded bytes do not match the "
                              "object's checksum" % (bucket, gcs_endpoint))


def test_missing_object_and_idempotent_delete(driver, bucket):
    driver.ensure_container(bucket)
    with pytest.raises(errors.ObjectNotFound) as err:
        driver.get_object(bucket, "volume_v/ts/none-00001")
    assert str(err.value) == "GCS gs://%s/volume_v/ts/none-00001 at %s does not exist" % (
        bucket, driver.settings.where)
    driver.delete_object(bucket, "volume_v/ts/none-00001")
    driver.delete_object(bucket + "-missing", "x")


def test_threads_use_their_own_clients_and_all_writes_land(driver, bucket):
    driver.ensure_container(bucket)
    payloads = {"p/%02d" % i: os.urandom(1000 + i) for i in range(16)}
    clients, failures = set(), []

    def work(names):
        try:
            clients.add(id(driver._client()))
            for name in names:
                driver.put_object(bucket, name, payloads[name])
                assert driver.get_object(bucket, name) == payloads[name]
        except Exception as exc:
            failures.append(exc)

    names = sorted(payloads)
    threads = [threading.Thread(target=work, args=(names[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == [] and len(clients) == 4
    assert sorted(driver.list_objects(bucket, "p/")) == names


# ---- credentials and reachability ------------------------------------------------------------
def test_a_missing_credential_file_is_a_config_error(tmp_path, gcs_conf):
    path = tmp_path / "nope.json"
    drv = GoogleBackupDriver(gcs_conf(backup_gcs_bucket="b", backup_gcs_credential_file=str(path)))
    with pytest.raises(errors.ConfigError) as err:
        drv.check_setup()
    assert str(err.value) == ("backup_gcs_credential_file %s does not exist; point it at a "
                              "service-account JSON key file" % path)


def test_a_malformed_credential_file_is_a_config_error(tmp_path, gcs_conf):
    path = tmp_path / "key.json"
    path.write_text(json.dumps({"type": "service_account", "client_email": "a@b"}))
    drv = GoogleBackupDriver(gcs_conf(backup_gcs_bucket="b", backup_gcs_credential_file=str(path)))
    with pytest.raises(errors.ConfigError) as err:
        drv.check_setup()
    assert str(err.value).startswith(
        "backup_gcs_credential_file %s is not a service-account JSON key file (" % path)


def service_account_file(tmp_path, token_uri):
    """A well-formed service-account key (fresh RSA key) whose token endpoint is
    ``token_uri``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "ember-test", "private_key_id": "k1",
        "private_key": pem, "client_email": "backup@ember-test.iam.gserviceaccount.com",
        "client_id": "1", "token_uri": token_uri}))
    return path, pem


def test_refused_credentials_are_access_denied_and_never_printed(tmp_path, bucket,
                                                                 gcs_endpoint, gcs_conf):
    # the emulator itself refuses the token exchange (it has no /token: HTTP 404), a
    # real refusal by a real server, as Google's token endpoint gives for a revoked key
    path, pem = service_account_file(tmp_path, gcs_endpoint + "/token")
    drv = GoogleBackupDriver(gcs_conf(backup_gcs_bucket=bucket,
                                      backup_gcs_credential_file=str(path)))
    drv.check_setup()  # the file is fine; the refusal comes with the first request
    with pytest.raises(errors.AccessDenied) as err:
        drv.ensure_container(bucket)
    message = str(err.value)
    assert message == ("GCS bucket %s at %s: the credentials were refused (HTTP 404: Not "
                       "Found); check backup_gcs_credential_file" % (bucket, gcs_endpoint))
    assert "PRIVATE KEY" not in message and pem.splitlines()[1] not in message


def test_an_unreachable_endpoint_is_transient_and_retried(bucket, gcs_conf):
    where = "http://127.0.0.1:%d" % closed_port()
    drv = GoogleBackupDriver(gcs_conf(backup_gcs_bucket=bucket, backup_gcs_endpoint_url=where))
    with pytest.raises(errors.TransientDriverError) as err:
        drv.get_object(bucket, "x")
    assert str(err.value) == ("GCS gs://%s/x at %s: cannot reach the server ([Errno 111] "
                              "Connection refused)" % (bucket, where))
    assert_unreachable_is_retried(drv, bucket)


def test_the_proxy_option_routes_this_drivers_requests(monkeypatch, bucket, gcs_conf):
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    drv = GoogleBackupDriver(gcs_conf(
        backup_gcs_bucket=bucket,
        backup_gcs_proxy_url="http://127.0.0.1:%d" % closed_port()))
    with pytest.raises(errors.TransientDriverError, match="cannot reach the server"):
        drv.ensure_container(bucket)
    # the same settings without the proxy reach the emulator: the proxy was the cause
    GoogleBackupDriver(gcs_conf(backup_gcs_bucket=bucket)).ensure_container(bucket)


# ---- error mapping for statuses the emulator never sends ---------------------------------
@pytest.mark.parametrize("status, codes, expected", [
    (429, ("429",), errors.TransientDriverError),
    (429, (), errors.PermanentDriverError),
    (408, ("429", "408"), errors.TransientDriverError),
    (503, (), errors.TransientDriverError),
    (500, (), errors.TransientDriverError),
    (401, ("429",), errors.AccessDenied),
    (403, ("429",), errors.AccessDenied),
    (400, ("429",), errors.PermanentDriverError),
])
def test_http_statuses_map_onto_ember_errors(status, codes, expected):
    # pure mapping of the library's exception classes: a rate limit or a 5xx cannot be
    # provoked from fake-gcs-server
    from google.api_core import exceptions as api

    exc = api.from_http_status(status, "server says no")
    mapped = translate(exc, where="http://h", bucket="b", name="o", retry_codes=codes)
    assert type(mapped) is expected
    assert str(mapped).startswith("GCS gs://b/o at http://h: ")
    assert "HTTP %d: server says no" % status in str(mapped)


# ---- a download cut mid-body is an error, never a short object (issue 18) -------------------
def test_cut_download_is_transient_never_short(driver, bucket, gcs_conf, gcs_endpoint):
    from ember.testing.conformance import random_bytes
    from ember.testing.cutting_proxy import CuttingProxy, cut_read_errors

    data = random_bytes(3 << 20, 7)
    driver.ensure_container(bucket)
    driver.put_object(bucket, "obj-00001", data)
    port = int(gcs_endpoint.rsplit(":", 1)[1])
    with CuttingProxy(port, cut_after=1 << 20) as proxy:
        cut = GoogleBackupDriver(gcs_conf(backup_gcs_bucket=bucket,
                                          backup_gcs_endpoint_url="http://127.0.0.1:%d"
                                          % proxy.port))
        messages = cut_read_errors(cut, bucket, "obj-00001")
    expected = "GCS gs://%s/obj-00001 at http://127.0.0.1:%d: cannot reach the server (the answer was cut short)" % (bucket, proxy.port)
    assert messages == (expected, expected)


# ---- reads: an object smaller than one read costs one request (issue 23) ------------------
@pytest.mark.parametrize("size, requests", [(0, 1), (100_000, 1), (STREAM_CHUNK - 1, 1),
                                            (STREAM_CHUNK + 5, 3), (2 * STREAM_CHUNK + 1, 4)])
def test_a_read_costs_one_request_per_chunk_and_one_metadata_request_past_the_first(
        monkeypatch, driver, bucket, size, requests):
    # counted at requests.Session, under google-cloud-storage: the real emulator answers
    import requests as http

    from ember.testing.conformance import random_bytes

    data = random_bytes(size, 11)
    driver.ensure_container(bucket)
    driver.put_object(bucket, "obj-00001", data)
    seen = []
    send = http.Session.request

    def counted(self, method, url, *args, **kwargs):
        if "/%s/o/obj-00001" % bucket in url:  # not another test's stray thread
            seen.append((method, url))
        return send(self, method, url, *args, **kwargs)

    monkeypatch.setattr(http.Session, "request", counted)
    with driver.open_reader(bucket, "obj-00001") as reader:
        pieces = []
        while True:
            piece = reader.read(1 << 20)
            if not piece:
                break
            pieces.append(piece)
    assert b"".join(pieces) == data
    assert len(seen) == requests, seen


# ---- a body is taken in one read, not streamed through Python in 8 KiB pieces (issue 23) --
def test_a_body_is_read_from_the_socket_in_one_call(monkeypatch, driver, bucket):
    # counted at urllib3, under google-cloud-storage and requests: the real emulator answers
    import urllib3

    from ember.testing.conformance import random_bytes

    data = random_bytes(STREAM_CHUNK + 5, 13)
    driver.ensure_container(bucket)
    driver.put_object(bucket, "obj-00001", data)
    reads = []
    read = urllib3.response.HTTPResponse.read

    def counted(self, *args, **kwargs):
        piece = read(self, *args, **kwargs)
        if piece and "json" not in self.headers.get("Content-Type", ""):  # media, not metadata
            reads.append(len(piece))
        return piece

    monkeypatch.setattr(urllib3.response.HTTPResponse, "read", counted)
    assert driver.get_object(bucket, "obj-00001") == data
    with driver.open_reader(bucket, "obj-00001") as reader:
        assert reader.read() == data
    # get_object: the whole body; open_reader: the first range, then the rest
    assert reads == [len(data), STREAM_CHUNK, 5], reads[:5]
