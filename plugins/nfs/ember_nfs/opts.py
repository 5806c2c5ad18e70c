"""Options of the nfs driver, named and defaulted as in cinder.conf ([DEFAULT]).

Imports without libnfs, so the sample config generator works everywhere.
"""

from oslo_config import cfg

nfs_opts = [
    cfg.StrOpt("backup_share",
               help="NFS share holding the repository, as host:/path, ipv4:/path or "
                    "[ipv6]:/path."),
    cfg.StrOpt("backup_mount_options",
               help="Comma-separated NFS mount options passed to mount -o (kernel client "
                    "only)."),
    cfg.StrOpt("backup_mount_point_base", default="$state_path/backup_mount",
               help="Directory under which the share is mounted, at "
                    "<base>/<md5 hex of backup_share> (kernel client only)."),
    cfg.IntOpt("backup_mount_attempts", default=3, min=1,
               help="How many times to try mounting the share before giving up (kernel "
                    "client only)."),
    cfg.StrOpt("backup_nfs_client", default="kernel", choices=("kernel", "userspace"),
               help="kernel: mount the share with mount -t nfs (needs root and a kernel NFS "
                    "client). userspace: speak NFSv3 from this process through libnfs, no "
                    "mount needed (pip install 'ember-backup-nfs[userspace]' and the system "
                    "libnfs). Both write the same layout, so either reads the other's "
                    "backups. (Ember only; Cinder always mounts.)"),
]


def register(conf):
    conf.register_opts(nfs_opts)
    return conf


def list_opts():
    """For oslo-config-generator (namespace ``ember.nfs``)."""
    return [(None, nfs_opts)]
