"""Fixtures for tests against the real GlusterFS of ``scripts/servers/gluster.sh``:
glusterd on 127.0.0.1:24007 with the one-brick volume ``ember`` (brick
``$EMBER_GLUSTER_BASE/bricks/b1``). The driver mounts it itself (FUSE); every mount made
under the session's mount base is unmounted at the end."""

import os
import subprocess
from types import SimpleNamespace

import pytest

from ember.testing.config import make_conf
from ember.testing.services import require, tcp_open
from ember_glusterfs import opts

BASE = os.environ.get("EMBER_GLUSTER_BASE", "/tmp/ember-gluster")
VOLUME = os.environ.get("EMBER_GLUSTER_VOL", "ember")
SHARE = "127.0.0.1:" + VOLUME
BRICK = os.path.join(BASE, "bricks", "b1")


def mounts_under(base):
    with open("/proc/mounts") as mounts:
        return [line.split()[1] for line in mounts if line.split()[1].startswith(base + "/")]


@pytest.fixture(scope="session")
def gluster(tmp_path_factory):
    """The share, its brick directory and a mount base for this session."""
    require(tcp_open("127.0.0.1", 24007) and os.path.isdir(BRICK),
            "GlusterFS (glusterd + volume %s) on 127.0.0.1:24007" % VOLUME,
            "bash scripts/servers/gluster.sh install && bash scripts/servers/gluster.sh start")
    require(os.geteuid() == 0, "root (mount -t glusterfs)", "run the tests as root")
    base = str(tmp_path_factory.mktemp("gluster-mounts"))
    yield SimpleNamespace(share=SHARE, brick=BRICK, mount_base=base)
    for point in reversed(mounts_under(base)):
        subprocess.run(["umount", point], check=False)


@pytest.fixture
def gluster_conf(gluster):
    """``gluster_conf(**overrides)``: glusterfs options pointing at the test volume."""
    def make(**overrides):
        settings = dict(glusterfs_backup_share=gluster.share,
                        glusterfs_backup_mount_point=gluster.mount_base)
        settings.update(overrides)
        return make_conf(extra_opts=opts.glusterfs_opts, **settings)
    return make
