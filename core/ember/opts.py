"""Core configuration options, named and defaulted as in cinder.conf.

An operator's ``[DEFAULT]`` backup settings carry over unchanged. Options Cinder has
but a single-host tool has no use for are still registered (so ``cinder.conf`` loads
and the sample config lists them) and say so in their help. Each plugin registers its
own options from its own ``opts.py``; ``list_opts()`` here lists only the core's.
"""

import os
import socket

from oslo_config import cfg

COMPRESSION_CHOICES = ("none", "off", "no", "zlib", "gzip", "bz2", "bzip2", "zstd")
#: the driver plugins the Ember project ships, each the distribution ember-backup-<name>
#: (what ``backup_driver``'s help lists, and what "pip install" is suggested for)
SHIPPED_DRIVERS = ("posix", "nfs", "glusterfs", "swift", "gcs", "s3")
_COMPAT = " (Accepted for cinder.conf compatibility; Ember does not use it.)"


def _default_state_path() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "ember")


core_opts = [
    cfg.StrOpt("state_path", default=_default_state_path(),
               sample_default="~/.local/share/ember",
               help="Top-level directory for Ember's state: the SQLite catalogue, "
                    "volume images and the default posix repository."),
    cfg.StrOpt("host", default=socket.gethostname(), sample_default="<hostname>",
               help="Name of this host, recorded on backups and in notifications."),
    cfg.IntOpt("report_interval", default=10, min=1,
               help="Seconds between a service's heartbeats in the services table."),
    cfg.IntOpt("service_down_time", default=60, min=1,
               help="A service whose last heartbeat is older than this many seconds is "
                    "shown down."),
    cfg.IntOpt("scheduler_interval", default=20, min=1,
               help="Seconds between two passes of ember-scheduler over the backup "
                    "policies (and between renewals of its lease)."),
    cfg.IntOpt("scheduler_lease_time", default=90, min=2,
               help="Seconds the active ember-scheduler holds its lease in the catalogue "
                    "without renewing it; another takes over once it runs out. Keep it "
                    "well above scheduler_interval."),
    cfg.IntOpt("backup_max_age", default=26 * 3600, min=60,
               help="Seconds after which a volume's newest available backup is late: the "
                    "dashboard shows it amber, and red at twice this age. A volume under a "
                    "backup policy is judged by its policy's schedule instead."),
    cfg.StrOpt("storage_availability_zone", default="nova",
               help="Availability zone of this backup service; part of object-store "
                    "object names (az_<zone>)."),
]

backup_opts = [
    cfg.StrOpt("backup_driver", default="posix",
               help="Repository driver: an entry point name of the group "
                    "ember.backup.drivers (%s, each installed as the distribution "
                    "ember-backup-<name>) or Cinder's class path for it (for example "
                    "cinder.backup.drivers.nfs.NFSBackupDriver)."
                    % ", ".join(SHIPPED_DRIVERS)),
    cfg.StrOpt("backup_compression_algorithm", default="zlib",
               choices=COMPRESSION_CHOICES, ignore_case=True,
               help="Compression for new backup objects. gzip means a zlib stream, as in "
                    "Cinder. Objects compression does not shrink are stored raw."),
    cfg.IntOpt("backup_file_size", default=1999994880, min=1,
               help="Posix-family object size in bytes (also the read size). Must be a "
                    "multiple of backup_sha_block_size_bytes."),
    cfg.IntOpt("backup_sha_block_size_bytes", default=32768, min=1,
               help="Size of the blocks whose SHA-256 digests incremental backups compare."),
    cfg.BoolOpt("backup_enable_progress_timer", default=True,
                help="Send a progress notification every backup_timer_interval seconds "
                     "(posix family)."),
    cfg.BoolOpt("backup_create_containers", default=True,
                help="Create missing containers, buckets and directories. When False a "
                     "missing one fails the backup."),
    cfg.IntOpt("backup_metadata_version", default=2,
               help="Version of the volume metadata (volume_meta) written into backups."),
    cfg.IntOpt("backup_object_number_per_notification", default=10, min=1,
               help="Send a progress notification every this many objects."),
    cfg.IntOpt("backup_timer_interval", default=120, min=1,
               help="Seconds between timer progress notifications."),
    cfg.IntOpt("backup_max_operations", default=15, min=0,
               help="Backups and restores an ember-backup worker runs at once (0 = "
                    "unlimited); a worker running this many takes no more work until one "
                    "ends."),
    cfg.BoolOpt("backup_retry_dead_work", default=True,
                help="A backup or restore whose ember-backup worker died is started again "
                     "from the beginning on a live worker that can reach its volume (the "
                     "dead attempt's objects removed first; fail_reason records each "
                     "attempt). When False, or after backup_retry_dead_work_attempts "
                     "attempts, it ends as Cinder ends it: a backup in error, a restore "
                     "with its volume error_restoring."),
    cfg.IntOpt("backup_retry_dead_work_attempts", default=3, min=1,
               help="Attempts a backup or restore gets in all when its workers die "
                    "(backup_retry_dead_work)."),
    cfg.BoolOpt("backup_use_same_host", default=False,
                help="Send the backups and restores of every volume to the ember-backup "
                     "worker of the volume's own host, even when the volume lies under "
                     "backup_shared_volume_paths. A volume on a host's local disk always "
                     "goes to that host's worker."),
    cfg.ListOpt("backup_shared_volume_paths", default=[],
                help="Directories mounted at the same path on every host that runs "
                     "ember-backup (shared storage). The backups and restores of a volume "
                     "under one of them may run on any live worker; any other volume's "
                     "work runs on its own host's worker."),
    cfg.IntOpt("backup_driver_init_check_interval", default=60, min=5, help=_COMPAT.strip()),
    cfg.IntOpt("backup_driver_stats_polling_interval", default=60, min=10,
               deprecated_name="backup_driver_status_check_interval", help=_COMPAT.strip()),
    cfg.BoolOpt("backup_service_inithost_offload", default=True, help=_COMPAT.strip()),
    cfg.IntOpt("backup_native_threads_pool_size", default=60, min=20, help=_COMPAT.strip()),
    cfg.IntOpt("backup_workers", default=1, min=1, help=_COMPAT.strip()),
    cfg.BoolOpt("backup_use_temp_snapshot", default=False,
                help="Ember always reads in-use volumes from a temporary snapshot." + _COMPAT),
    cfg.StrOpt("backup_api_class", default="cinder.backup.api.API", help=_COMPAT.strip()),
    cfg.StrOpt("backup_manager", default="cinder.backup.manager.BackupManager",
               help=_COMPAT.strip()),
    cfg.StrOpt("backup_name_template", default="backup-%s", help=_COMPAT.strip()),
    cfg.IntOpt("quota_backups", default=10, min=-1,
               help="Number of volume backups allowed per project (-1: unlimited); a "
                    "project's own quota set overrides it."),
    cfg.IntOpt("quota_backup_gigabytes", default=1000, min=-1,
               help="Total size in GiB of the backups allowed per project (-1: "
                    "unlimited); a project's own quota set overrides it."),
    cfg.IntOpt("quota_volumes", default=10, min=-1,
               help="Number of volumes allowed per project, the new volumes of restores "
                    "included (-1: unlimited); a project's own quota set overrides it."),
    cfg.IntOpt("quota_snapshots", default=10, min=-1,
               help="Number of snapshots allowed per project (-1: unlimited); a project's "
                    "own quota set overrides it."),
    cfg.IntOpt("quota_gigabytes", default=1000, min=-1,
               help="Total size in GiB of the volumes and snapshots allowed per project "
                    "(-1: unlimited); a project's own quota set overrides it."),
]

#: Ember's own engine options (not in cinder.conf; defaults need no tuning)
engine_opts = [
    cfg.IntOpt("backup_compression_level", min=-7, max=22,
               help="Compression level for new objects; unset means the codec's default "
                    "(zlib 6, bz2 9, zstd 3, as Cinder). zlib levels 1-6 run on ISA-L "
                    "(the isal package) at the ISA-L level of nearest ratio (1->1, 2-3->2, "
                    "4-6->3; so unset means ISA-L 3, about 7x faster than zlib 6 for about "
                    "2 percent more bytes); 0 and 7-9 run on the stdlib zlib. Levels 4-9 "
                    "judge each 16 KiB of data by a sample and compress all that "
                    "compresses (stored bytes within 2 percent of Cinder's on mixed data); "
                    "1-3 are the fast levels: a 4 MiB piece whose first 64 KiB does not "
                    "compress is stored whole (less CPU on random data, but on mixed data "
                    "up to about 25 percent more bytes). zstd 1 takes "
                    "about 30 percent less CPU than the default 3 for a whole backup and half "
                    "its memory, for about 5 percent more bytes (text compresses 2.36:1 "
                    "instead of 2.75:1); levels below 1 gain no speed here and store about 20 "
                    "percent more than 1. The level is not recorded in the repository, so any "
                    "value stays readable by Cinder."),
    cfg.StrOpt("restore_verify", default="sha256", choices=("sha256", "md5", "both"),
               help="How a restore checks what it wrote. sha256: every block of the "
                    "restored volume against the backup's _sha256file (the final image, "
                    "end to end, in parallel; blocks the list says are zero are not even "
                    "read on a new volume); the objects' md5s are not computed. md5: the "
                    "md5 of every object read, one stream per object (also used when a "
                    "backup has no _sha256file). both: the two."),
    cfg.IntOpt("backup_engine_threads", default=0, min=0,
               help="Worker threads of the backup/restore pipeline (reading, hashing, "
                    "compression, uploads overlap). 0 means the number of CPUs."),
    cfg.BoolOpt("backup_change_tracking", default=True,
                help="On a file system that can reflink (XFS with reflink, btrfs), read "
                     "every backup of an image file from a reflink clone made when it "
                     "starts, and keep that clone afterwards; the next incremental then "
                     "reads and hashes only the extents that differ between the two "
                     "clones. A clone costs only the space of the blocks written since. "
                     "Anywhere else backups read everything, and say why."),
    cfg.StrOpt("backup_change_tracking_dir", default="$state_path/cbt",
               help="Where the clones of change tracking are kept; it must be on the same "
                    "file system as the volumes."),
]

database_opts = [
    cfg.StrOpt("connection", secret=True,
               sample_default="sqlite:///$state_path/ember.sqlite",
               help="SQLAlchemy URL of the catalogue. Default: SQLite (WAL) at "
                    "$state_path/ember.sqlite. PostgreSQL and MariaDB/MySQL work too."),
    cfg.BoolOpt("auto_migrate", default=True,
                help="Whether a process that opens a catalogue with an older schema "
                     "upgrades it (one process at a time, under a database lock). Off: it "
                     "refuses to start until `ember-manage db sync` has upgraded it."),
    cfg.IntOpt("db_max_retries", default=20, min=-1,
               help="How many times a write that takes a row out of a busy status (a "
                    "backup, restore or delete ending) is tried again while the database "
                    "cannot be reached; -1: without end. After that the row is handed to "
                    "crash repair."),
    cfg.FloatOpt("db_retry_interval", default=1.0, min=0.01,
                 help="Seconds before the first retry of such a write; doubled each time."),
    cfg.FloatOpt("db_max_retry_interval", default=10.0, min=0.01,
                 help="The longest wait between two retries of such a write."),
]


def register(conf: cfg.ConfigOpts) -> cfg.ConfigOpts:
    """Register the core options on ``conf`` (idempotent) and return it."""
    conf.register_opts(core_opts)
    conf.register_opts(backup_opts)
    conf.register_opts(engine_opts)
    conf.register_opts(database_opts, group="database")
    return conf


def list_opts():
    """For oslo-config-generator (namespace ``ember``)."""
    return [(None, core_opts + backup_opts + engine_opts), ("database", database_opts)]
