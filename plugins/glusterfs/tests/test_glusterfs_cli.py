"""End to end through the ``ember`` executable with ``backup_driver = glusterfs`` against
the real GlusterFS volume, mounted by ``ember`` itself through FUSE: full and incremental
backups restored bit-exact, the objects on the share exactly as Cinder names them, delete
(nothing of theirs left on the share), and a force delete cancelling a running backup
(nothing left, not even a temporary file).

The share is looked at on the server's brick, not through the driver under test. Every
``ember`` process mounts under the session's mount base (the mount is reused, and
unmounted at the end of the session). Each test has its own container (a top-level
directory of the volume), removed afterwards through the mount, so the brick stays
consistent.
"""

import os
import shutil
import uuid

import pytest
from ember.testing.cli import EmberCLI
from ember_posix.mount import mount_point_for, mounted_source
from ember_posix.testing import PosixFamilyCLI


@pytest.fixture
def container(gluster):
    name = "ember-cli-%s" % uuid.uuid4().hex[:12]
    yield name
    point = mount_point_for(gluster.mount_base, gluster.share)
    if mounted_source(point) == gluster.share:
        shutil.rmtree(os.path.join(point, name), ignore_errors=True)


@pytest.fixture
def ember(tmp_path, gluster):
    return EmberCLI(tmp_path, {
        "OS_DEFAULT__BACKUP_DRIVER": "glusterfs",
        "OS_DEFAULT__GLUSTERFS_BACKUP_SHARE": gluster.share,
        "OS_DEFAULT__GLUSTERFS_BACKUP_MOUNT_POINT": gluster.mount_base,
    })


class TestGlusterfsCLI(PosixFamilyCLI):
    service = "cinder.backup.drivers.glusterfs.GlusterfsBackupDriver"

    @pytest.fixture
    def share_dir(self, gluster):
        return gluster.brick
