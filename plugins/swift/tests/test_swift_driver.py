"""Swift-specific behaviour against the real server: Cinder's options and naming, the
one-line errors, the ETag check, one connection per thread and per_user mode."""

import hashlib
import http.client
import http.server
import threading

import pytest

from ember import errors
from ember.layout import RetryPolicy
from ember.loader import load_driver
from ember.testing.config import make_conf
from ember.wrappers import RetryingDriver, layout_of, unwrap
from ember_swift import opts
from ember_swift.driver import SwiftBackupDriver
from ember.testing.services import PATIENCE

VOL = "f186f2a3-9cde-4207-a69c-c532ff810229"
BACKUP = "9042b500-a668-4e69-a017-90d6135a35bb"


def test_options_are_cinders_with_cinders_defaults():
    conf = make_conf()
    SwiftBackupDriver(conf)  # registers its options in [DEFAULT]
    assert (conf.backup_swift_url, conf.backup_swift_auth_url) == (None, None)
    assert conf.backup_swift_auth == "per_user"
    assert conf.backup_swift_auth_version == "1"
    assert conf.backup_swift_container == "volumebackups"
    assert conf.backup_swift_object_size == 52428800
    assert conf.backup_swift_block_size == 32768
    assert (conf.backup_swift_retry_attempts, conf.backup_swift_retry_backoff) == (3, 2)
    assert conf.backup_swift_enable_progress_timer is True
    assert conf.backup_swift_auth_insecure is False
    assert conf.backup_swift_service_auth is False
    assert conf.swift_catalog_info == "object-store:swift:publicURL"
    assert conf.keystone_catalog_info == "identity:Identity Service:publicURL"
    for unset in ("tenant", "user", "key", "user_domain", "project_domain", "project",
                  "ca_cert_file", "create_storage_policy", "region_name"):
        assert getattr(conf, "backup_swift_" + unset) is None, unset


def test_naming_and_sizes_follow_cinders_swift_driver():
    conf = make_conf()
    driver = SwiftBackupDriver(conf)
    conf.set_override("backup_swift_object_size", 1 << 20)
    conf.set_override("backup_swift_block_size", 4096)
    conf.set_override("backup_swift_enable_progress_timer", False)
    layout = layout_of(driver)
    assert layout.cinder_service == "cinder.backup.drivers.swift.SwiftBackupDriver"
    assert layout.default_container(BACKUP) == "volumebackups"
    assert layout.object_prefix(VOL, BACKUP, "20250322101159") == \
        "volume_%s/20250322101159/az_nova_backup_%s" % (VOL, BACKUP)
    assert (layout.object_size, layout.sha_block_size) == (1 << 20, 4096)
    assert layout.progress_timer is False
    assert layout.retry == RetryPolicy(attempts=4, backoff=2.0)  # 3 retries


def test_loader_wraps_in_retries_from_the_swift_options():
    conf = make_conf(backup_driver="cinder.backup.drivers.swift.SwiftBackupDriver")
    driver = load_driver(conf)
    conf.set_override("backup_swift_retry_attempts", 5)
    assert isinstance(driver, RetryingDriver) and isinstance(unwrap(driver), SwiftBackupDriver)
    assert (driver.attempts, driver.backoff) == (4, 2.0)
    assert load_driver(conf).attempts == 6


def test_refused_connection_is_retried_then_reported(swift_conf):
    conf = swift_conf(backup_swift_auth_url="http://127.0.0.1:9/auth/v1.0",
                      backup_swift_retry_attempts=2, backup_swift_retry_backoff=0,
                      backup_driver="swift")
    with pytest.raises(errors.TransientDriverError) as exc:
        load_driver(conf).ensure_container("volumebackups")
    assert str(exc.value) == ("Swift authentication of http://127.0.0.1:9/auth/v1.0 "
                              "failed (Connection refused) (gave up after 3 attempts)")


def test_put_stores_exact_bytes_and_etag_is_their_md5(driver, container, admin):
    data = bytes(range(256)) * 1000
    name = "volume_%s/20250322101159/az_nova_backup_%s-00001" % (VOL, BACKUP)
    driver.ensure_container(container)
    driver.put_object(container, name, data)
    assert admin.head_object(container, name)["etag"] == hashlib.md5(data).hexdigest()
    assert admin.get_object(container, name)[1] == data
    assert driver.get_object(container, name) == data
    assert list(driver.list_objects(container, "volume_%s/" % VOL)) == [name]
    driver.delete_object(container, name)
    assert list(driver.list_objects(container)) == []


def test_missing_object_and_container(driver, container):
    driver.ensure_container(container)
    with pytest.raises(errors.ObjectNotFound) as exc:
        driver.get_object(container, "nope-00001")
    assert str(exc.value) == ("Swift object nope-00001 in container %s at "
                              "http://127.0.0.1:8080/v1/AUTH_test not found" % container)
    driver.delete_object(container, "nope-00001")  # not an error
    driver.delete_object(container + "-missing", "nope-00001")  # nor this
    assert list(driver.list_objects(container + "-missing")) == []


def test_wrong_key_is_access_denied_naming_endpoint_not_key(swift_conf, container):
    driver = SwiftBackupDriver(swift_conf(backup_swift_key="wrong-secret"))
    with pytest.raises(errors.AccessDenied) as exc:
        driver.check_setup()
    assert str(exc.value) == (
        "Swift refused authentication of http://127.0.0.1:8080/auth/v1.0 for user "
        "test:tester (HTTP 401 Unauthorized); check backup_swift_user and backup_swift_key")
    assert "wrong-secret" not in str(exc.value)
    with pytest.raises(errors.AccessDenied) as exc:  # not check_setup: the first request
        SwiftBackupDriver(swift_conf(backup_swift_key="wrong-secret")).ensure_container(
            container)
    assert str(exc.value).startswith("Swift refused authentication of http://127.0.0.1:8080")


def test_missing_container_not_created_when_create_containers_is_false(
        swift_conf, container, admin):
    driver = SwiftBackupDriver(swift_conf(backup_create_containers=False))
    with pytest.raises(errors.ContainerNotFound) as exc:
        driver.ensure_container(container)
    assert str(exc.value) == (
        "Swift container %s does not exist at http://127.0.0.1:8080/v1/AUTH_test and "
        "backup_create_containers is False; create it or set backup_create_containers = True"
        % container)
    with pytest.raises(errors.ContainerNotFound) as exc:
        driver.put_object(container, "x-00001", b"x")
    assert str(exc.value) == ("Swift container %s does not exist at "
                              "http://127.0.0.1:8080/v1/AUTH_test" % container)
    assert admin.get_account(prefix=container)[1] == []


def test_container_created_with_storage_policy(swift_conf, container, admin):
    driver = SwiftBackupDriver(swift_conf(backup_swift_create_storage_policy="Policy-0"))
    driver.ensure_container(container)
    driver.ensure_container(container)  # idempotent
    assert admin.head_container(container)["x-storage-policy"] == "Policy-0"


def test_unreachable_endpoint_is_transient(swift_conf):
    # nothing listens on port 9 of 127.0.0.1: a real refused connection
    driver = SwiftBackupDriver(swift_conf(backup_swift_auth_url="http://127.0.0.1:9/auth/v1.0"))
    with pytest.raises(errors.TransientDriverError) as exc:
        driver.check_setup()
    assert str(exc.value) == ("Swift authentication of http://127.0.0.1:9/auth/v1.0 "
                              "failed (Connection refused)")


def test_one_connection_per_thread(driver, container):
    driver.ensure_container(container)
    seen, barrier = {}, threading.Barrier(4)

    def work(i):
        barrier.wait()
        driver.put_object(container, "obj-%d" % i, b"%d" % i)
        seen[i] = driver._connection()
        assert driver._connection() is seen[i]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in seen.values()}) == 4
    assert sorted(driver.list_objects(container, "obj-")) == ["obj-%d" % i for i in range(4)]


# ---- per_user mode: token and storage URL from the environment ------------------------
@pytest.fixture
def token(admin):
    url, tok = admin.get_auth()
    return url, tok


def test_per_user_without_environment_says_what_to_set(swift_server, monkeypatch):
    for var in ("OS_AUTH_TOKEN", "OS_STORAGE_URL", "OS_PROJECT_ID"):
        monkeypatch.delenv(var, raising=False)
    driver = SwiftBackupDriver(make_conf())
    with pytest.raises(errors.ConfigError) as exc:
        driver.check_setup()
    assert str(exc.value) == (
        "backup_swift_auth = per_user needs a token and a storage URL: set OS_AUTH_TOKEN "
        "and OS_STORAGE_URL (or backup_swift_url and OS_PROJECT_ID) in the environment, "
        "or use backup_swift_auth = single_user")


def test_per_user_with_token_and_storage_url(swift_server, token, container, monkeypatch):
    url, tok = token
    monkeypatch.setenv("OS_AUTH_TOKEN", tok)
    monkeypatch.setenv("OS_STORAGE_URL", url)
    driver = SwiftBackupDriver(make_conf())
    driver.ensure_container(container)
    driver.put_object(container, "a-00001", b"per user")
    assert driver.get_object(container, "a-00001") == b"per user"


def test_per_user_storage_url_is_backup_swift_url_plus_project(
        swift_server, token, container, monkeypatch):
    _, tok = token
    monkeypatch.delenv("OS_STORAGE_URL", raising=False)
    monkeypatch.setenv("OS_AUTH_TOKEN", tok)
    monkeypatch.setenv("OS_PROJECT_ID", "test")
    conf = make_conf(extra_opts=opts.swift_opts, backup_swift_url="http://127.0.0.1:8080/v1/AUTH_")
    driver = SwiftBackupDriver(conf)
    driver.ensure_container(container)
    assert driver.describe() == "swift http://127.0.0.1:8080/v1/AUTH_test"


def test_per_user_bad_token_is_access_denied_without_the_token(
        swift_server, container, monkeypatch):
    bad = "AUTH_ftk-not-a-valid-token"
    monkeypatch.setenv("OS_AUTH_TOKEN", bad)
    monkeypatch.setenv("OS_STORAGE_URL", "http://127.0.0.1:8080/v1/AUTH_test")
    driver = SwiftBackupDriver(make_conf())
    with pytest.raises(errors.AccessDenied) as exc:
        driver.ensure_container(container)
    assert str(exc.value) == (
        "Swift refused check of container %s at http://127.0.0.1:8080/v1/AUTH_test "
        "(HTTP 401 Unauthorized); the token (OS_AUTH_TOKEN) is invalid, expired or lacks "
        "access" % container)
    assert bad not in str(exc.value)


# ---- ETag mismatch ------------------------------------------------------------------------
class _EtagRewritingProxy(http.server.ThreadingHTTPServer):
    """Forwards every request to the real Swift and answers PUTs with a wrong ETag.

    A fake in the middle, on purpose: a real Swift never returns an ETag that differs
    from what it stored, so the mismatch (corruption in transit) cannot be caused for
    real. Everything else (the stored object, its deletion) is the real server's."""

    daemon_threads = True

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        super().__init__(("127.0.0.1", 0), _ForwardingHandler)


class _ForwardingHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port,
                                              timeout=PATIENCE)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        upstream.request(self.command, self.path, body=body, headers=headers)
        resp = upstream.getresponse()
        payload = resp.read()
        self.send_response(resp.status, resp.reason)
        for key, value in resp.getheaders():
            if key.lower() in ("connection", "transfer-encoding", "content-length"):
                continue
            if key.lower() == "etag" and self.command == "PUT":
                value = "0" * 32
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        upstream.close()

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _forward

    def log_message(self, *args):
        pass


def test_etag_mismatch_deletes_the_object_and_is_transient(
        swift_server, token, container, admin, monkeypatch):
    url, tok = token
    proxy = _EtagRewritingProxy(8080)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        proxy_url = url.replace("127.0.0.1:8080", "127.0.0.1:%d" % proxy.server_port)
        monkeypatch.setenv("OS_AUTH_TOKEN", tok)
        monkeypatch.setenv("OS_STORAGE_URL", proxy_url)
        driver = SwiftBackupDriver(make_conf())
        driver.ensure_container(container)
        with pytest.raises(errors.TransientDriverError) as exc:
            driver.put_object(container, "obj-00001", b"payload")
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert str(exc.value) == (
        "Swift put of object obj-00001 in container %s at %s returned ETag %s but the md5 "
        "of the bytes sent is %s; the object was deleted, retry the upload"
        % (container, proxy_url, "0" * 32, hashlib.md5(b"payload").hexdigest()))
    assert admin.get_container(container)[1] == []


# ---- a download cut mid-body is an error, never a short object (issue 18) -------------------
def test_cut_download_is_transient_never_short(driver, container, token, monkeypatch):
    from ember.testing.conformance import random_bytes
    from ember.testing.cutting_proxy import CuttingProxy, cut_read_errors

    url, tok = token
    driver.ensure_container(container)
    driver.put_object(container, "obj-00001", random_bytes(3 << 20, 7))
    with CuttingProxy(8080, cut_after=1 << 20) as proxy:
        monkeypatch.setenv("OS_AUTH_TOKEN", tok)
        monkeypatch.setenv("OS_STORAGE_URL", url.replace(":8080", ":%d" % proxy.port))
        cut = SwiftBackupDriver(make_conf())
        messages = cut_read_errors(cut, container, "obj-00001")
    expected = "Swift get of object obj-00001 in container %s at http://127.0.0.1:%d/v1/AUTH_test failed (the answer was cut short)" % (container, proxy.port)
    assert messages == (expected, expected)
