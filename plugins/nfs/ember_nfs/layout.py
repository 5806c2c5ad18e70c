"""The NFS plugin's ``Layout``: the posix family's, recorded as Cinder's NFS driver. One
for both clients (kernel mount, libnfs), so either reads what the other wrote."""

from __future__ import annotations

from ember import opts as core_opts
from ember.layout import Layout, posix_family

CINDER_SERVICE = "cinder.backup.drivers.nfs.NFSBackupDriver"


def nfs_layout(conf) -> Layout:
    return posix_family(core_opts.register(conf), CINDER_SERVICE)
