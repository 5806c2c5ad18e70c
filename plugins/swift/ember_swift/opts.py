"""Every option of Cinder's Swift backup driver, in [DEFAULT], with Cinder's defaults.

This module imports without python-swiftclient, so ``oslo-config-generator`` can list
the options on a machine where the driver is not usable.
"""

from oslo_config import cfg

_COMPAT = " (Accepted for cinder.conf compatibility; Ember does not use it.)"

swift_opts = [
    cfg.URIOpt("backup_swift_url",
               help="per_user mode: the storage URL without the project id (for example "
                    "http://swift:8080/v1/AUTH_); the project id is appended. Ember takes "
                    "the project id from OS_PROJECT_ID. OS_STORAGE_URL, when set, is used "
                    "as the whole storage URL instead."),
    cfg.URIOpt("backup_swift_auth_url",
               help="single_user mode: the authentication endpoint (tempauth "
                    "http://host:8080/auth/v1.0, or Keystone for versions 2 and 3)."),
    cfg.StrOpt("swift_catalog_info", default="object-store:swift:publicURL",
               help="<service_type>:<service_name>:<endpoint_type> of Swift in a Keystone "
                    "service catalog; Cinder uses it when backup_swift_url is unset." + _COMPAT),
    cfg.StrOpt("keystone_catalog_info", default="identity:Identity Service:publicURL",
               help="<service_type>:<service_name>:<endpoint_type> of Keystone in a service "
                    "catalog; Cinder uses it when backup_swift_auth_url is unset." + _COMPAT),
    cfg.StrOpt("backup_swift_auth", default="per_user", choices=["per_user", "single_user"],
               help="per_user: use the caller's token and storage URL (Ember reads "
                    "OS_AUTH_TOKEN and OS_STORAGE_URL from the environment). single_user: "
                    "authenticate as backup_swift_user at backup_swift_auth_url."),
    cfg.StrOpt("backup_swift_auth_version", default="1",
               help='Authentication API version for single_user mode: "1" (tempauth/swauth), '
                    '"2" or "3" (Keystone; needs python-keystoneclient, the extra '
                    '"ember-backup-swift[keystone]").'),
    cfg.StrOpt("backup_swift_tenant",
               help="Tenant (account) name; needed with auth version 2."),
    cfg.StrOpt("backup_swift_user_domain",
               help="User domain name; needed with auth version 3."),
    cfg.StrOpt("backup_swift_project_domain",
               help="Project domain name; needed with auth version 3."),
    cfg.StrOpt("backup_swift_project",
               help="Project (account) name; needed with auth version 3."),
    cfg.StrOpt("backup_swift_user",
               help="User name for single_user mode (tempauth: account:user)."),
    cfg.StrOpt("backup_swift_key", secret=True,
               help="Password or key of backup_swift_user."),
    cfg.StrOpt("backup_swift_container", default="volumebackups",
               help="Container used when a backup names none."),
    cfg.StrOpt("backup_swift_create_storage_policy",
               help="Storage policy (X-Storage-Policy) for containers Ember creates; an "
                    "existing container keeps its policy."),
    cfg.IntOpt("backup_swift_object_size", default=52428800, min=1,
               help="Bytes of volume per backup object. Must be a multiple of "
                    "backup_swift_block_size."),
    cfg.IntOpt("backup_swift_block_size", default=32768, min=1,
               help="Bytes per SHA-256 block that incremental backups compare."),
    cfg.IntOpt("backup_swift_retry_attempts", default=3, min=0,
               help="How many times a failed Swift request that may succeed later (5xx, "
                    "timeout, connection error) is retried."),
    cfg.IntOpt("backup_swift_retry_backoff", default=2, min=0,
               help="Seconds before the first retry; doubled for each further one."),
    cfg.BoolOpt("backup_swift_enable_progress_timer", default=True,
                help="Send a progress notification every backup_timer_interval seconds "
                     "while backing up to Swift."),
    cfg.StrOpt("backup_swift_ca_cert_file",
               help="CA certificate bundle for verifying an https Swift or Keystone."),
    cfg.BoolOpt("backup_swift_auth_insecure", default=False,
                help="Do not verify the server certificate over https."),
    cfg.BoolOpt("backup_swift_service_auth", default=False,
                help="Send an X-Service-Token with service credentials (needs Cinder's "
                     "[service_user] section)." + _COMPAT),
    cfg.StrOpt("backup_swift_region_name",
               help="Region used to pick the Swift endpoint from a service catalog." + _COMPAT),
]


def register(conf):
    """Register the Swift options in [DEFAULT] of ``conf`` (idempotent); returns conf."""
    conf.register_opts(swift_opts)
    return conf


def list_opts():
    """For oslo-config-generator (entry point ``ember.swift``)."""
    return [("DEFAULT", swift_opts)]
