"""``backup_driver = glusterfs``: a posix repository on a FUSE-mounted GlusterFS volume.

As Cinder: ``mount -t glusterfs <share> <glusterfs_backup_mount_point>/<md5(share)>``
(an existing mount there is reused), then the posix driver's layout under it.
"""

from __future__ import annotations

import socket
from typing import ClassVar

from ember import errors
from ember import opts as core_opts
from ember.layout import Layout, posix_family
from ember_posix import mount
from ember_posix.driver import PosixBackupDriver

from ember_glusterfs import opts
from ember_glusterfs.share import parse_share

GLUSTERD_PORT = 24007


class GlusterfsBackupDriver(mount.MountedShare, PosixBackupDriver):
    """The posix driver on a GlusterFS volume mounted through FUSE."""

    name: ClassVar[str] = "glusterfs"
    fstype: ClassVar[str] = "glusterfs"
    share_option: ClassVar[str] = "glusterfs_backup_share"
    mount_base_option: ClassVar[str] = "glusterfs_backup_mount_point"

    def __init__(self, conf):
        opts.register(conf)
        super().__init__(conf)

    @classmethod
    def layout(cls, conf) -> Layout:
        """The posix family's, recorded as Cinder's GlusterFS driver."""
        return posix_family(core_opts.register(conf),
                            "cinder.backup.drivers.glusterfs.GlusterfsBackupDriver")

    # ---- the mount (ember_posix.mount.MountedShare) --------------------------------------
    parse_share = staticmethod(parse_share)

    def before_mount(self, spec: mount.MountSpec) -> None:
        # mount.glusterfs only says "Mounting glusterfs on X failed."; say why when we can
        share = self.parse_share(spec.share)
        try:
            socket.create_connection((share.host, GLUSTERD_PORT), timeout=5.0).close()
        except OSError as exc:
            raise errors.TransientDriverError(
                "GlusterFS share %s is unreachable: %s port %d: %s (is glusterd running?)"
                % (share, share.host, GLUSTERD_PORT, exc.strerror or exc)) from None
