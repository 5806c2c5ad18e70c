"""GlusterFS specifics: the mount Cinder would make, reuse of it, bytes on the brick,
and the error cases (each one line naming the share)."""

import hashlib
import os
import uuid

import pytest

from ember import errors
from ember.testing.config import make_conf
from ember_glusterfs import opts
from ember_glusterfs.driver import GlusterfsBackupDriver

from ember_posix.mount import mounted_source


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
    assert str(raised.value) == (
        "mounting share %s at %s failed after 3 attempt(s): Mounting glusterfs on %s "
        "failed. (command: mount -t glusterfs %s %s)" % (share, point, point, share, point))
