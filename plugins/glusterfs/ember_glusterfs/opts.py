"""Options of the glusterfs driver, named and defaulted as in cinder.conf ([DEFAULT])."""

from oslo_config import cfg

glusterfs_opts = [
    cfg.StrOpt("glusterfs_backup_share",
               help="GlusterFS volume holding the repository, as <host>:<volname> "
                    "(for example 192.0.2.10:backups)."),
    cfg.StrOpt("glusterfs_backup_mount_point", default="$state_path/backup_mount",
               help="Directory under which the volume is mounted (FUSE, mount -t "
                    "glusterfs), at <mount point>/<md5 hex of glusterfs_backup_share>."),
]


def register(conf):
    conf.register_opts(glusterfs_opts)
    return conf


def list_opts():
    """For oslo-config-generator (namespace ``ember.glusterfs``)."""
    return [(None, glusterfs_opts)]
