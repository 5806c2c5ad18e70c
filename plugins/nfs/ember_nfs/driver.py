"""``backup_driver = nfs``: a posix repository on an NFS share.

Two clients, chosen by ``backup_nfs_client``, write the same layout on the share:

* ``kernel`` (default, as Cinder): mount the share with
  ``mount -t nfs [-o backup_mount_options] <share> <backup_mount_point_base>/<md5(share)>``
  (retried ``backup_mount_attempts`` times, an existing mount there reused), then store
  exactly like the posix driver under the mount point.
* ``userspace``: no mount; NFSv3 from this process through libnfs
  (``ember_nfs.userspace.LibnfsBackupDriver``), for hosts and containers that cannot mount.

``NFSBackupDriver.create(conf)`` (the factory the loader calls) returns the driver for
the configured client, so the entry point stays one name.
"""

from __future__ import annotations

from typing import ClassVar

from ember.layout import Layout
from ember_posix import mount
from ember_posix.driver import PosixBackupDriver

from ember_nfs import opts
from ember_nfs.layout import nfs_layout
from ember_nfs.share import parse_share


class NFSBackupDriver(mount.MountedShare, PosixBackupDriver):
    """The posix driver on a kernel-mounted NFS share (``backup_nfs_client = kernel``)."""

    name: ClassVar[str] = "nfs"
    fstype: ClassVar[str] = "nfs"
    share_option: ClassVar[str] = "backup_share"
    mount_base_option: ClassVar[str] = "backup_mount_point_base"

    @classmethod
    def layout(cls, conf) -> Layout:
        """The posix family's, recorded as Cinder's NFS driver (either client)."""
        return nfs_layout(conf)

    @classmethod
    def create(cls, conf):
        """The loader's factory: the userspace client's driver when
        ``backup_nfs_client = userspace``, else this kernel-mount driver."""
        if opts.register(conf).backup_nfs_client == "userspace":
            from ember_nfs.userspace import LibnfsBackupDriver

            return LibnfsBackupDriver(conf)
        return cls(conf)

    def __init__(self, conf):
        opts.register(conf)
        super().__init__(conf)

    # ---- the mount (ember_posix.mount.MountedShare) --------------------------------------
    parse_share = staticmethod(parse_share)

    def mount_options(self) -> str | None:
        return self.conf.backup_mount_options

    @property
    def mount_attempts(self) -> int:
        return self.conf.backup_mount_attempts
