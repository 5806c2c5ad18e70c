"""Options of the GCS driver: Cinder's ``backup_gcs_*`` names and defaults, in [DEFAULT].

Imports without google-cloud-storage, so ``oslo-config-generator`` can list them on a
machine without the SDK. ``backup_gcs_endpoint_url`` is Ember's own addition (emulators
and private endpoints); every other option reads as it does in cinder.conf.
"""

from oslo_config import cfg

gcs_opts = [
    cfg.StrOpt("backup_gcs_bucket",
               help="The GCS bucket backups go to when the user names no container. "
                    "Required."),
    cfg.IntOpt("backup_gcs_object_size", default=52428800, min=1,
               help="The size in bytes of GCS backup objects."),
    cfg.IntOpt("backup_gcs_block_size", default=32768, min=1,
               help="The size in bytes that changes are tracked for incremental "
                    "backups. backup_gcs_object_size has to be a multiple of "
                    "backup_gcs_block_size."),
    cfg.IntOpt("backup_gcs_reader_chunk_size", default=2097152,
               help="Bytes per ranged read when an object is streamed back (at least "
                    "8 MiB are read per request whatever this says)."),
    cfg.IntOpt("backup_gcs_writer_chunk_size", default=2097152,
               help="Objects are uploaded as resumable uploads in chunks of this many "
                    "bytes (a multiple of 262144), but at least 8 MiB per request. -1 "
                    "sends each object in one chunk (held whole in memory)."),
    cfg.IntOpt("backup_gcs_num_retries", default=3, min=0,
               help="Times a failed GCS request is retried (with exponential backoff) "
                    "when the failure is transient: a connection error, a timeout, an "
                    "HTTP 5xx or a status in backup_gcs_retry_error_codes."),
    cfg.ListOpt("backup_gcs_retry_error_codes", default=["429"],
                help="HTTP statuses below 500 that count as transient and are retried."),
    cfg.StrOpt("backup_gcs_bucket_location", default="US",
               help="Location of buckets Ember creates."),
    cfg.StrOpt("backup_gcs_storage_class", default="NEARLINE",
               help="Storage class of buckets Ember creates."),
    cfg.StrOpt("backup_gcs_credential_file",
               help="Absolute path of the GCS service-account JSON key file. Required "
                    "unless backup_gcs_endpoint_url (or STORAGE_EMULATOR_HOST) names an "
                    "endpoint, which is then used without credentials."),
    cfg.StrOpt("backup_gcs_project_id",
               help="Owner project id of buckets Ember creates. Required unless an "
                    "endpoint is set."),
    cfg.StrOpt("backup_gcs_user_agent", default="gcscinder",
               help="HTTP user-agent string sent to the GCS API."),
    cfg.BoolOpt("backup_gcs_enable_progress_timer", default=True,
                help="Send a progress notification every backup_timer_interval seconds "
                     "while backing up to GCS."),
    cfg.URIOpt("backup_gcs_proxy_url", secret=True,
               help="URL of an HTTP proxy for GCS requests (used by this driver's "
                    "session only; the process environment is left alone)."),
    cfg.URIOpt("backup_gcs_endpoint_url",
               help="GCS JSON API endpoint, for emulators and private endpoints, for "
                    "example http://127.0.0.1:4443. Unset: the STORAGE_EMULATOR_HOST "
                    "environment variable if set, else Google's endpoint. Not a Cinder "
                    "option."),
]


def register(conf: cfg.ConfigOpts) -> cfg.ConfigOpts:
    """Register the GCS options in [DEFAULT] of ``conf`` (idempotent)."""
    conf.register_opts(gcs_opts)
    return conf


def list_opts():
    """For oslo-config-generator (namespace ``ember.gcs``)."""
    return [("DEFAULT", gcs_opts)]
