"""Options of the S3 driver: Cinder's ``backup_s3_*`` names and defaults, in [DEFAULT].

Imports without boto3, so ``oslo-config-generator`` can list them on a machine without
the SDK. ``backup_s3_part_size`` is Ember's own addition (Cinder uploads every object in
one request); every other option reads as it does in cinder.conf.
"""

from oslo_config import cfg

from ember.layout import RetryPolicy

#: the smallest part S3 accepts in a multipart upload (all but the last)
MIN_PART_SIZE = 5 * 1024 * 1024

s3_opts = [
    cfg.StrOpt("backup_s3_endpoint_url",
               help="The URL where the S3 server is listening, for example "
                    "https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:8333. "
                    "Required."),
    cfg.StrOpt("backup_s3_store_access_key", secret=True,
               help="The S3 access key. Required."),
    cfg.StrOpt("backup_s3_store_secret_key", secret=True,
               help="The S3 secret key. Required."),
    cfg.StrOpt("backup_s3_store_bucket", default="volumebackups",
               help="The S3 bucket backups go to when the user names no container."),
    cfg.IntOpt("backup_s3_object_size", default=52428800, min=1,
               help="The size in bytes of S3 backup objects."),
    cfg.IntOpt("backup_s3_block_size", default=32768, min=1,
               help="The size in bytes that changes are tracked for incremental "
                    "backups. backup_s3_object_size has to be a multiple of "
                    "backup_s3_block_size."),
    cfg.BoolOpt("backup_s3_enable_progress_timer", default=True,
                help="Send a progress notification every backup_timer_interval seconds "
                     "while backing up to S3."),
    cfg.StrOpt("backup_s3_http_proxy", default="",
               help="Address or host of the proxy for http:// endpoints."),
    cfg.StrOpt("backup_s3_https_proxy", default="",
               help="Address or host of the proxy for https:// endpoints."),
    cfg.FloatOpt("backup_s3_timeout", default=60, min=0,
                 help="Seconds to wait for a connection, and for each read, before the "
                      "request fails (and is retried)."),
    cfg.IntOpt("backup_s3_max_pool_connections", default=10, min=1,
               help="Connections kept to the S3 server; also how many requests Ember "
                    "has in flight at once (objects and parts uploaded in parallel)."),
    cfg.IntOpt("backup_s3_retry_max_attempts", default=4, min=0,
               help="Times a failed S3 request is retried (with exponential backoff) "
                    "when the failure is transient: a connection error, a timeout, "
                    "throttling, an HTTP 5xx, or data damaged on the way (BadDigest). "
                    "Ember retries itself; boto3's own retries are off."),
    cfg.StrOpt("backup_s3_retry_mode", default="legacy",
               choices=["legacy", "standard", "adaptive"],
               help="boto3's retry mode. Ember retries itself (see "
                    "backup_s3_retry_max_attempts) whatever the mode; adaptive still "
                    "turns on boto3's client-side rate limiting."),
    cfg.BoolOpt("backup_s3_verify_ssl", default=True,
                help="Verify the server's TLS certificate."),
    cfg.StrOpt("backup_s3_ca_cert_file",
               help="path/to/cert/bundle.pem - the CA bundle to verify the server's "
                    "certificate with (default: the system's bundle)."),
    cfg.BoolOpt("backup_s3_md5_validation", default=True,
                help="Send the Content-MD5 of every object and part, so the server "
                     "refuses data damaged on the way (and Ember sends it again)."),
    cfg.StrOpt("backup_s3_sse_customer_key", secret=True,
               help="The SSE-C key (32 bytes for AES256): every object is stored "
                    "encrypted with it, and reading needs it. "
                    "backup_s3_sse_customer_algorithm must be set too."),
    cfg.StrOpt("backup_s3_sse_customer_algorithm",
               help="The SSE-C algorithm, AES256. backup_s3_sse_customer_key must be "
                    "set too."),
    cfg.IntOpt("backup_s3_part_size", default=8 * 1024 * 1024, min=MIN_PART_SIZE,
               help="Objects larger than this many bytes are uploaded as multipart "
                    "uploads in parts of this size, streamed: Ember never holds such an "
                    "object whole in memory. Not a Cinder option."),
]


def register(conf: cfg.ConfigOpts) -> cfg.ConfigOpts:
    """Register the S3 options in [DEFAULT] of ``conf`` (idempotent)."""
    conf.register_opts(s3_opts)
    return conf


def retry_policy(conf) -> RetryPolicy:
    """``backup_s3_retry_max_attempts`` counts retries (as boto3's ``max_attempts``
    does), the policy counts tries: one more. The loader's retry wrapper and the
    multipart writer's per-part retries both follow it."""
    return RetryPolicy(attempts=conf.backup_s3_retry_max_attempts + 1, backoff=1.0)


def list_opts():
    """For oslo-config-generator (namespace ``ember.s3``)."""
    return [("DEFAULT", s3_opts)]
