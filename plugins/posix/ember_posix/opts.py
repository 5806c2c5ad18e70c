"""Options of the posix driver, in [DEFAULT] under Cinder's names (imports nothing but
oslo.config, so the sample-config generator can list them)."""

from oslo_config import cfg

posix_opts = [
    cfg.StrOpt("backup_posix_path", default="$state_path/backup",
               help="Directory the posix driver keeps backups in; each backup's container "
                    "is a directory below it."),
    cfg.StrOpt("backup_container",
               help="Custom directory to use for backups. Registered for cinder.conf "
                    "compatibility; as in Cinder it has no effect (the container is the "
                    "one given with the backup, else id[0:2]/id[2:4]/id)."),
]


def register(conf: cfg.ConfigOpts) -> None:
    """Register the options on ``conf`` (idempotent)."""
    conf.register_opts(posix_opts)


def list_opts():
    """For oslo-config-generator (namespace ``ember.posix``)."""
    return [(None, posix_opts)]
