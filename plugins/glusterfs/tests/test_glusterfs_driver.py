"""GlusterFS specifics: the mount Cinder would make, reuse of it, bytes on the brick,
and the error cases (each one line naming the share)."""

import hashlib
import os
import signal
import subprocess
import time
import uuid

import pytest

from ember import errors
from ember.testing.config import make_conf
from ember_glusterfs import opts
from ember_glusterfs.driver import GlusterfsBackupDriver

from ember.testing.services import PATIENCE
from ember_posix import mount
from ember_posix.driver import PosixBackupDriver
from ember_posix.mount import is_dead_mount, mounted_source
from ember_posix.opts import posix_opts


def test_exact_mount_command_and_point(tmp_path):
    conf = make_conf(extra_opts=opts.glusterfs_opts, glusterfs_backup_share="192.0.2.7:backups",
                     glusterfs_backup_mount_point=str(tmp_path))
    driver = GlusterfsBackupDriver(conf)
    point = str(tmp_path / hashlib.md5(b"192.0.2.7:backups").hexdigest())
    assert driver.mount_spec().command() == [
        "mount", "-t", "glusterfs", "192.0.2.7:backups", point]
    assert GlusterfsBackupDriver.layout(conf).cinder_service == \
        "cinder.backup.drivers.glusterfs.GlusterfsBackupDriver"


def test_default_mount_point_is_under_state_path(tmp_path):
    conf = make_conf(extra_opts=opts.glusterfs_opts, state_path=str(tmp_path),
                     glusterfs_backup_share="h:v")
    assert GlusterfsBackupDriver(conf).mount_spec().mount_point == str(
        tmp_path / "backup_mount" / hashlib.md5(b"h:v").hexdigest())


def test_mounts_once_and_stores_on_the_brick(gluster, gluster_conf):
    container = "aa/bb/" + str(uuid.uuid4())
    name = "volume_v_20260101000000_backup_b-00001"
    with GlusterfsBackupDriver(gluster_conf()) as first:
        first.check_setup()
        point = first.base_path
        assert mounted_source(point) == gluster.share
        first.ensure_container(container)
        first.put_object(container, name, b"on the brick" * 1000)
    with open(os.path.join(gluster.brick, container, name), "rb") as stored:
        assert stored.read() == b"on the brick" * 1000
    with open("/proc/mounts") as mounts:
        before = mounts.read().count(" %s " % point)
    with GlusterfsBackupDriver(gluster_conf()) as second:  # reuses the mount
        second.check_setup()
        assert second.get_object(container, name) == b"on the brick" * 1000
        second.delete_object(container, name)
    with open("/proc/mounts") as mounts:
        assert mounts.read().count(" %s " % point) == before == 1
    assert not os.path.exists(os.path.join(gluster.brick, container, name))


@pytest.mark.parametrize("share", ["127.0.0.1", "127.0.0.1:", ":ember", "127.0.0.1:/a/b",
                                   "host:vol name"])
def test_invalid_share(gluster_conf, share):
    with pytest.raises(errors.ConfigError) as raised:
        GlusterfsBackupDriver(gluster_conf(glusterfs_backup_share=share)).check_setup()
    assert str(raised.value) == (
        "glusterfs_backup_share %r is not a valid GlusterFS share: expected "
        "<host>:<volname>" % share)


def test_unreachable_server(gluster_conf):
    # 127.0.0.2 is loopback too, but glusterd listens on 127.0.0.1 only
    with pytest.raises(errors.TransientDriverError) as raised:
        GlusterfsBackupDriver(gluster_conf(glusterfs_backup_share="127.0.0.2:ember")).check_setup()
    assert str(raised.value) == (
        "GlusterFS share 127.0.0.2:ember is unreachable: 127.0.0.2 port 24007: Connection "
        "refused (is glusterd running?)")


def test_failed_mount_carries_the_mount_commands_message(gluster, gluster_conf):
    share = "127.0.0.1:no-such-volume-%s" % uuid.uuid4().hex[:6]
    driver = GlusterfsBackupDriver(gluster_conf(glusterfs_backup_share=share))
    point = driver.mount_spec().mount_point
    with pytest.raises(errors.PermanentDriverError) as raised:
        driver.check_setup()
    # mount.glusterfs has two messages for this failure: the client failed before it
    # daemonized, or after (slower, on a loaded machine); a dead mount left by a try is
    # cleared before the next, so "Mount point does not exist" is never the last word
    # (the second names the log file given with -o log-file: none here, so no name)
    said = ("Mounting glusterfs on %s failed." % point,
            "Mount failed. Check the log file for more details.")
    assert str(raised.value) in [
        "mounting share %s at %s failed after 3 attempt(s): %s (command: mount -t glusterfs "
        "%s %s)" % (share, point, message, share, point) for message in said]
    assert mounted_source(point) is None


def test_a_failed_tries_lingering_mount_is_waited_out_not_taken_for_the_share(
        tmp_path, monkeypatch):
    """mount.glusterfs can fail while the client it started is still mounted at the
    point (it unmounts as it exits; the real test above saw it once in many runs). The
    next try must not find it "already mounted" and take it for the share, and the error
    must come after it is gone. A fake mount table and a recorder stand in for that
    client: its exit cannot be timed on demand."""
    spec = GlusterfsBackupDriver(make_conf(
        extra_opts=opts.glusterfs_opts, glusterfs_backup_share="127.0.0.1:gone",
        glusterfs_backup_mount_point=str(tmp_path))).mount_spec()
    lingering = {"reads": 0}  # the mount table shows the failed client for three reads
    calls = []

    def table(point, mounts_file=None):
        assert point == spec.mount_point
        if lingering["reads"]:
            lingering["reads"] -= 1
            return spec.share
        return None

    def mount_glusterfs(cmd):
        calls.append((list(cmd), lingering["reads"]))
        if lingering["reads"]:  # what mount.glusterfs says while a mount is listed
            return subprocess.CompletedProcess(cmd, 32, "", "according to mtab, GlusterFS "
                                               "is already mounted on %s\n" % spec.mount_point)
        lingering["reads"] = 3
        return subprocess.CompletedProcess(cmd, 1, "", "Mount failed. Check the log file "
                                           "for more details.\n")

    monkeypatch.setattr(mount, "mounted_source", table)
    with pytest.raises(errors.PermanentDriverError) as raised:
        mount.ensure_mounted(spec, 3, delay=0, runner=mount_glusterfs)
    # every try came after the last one's mount had gone, and so did the error
    assert calls == [(spec.command(), 0)] * 3
    assert lingering["reads"] == 0
    assert str(raised.value).endswith("failed after 3 attempt(s): Mount failed. Check the "
                                      "log file for more details. (command: %s)"
                                      % " ".join(spec.command()))


def test_a_dead_mount_is_cleared_and_mounted_again(gluster, gluster_conf, tmp_path):
    """A FUSE mount whose client died (killed here with SIGKILL, a real fault) stays in
    the mount table, and every access fails with ENOTCONN; the next driver unmounts it
    and mounts the share again instead of using it."""
    conf = gluster_conf(glusterfs_backup_mount_point=str(tmp_path))
    container, name = "dead/mount/" + str(uuid.uuid4()), "volume_v_backup_b-00001"
    point = GlusterfsBackupDriver(conf).mount_spec().mount_point
    try:
        with GlusterfsBackupDriver(conf) as first:
            first.check_setup()
            assert first.base_path == point
            first.ensure_container(container)
            first.put_object(container, name, b"before" * 1000)
        client = _fuse_clients_of(point)
        assert len(client) == 1, client
        os.kill(client[0], signal.SIGKILL)
        deadline = time.monotonic() + PATIENCE
        while not is_dead_mount(point):  # wait for the observable state: ENOTCONN
            assert time.monotonic() < deadline, "the mount at %s never went dead" % point
            time.sleep(0.05)
        assert mounted_source(point) == gluster.share
        with GlusterfsBackupDriver(conf) as second:
            second.check_setup()
            assert not is_dead_mount(point)
            assert second.get_object(container, name) == b"before" * 1000
            second.delete_object(container, name)
    finally:
        while mounted_source(point) is not None:
            subprocess.run(["umount", "-l", point], check=True)


def _fuse_clients_of(point):
    """Pids of the glusterfs processes whose last argument is ``point`` (read from
    /proc, so the test needs no procps)."""
    pids = []
    for entry in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                argv = f.read().rstrip(b"\0").split(b"\0")
        except (OSError, ValueError):
            continue
        if entry.isdigit() and os.path.basename(argv[0]) == b"glusterfs" and \
                argv[-1] == point.encode():
            pids.append(int(entry))
    return pids


def test_a_share_tells_the_engine_its_calls_are_round_trips(gluster, gluster_conf, tmp_path):
    # said without mounting; and a plain posix repository inside the mount sees FUSE's type
    unmounted = GlusterfsBackupDriver(gluster_conf(glusterfs_backup_mount_point=str(
        tmp_path / "never")))
    assert (unmounted.capabilities.round_trips, os.path.exists(tmp_path / "never")) == (True,
                                                                                       False)
    with GlusterfsBackupDriver(gluster_conf()) as share:
        share.check_setup()
        inside = PosixBackupDriver(make_conf(posix_opts, backup_posix_path=os.path.join(
            share.base_path, "posix-" + str(uuid.uuid4()))))
        assert mount.filesystem_type(inside.base_path) == "fuse.glusterfs"
        assert (inside.capabilities.max_concurrency, inside.capabilities.round_trips) == (
            8, True)
