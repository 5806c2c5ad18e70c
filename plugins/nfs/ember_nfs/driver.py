"""``backup_driver = nfs``: a posix repository on an NFS share.

Two clients, chosen by ``backup_nfs_client``, write the same layout on the share:

* ``kernel`` (default, as Cinder): mount the share with
  ``mount -t nfs [-o backup_mount_options] <share> <backup_mount_point_base>/<md5(share)>``
  (retried ``backup_mount_attempts`` times, an existing mount there reused), then store
  exactly like the posix driver under the mount point.
* ``userspace``: no mount; NFSv3 from this process through libnfs
  (``ember_nfs.userspace.LibnfsBackupDriver``), for hosts and containers that cannot mount.

``NFSBackupDriver(conf)`` returns the driver for the configured client, so the entry
point stays one name.
"""

from __future__ import annotations

from typing import ClassVar

from ember import mount
from ember_posix.driver import PosixBackupDriver

from ember_nfs import opts
from ember_nfs.share import parse_share


class NFSBackupDriver(PosixBackupDriver):
    """The posix driver on a kernel-mounted NFS share (``backup_nfs_client = kernel``)."""

    name: ClassVar[str] = "nfs"
    cinder_service: ClassVar[str] = "cinder.backup.drivers.nfs.NFSBackupDriver"

    def __new__(cls, conf, *args, **kwargs):
        if cls is NFSBackupDriver and opts.register(conf).backup_nfs_client == "userspace":
            from ember_nfs.userspace import LibnfsBackupDriver
            # not a subclass, so Python will not call __init__ on it: do it here
            driver = LibnfsBackupDriver.__new__(LibnfsBackupDriver)
            driver.__init__(conf, *args, **kwargs)
            return driver
        return super().__new__(cls)

    def __init__(self, conf):
        opts.register(conf)
        super().__init__(conf)
        self._mounted_at: str | None = None

    # ---- the mount ----------------------------------------------------------------
    def mount_spec(self) -> mount.MountSpec:
        """What this driver mounts: the exact ``mount`` command is ``mount_spec().command()``."""
        share = parse_share(self.conf.backup_share)
        return mount.MountSpec(
            fstype="nfs", share=share.text,
            mount_point=mount.mount_point_for(self.conf.backup_mount_point_base, share.text),
            options=self.conf.backup_mount_options)

    @property
    def base_path(self) -> str:
        """The posix base directory: the share's mount point, mounted on first use."""
        if self._mounted_at is None:
            spec = self.mount_spec()
            mount.ensure_mounted(spec, self.conf.backup_mount_attempts)
            self._mounted_at = spec.mount_point
        return self._mounted_at

    def check_setup(self) -> None:
        self.base_path  # noqa: B018 -- mounting is the check
        super().check_setup()

    def describe(self) -> str:
        share = self.conf.backup_share or ""
        return "nfs share %s mounted at %s" % (
            share, mount.mount_point_for(self.conf.backup_mount_point_base, share))
