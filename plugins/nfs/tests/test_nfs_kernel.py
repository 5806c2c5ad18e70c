"""The kernel-mount mode. This machine's kernel has no NFS client, so the mount itself is
checked up to the exact command it runs, and its real failure; the posix half is checked
on a bind mount of the exported directory standing in for the NFS mount."""

import hashlib
import os
import subprocess

import pytest

from ember import errors
from ember_posix import mount
from ember.testing.config import make_conf
from ember.wrappers import layout_of
from ember_nfs import opts
from ember_nfs.driver import NFSBackupDriver
from ember_nfs.userspace import LibnfsBackupDriver

SHARE = "127.0.0.1:/export"


def kernel_conf(tmp_path, **overrides):
    settings = dict(backup_share=SHARE, backup_mount_point_base=str(tmp_path / "mnt"),
                    backup_mount_attempts=1)
    settings.update(overrides)
    return make_conf(extra_opts=opts.nfs_opts, **settings)


def test_kernel_is_the_default_client(tmp_path):
    driver = NFSBackupDriver.create(kernel_conf(tmp_path))
    assert type(driver) is NFSBackupDriver
    assert layout_of(driver).cinder_service == "cinder.backup.drivers.nfs.NFSBackupDriver"


def test_mount_point_is_md5_of_the_share(tmp_path):
    spec = NFSBackupDriver.create(kernel_conf(tmp_path)).mount_spec()
    assert spec.mount_point == str(tmp_path / "mnt" / hashlib.md5(SHARE.encode()).hexdigest())
    assert os.path.basename(spec.mount_point) == "cd82877b3a8cae1aaa5839b03f995681"


def test_exact_mount_command(tmp_path):
    driver = NFSBackupDriver.create(kernel_conf(tmp_path, backup_mount_options="vers=3,nolock"))
    point = str(tmp_path / "mnt" / "cd82877b3a8cae1aaa5839b03f995681")
    assert driver.mount_spec().command() == [
        "mount", "-t", "nfs", "-o", "vers=3,nolock", "127.0.0.1:/export", point]
    plain = NFSBackupDriver.create(kernel_conf(tmp_path))
    assert plain.mount_spec().command() == ["mount", "-t", "nfs", "127.0.0.1:/export", point]


def test_mount_is_retried_then_reports_the_commands_message(tmp_path):
    # A recorder instead of mount(8): the failing-then-failing sequence cannot be made
    # to happen on demand with a real server.
    spec = NFSBackupDriver.create(kernel_conf(tmp_path)).mount_spec()
    calls = []

    def failing(cmd):
        calls.append(list(cmd))
        return subprocess.CompletedProcess(cmd, 32, "", "mount.nfs: Connection timed out\n")

    with pytest.raises(errors.PermanentDriverError) as raised:
        mount.ensure_mounted(spec, 3, delay=0, runner=failing)
    assert calls == [spec.command()] * 3
    assert str(raised.value) == (
        "mounting share 127.0.0.1:/export at %s failed after 3 attempt(s): mount.nfs: "
        "Connection timed out (command: %s)" % (spec.mount_point, " ".join(spec.command())))


@pytest.mark.skipif(os.geteuid() != 0, reason="mount(8) needs root")
def test_real_mount_failure_names_the_share(tmp_path):
    driver = NFSBackupDriver.create(kernel_conf(tmp_path))
    with pytest.raises(errors.PermanentDriverError) as raised:
        driver.check_setup()
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("mounting share 127.0.0.1:/export at %s failed after 1 "
                              "attempt(s): " % driver.mount_spec().mount_point)
    assert "dmesg(1)" not in message  # util-linux's hint, never the cause
    with open("/proc/filesystems") as known:
        if "\tnfs\n" not in known.read():  # this kernel: no NFS client at all
            # with nfs-common (mount.nfs) installed, and without it
            assert ("mount.nfs: No such device" in message
                    or "unknown filesystem type 'nfs'" in message), message


@pytest.mark.skipif(os.geteuid() != 0, reason="mount(8) needs root")
def test_real_mount_failure_keeps_the_cause_before_the_dmesg_hint(tmp_path):
    # A file system type no machine has makes util-linux itself fail the way it does for
    # nfs without the nfs-common package: the cause first, then a generic dmesg hint.
    spec = mount.MountSpec(fstype="ember-no-such-fs", share=SHARE,
                           mount_point=str(tmp_path / "mnt"))
    with pytest.raises(errors.PermanentDriverError) as raised:
        mount.ensure_mounted(spec, 1)
    message = str(raised.value)
    assert "unknown filesystem type 'ember-no-such-fs'" in message
    assert "dmesg" not in message and "\n" not in message


def test_every_line_that_says_what_went_wrong_is_kept():
    # util-linux's exact output without a mount helper, and a helper's own two lines
    assert mount.what_went_wrong(
        "mount: /mnt/x: bad option; for several filesystems (e.g. nfs, cifs) you might "
        "need a /sbin/mount.<type> helper program.\n"
        "       dmesg(1) may have more information after failed mount system call.\n"
    ) == ("mount: /mnt/x: bad option; for several filesystems (e.g. nfs, cifs) you might "
          "need a /sbin/mount.<type> helper program.")
    assert mount.what_went_wrong("mount.nfs: access denied by server\n\n"
                                 "  while mounting 127.0.0.1:/export\n") == (
        "mount.nfs: access denied by server; while mounting 127.0.0.1:/export")


@pytest.fixture
def bind_mounted_export(tmp_path, nfs_exports, export_cleanup):
    """The export directory bind-mounted where the kernel mode would mount the share."""
    if os.geteuid() != 0:
        pytest.skip("bind mounts need root")
    point = mount.mount_point_for(str(tmp_path / "mnt"), SHARE)
    os.makedirs(point)
    subprocess.run(["mount", "--bind", nfs_exports.dir, point], check=True)
    yield point
    subprocess.run(["umount", point], check=True)


def test_existing_mount_is_reused_and_read_by_userspace(tmp_path, bind_mounted_export,
                                                       nfs_conf, export_cleanup):
    container = "kernel-" + os.urandom(4).hex()
    export_cleanup.append(container)
    with NFSBackupDriver.create(kernel_conf(tmp_path, backup_mount_attempts=3)) as kernel:
        kernel.check_setup()  # already mounted: no mount command, no error
        assert kernel.base_path == bind_mounted_export
        kernel.ensure_container(container)
        kernel.put_object(container, "volume_v_20260101000000_backup_b-00001", b"kernel" * 999)
    with NFSBackupDriver.create(nfs_conf()) as userspace:
        assert isinstance(userspace, LibnfsBackupDriver)
        assert list(userspace.list_objects(container)) == ["volume_v_20260101000000_backup_b-00001"]
        assert userspace.get_object(container, "volume_v_20260101000000_backup_b-00001") == b"kernel" * 999
