"""Error cases of the userspace client against the real server: each a one-line error
naming the share, and nothing half-written left behind."""

import os
import uuid

import pytest

from ember import errors
from ember_nfs import libnfs_client
from ember_nfs.driver import NFSBackupDriver


def one_line(exc) -> str:
    text = str(exc)
    assert "\n" not in text
    return text


def test_invalid_share_fails_setup(nfs_conf):
    with NFSBackupDriver.create(nfs_conf(backup_share="127.0.0.1:export")) as driver:
        with pytest.raises(errors.ConfigError) as raised:
            driver.check_setup()
    assert "'127.0.0.1:export' is not a valid NFS share" in one_line(raised.value)


def test_unreachable_server_is_transient(nfs_conf):
    # 127.0.0.2 is loopback too, but ganesha listens on 127.0.0.1 only
    with NFSBackupDriver.create(nfs_conf(backup_share="127.0.0.2:/export")) as driver:
        with pytest.raises(errors.TransientDriverError) as raised:
            driver.check_setup()
    assert one_line(raised.value).startswith(
        "NFS share 127.0.0.2:/export is unreachable (is an NFSv3 server with rpcbind "
        "running on 127.0.0.2?): ")


def test_unknown_export_is_refused(nfs_conf):
    with NFSBackupDriver.create(nfs_conf(backup_share="127.0.0.1:/no-such-export")) as driver:
        with pytest.raises(errors.AccessDenied) as raised:
            driver.check_setup()
    assert one_line(raised.value).startswith(
        "NFS share 127.0.0.1:/no-such-export refused the mount (is /no-such-export "
        "exported to this host?): ")


def test_read_only_share(nfs_conf, nfs_exports):
    ro_share, ro_dir = nfs_exports.ro_share, nfs_exports.ro_dir
    container = "ro-" + uuid.uuid4().hex[:8]
    with NFSBackupDriver.create(nfs_conf(backup_share=ro_share)) as driver:
        with pytest.raises(errors.PermanentDriverError) as raised:
            driver.ensure_container(container)
        assert one_line(raised.value) == (
            "cannot write container %s of NFS share %s: the share is read-only"
            % (container, ro_share))
        os.mkdir(os.path.join(ro_dir, container))  # made on the server, behind the export
        try:
            with pytest.raises(errors.PermanentDriverError) as raised:
                driver.put_object(container, "volume_x-00001", b"data")
            assert one_line(raised.value) == (
                "cannot write volume_x-00001 in container %s of NFS share %s: the share "
                "is read-only" % (container, ro_share))
            assert os.listdir(os.path.join(ro_dir, container)) == []
        finally:
            os.rmdir(os.path.join(ro_dir, container))


def test_full_share_leaves_nothing_behind(nfs_conf, nfs_exports):
    full_share, full_dir = nfs_exports.full_share, nfs_exports.full_dir
    container = "full-" + uuid.uuid4().hex[:8]
    with NFSBackupDriver.create(nfs_conf(backup_share=full_share)) as driver:
        driver.ensure_container(container)
        try:
            with pytest.raises(errors.PermanentDriverError) as raised:
                driver.put_object(container, "volume_x-00001", os.urandom(2 * 1024 * 1024))
            assert one_line(raised.value) == (
                "cannot write volume_x-00001 in container %s of NFS share %s: the share is "
                "full (free space on the server)" % (container, full_share))
            assert list(driver.list_objects(container)) == []
            assert os.listdir(os.path.join(full_dir, container)) == []  # no temp file either
        finally:
            os.rmdir(os.path.join(full_dir, container))


def test_put_into_missing_container(nfs_conf):
    with NFSBackupDriver.create(nfs_conf()) as driver:
        with pytest.raises(errors.ContainerNotFound) as raised:
            driver.put_object("no-such-" + uuid.uuid4().hex[:8], "volume_x-00001", b"x")
    assert "(ensure_container first)" in one_line(raised.value)


@pytest.mark.parametrize("container", ["/etc", "../outside", "a/../../b", "a//b", ""])
def test_container_outside_the_share_is_refused(nfs_conf, container):
    with NFSBackupDriver.create(nfs_conf()) as driver:
        with pytest.raises(errors.PermanentDriverError) as raised:
            driver.ensure_container(container)
    assert "is not a relative path inside the share" in one_line(raised.value)


def test_userspace_without_libnfs_says_what_to_install(nfs_conf, monkeypatch):
    # A fake: uninstalling the bindings in the middle of a test run is not possible, so
    # the import outcome is replaced.
    monkeypatch.setattr(libnfs_client, "AVAILABLE", False)
    monkeypatch.setattr(libnfs_client, "IMPORT_ERROR", "No module named 'libnfs'")
    with pytest.raises(errors.ConfigError) as raised:
        NFSBackupDriver.create(nfs_conf())
    assert one_line(raised.value) == (
        "backup_nfs_client = userspace needs libnfs's Python bindings (No module named "
        "'libnfs'): pip install 'ember-backup-nfs[userspace]' (it builds against the system "
        "libnfs: apt-get install libnfs-dev)")
