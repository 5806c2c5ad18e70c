"""``backup_driver = glusterfs``: a posix repository on a FUSE-mounted GlusterFS volume.

As Cinder: ``mount -t glusterfs <share> <glusterfs_backup_mount_point>/<md5(share)>``
(an existing mount there is reused), then the posix driver's layout under it.
"""

from __future__ import annotations

import socket
from typing import ClassVar

from ember import errors, mount
from ember_posix.driver import PosixBackupDriver

from ember_glusterfs import opts
from ember_glusterfs.share import parse_share

GLUSTERD_PORT = 24007
MOUNT_ATTEMPTS = 3


class GlusterfsBackupDriver(PosixBackupDriver):
    """The posix driver on a GlusterFS volume mounted through FUSE."""

    name: ClassVar[str] = "glusterfs"
    cinder_service: ClassVar[str] = "cinder.backup.drivers.glusterfs.GlusterfsBackupDriver"

    def __init__(self, conf):
        opts.register(conf)
        super().__init__(conf)
        self._mounted_at: str | None = None

    def mount_spec(self) -> mount.MountSpec:
        """What this driver mounts: the exact command is ``mount_spec().command()``."""
        share = parse_share(self.conf.glusterfs_backup_share)
        return mount.MountSpec(
            fstype="glusterfs", share=share.text,
            mount_point=mount.mount_point_for(self.conf.glusterfs_backup_mount_point, share.text))

    @property
    def base_path(self) -> str:
        """The posix base directory: the volume's mount point, mounted on first use."""
        if self._mounted_at is None:
            spec = self.mount_spec()
            if mount.mounted_source(spec.mount_point) is None:
                self._check_reachable()
            mount.ensure_mounted(spec, MOUNT_ATTEMPTS)
            self._mounted_at = spec.mount_point
        return self._mounted_at

    def _check_reachable(self) -> None:
        # mount.glusterfs only says "Mounting glusterfs on X failed."; say why when we can
        share = parse_share(self.conf.glusterfs_backup_share)
        try:
            socket.create_connection((share.host, GLUSTERD_PORT), timeout=5.0).close()
        except OSError as exc:
            raise errors.TransientDriverError(
                "GlusterFS share %s is unreachable: %s port %d: %s (is glusterd running?)"
                % (share, share.host, GLUSTERD_PORT, exc.strerror or exc)) from None

    def check_setup(self) -> None:
        self.base_path  # noqa: B018 -- mounting is the check
        super().check_setup()

    def describe(self) -> str:
        share = self.conf.glusterfs_backup_share or ""
        return "glusterfs share %s mounted at %s" % (
            share, mount.mount_point_for(self.conf.glusterfs_backup_mount_point, share))
