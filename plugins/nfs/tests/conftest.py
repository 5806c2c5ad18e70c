"""Fixtures for tests against the real NFS server of ``scripts/servers/nfs.sh``.

nfs-ganesha exports, over NFSv3 on 127.0.0.1, ``$EMBER_NFS_BASE/export`` as
``127.0.0.1:/export`` (plus ``/export-ro``, read-only, and ``/export-full``, a 1 MiB
tmpfs). The server is local, so tests can also look at the exported directories.
"""

import os
import shutil
from types import SimpleNamespace

import pytest

from ember.testing.config import make_conf
from ember.testing.services import require, tcp_open
from ember_nfs import libnfs_client, opts

BASE = os.environ.get("EMBER_NFS_BASE", "/tmp/ember-nfs")
SHARE = "127.0.0.1:/export"
EXPORT_DIR = os.path.join(BASE, "export")
RO_SHARE, RO_DIR = "127.0.0.1:/export-ro", os.path.join(BASE, "ro")
FULL_SHARE, FULL_DIR = "127.0.0.1:/export-full", os.path.join(BASE, "full")
HOW = "bash scripts/servers/nfs.sh install && bash scripts/servers/nfs.sh start"


@pytest.fixture(scope="session")
def nfs_server():
    """Skips (fails under CI=true) unless ganesha serves NFS on 127.0.0.1:2049."""
    require(tcp_open("127.0.0.1", 2049) and os.path.isdir(EXPORT_DIR),
            "NFS server (nfs-ganesha) on 127.0.0.1:2049 exporting %s" % EXPORT_DIR, HOW)
    return SHARE


@pytest.fixture(scope="session")
def nfs_exports(nfs_server):
    """The three shares and the server-side directories behind them."""
    return SimpleNamespace(share=SHARE, dir=EXPORT_DIR, ro_share=RO_SHARE, ro_dir=RO_DIR,
                           full_share=FULL_SHARE, full_dir=FULL_DIR)


@pytest.fixture(scope="session")
def libnfs_installed():
    require(libnfs_client.AVAILABLE, "libnfs Python bindings (ember-backup-nfs[userspace])",
            "apt-get install libnfs-dev && pip install -e 'plugins/nfs[userspace]'")


@pytest.fixture
def nfs_conf(nfs_server, libnfs_installed):
    """``nfs_conf(**overrides)``: the nfs options, userspace client on the test share."""
    def make(**overrides):
        settings = dict(backup_share=SHARE, backup_nfs_client="userspace")
        settings.update(overrides)
        return make_conf(extra_opts=opts.nfs_opts, **settings)
    return make


@pytest.fixture
def export_cleanup():
    """Names of top-level directories in the export to remove after the test."""
    made: list[str] = []
    yield made
    for name in made:
        shutil.rmtree(os.path.join(EXPORT_DIR, name), ignore_errors=True)
