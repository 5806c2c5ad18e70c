"""Where the S3 driver connects and as whom: endpoint, keys, SSE-C, and the one boto3
client every thread shares (boto3 documents low-level clients as thread safe; its
connection pool holds ``backup_s3_max_pool_connections`` sockets).

boto3 is configured as Cinder configures it (timeouts, pool, proxies, TLS
verification), with two differences: its retries are off (``total_max_attempts`` 1;
Ember's ``RetryingDriver`` retries instead, so there is one retry loop), and it adds no
checksum of its own to requests or checks one on answers unless the operation demands
it (boto3 from 1.36 on would otherwise add CRC32 trailers that many S3-compatible
servers refuse): the Content-MD5 that ``backup_s3_md5_validation`` sends is the check,
as in Cinder.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Optional

from ember import errors

LOG = logging.getLogger(__name__)

SSE_C_ALGORITHMS = ("AES256",)
SSE_C_KEY_BYTES = 32


@dataclass(frozen=True)
class Settings:
    """The connection-relevant options, resolved once."""

    endpoint: Optional[str]
    access_key: Optional[str]
    secret_key: Optional[str]
    sse_key: Optional[str]
    sse_algorithm: Optional[str]

    @property
    def where(self) -> str:
        """The endpoint for messages."""
        return self.endpoint or "(no backup_s3_endpoint_url)"

    @property
    def secrets(self) -> tuple:
        return (self.access_key, self.secret_key, self.sse_key)

    @property
    def sse_c(self) -> dict:
        """The SSE-C arguments of every put, part and get (empty without SSE-C)."""
        if self.sse_key and self.sse_algorithm:
            return {"SSECustomerAlgorithm": self.sse_algorithm,
                    "SSECustomerKey": self.sse_key}
        return {}

    @classmethod
    def from_conf(cls, conf) -> "Settings":
        endpoint = conf.backup_s3_endpoint_url
        return cls(endpoint=endpoint.rstrip("/") if endpoint else None,
                   access_key=conf.backup_s3_store_access_key or None,
                   secret_key=conf.backup_s3_store_secret_key or None,
                   sse_key=conf.backup_s3_sse_customer_key or None,
                   sse_algorithm=conf.backup_s3_sse_customer_algorithm or None)

    def check(self) -> None:
        """Raise ``ConfigError`` for what Cinder's setup check refuses (endpoint and both
        keys are required), and for an SSE-C setting S3 would refuse or that would
        silently store data unencrypted (Cinder only warns for half a setting)."""
        for option, value in (("backup_s3_endpoint_url", self.endpoint),
                              ("backup_s3_store_access_key", self.access_key),
                              ("backup_s3_store_secret_key", self.secret_key)):
            if not value:
                raise errors.ConfigError("%s is not set; the S3 driver needs the endpoint "
                                         "URL, access key and secret key" % option)
        if bool(self.sse_key) != bool(self.sse_algorithm):
            missing, given = (("backup_s3_sse_customer_key", "backup_s3_sse_customer_algorithm")
                              if self.sse_algorithm else
                              ("backup_s3_sse_customer_algorithm", "backup_s3_sse_customer_key"))
            raise errors.ConfigError("%s is set but %s is not; set both to encrypt with "
                                     "SSE-C, or neither" % (given, missing))
        if self.sse_algorithm and self.sse_algorithm not in SSE_C_ALGORITHMS:
            raise errors.ConfigError("backup_s3_sse_customer_algorithm %s is not one S3 "
                                     "knows; use AES256" % self.sse_algorithm)
        if self.sse_key and len(self.sse_key.encode("utf-8")) != SSE_C_KEY_BYTES:
            raise errors.ConfigError("backup_s3_sse_customer_key is %d bytes long; AES256 "
                                     "needs a key of exactly %d bytes"
                                     % (len(self.sse_key.encode("utf-8")), SSE_C_KEY_BYTES))


def make_client(conf, settings: Settings):
    """The boto3 S3 client for ``conf`` (see the module doc)."""
    import boto3
    from botocore.config import Config

    config_args = dict(
        connect_timeout=conf.backup_s3_timeout,
        read_timeout=conf.backup_s3_timeout,
        max_pool_connections=conf.backup_s3_max_pool_connections,
        retries={"total_max_attempts": 1, "mode": conf.backup_s3_retry_mode},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    proxies = {}
    if conf.backup_s3_http_proxy:
        proxies["http"] = conf.backup_s3_http_proxy
    if conf.backup_s3_https_proxy:
        proxies["https"] = conf.backup_s3_https_proxy
    if proxies:
        config_args["proxies"] = proxies
    if conf.backup_s3_verify_ssl:
        verify = conf.backup_s3_ca_cert_file or None  # None: the default CA bundle
    else:
        verify = False
        # said once here, not by urllib3 on stderr at every request
        LOG.warning("backup_s3_verify_ssl is False: the certificate of %s is not checked",
                    settings.where)
        from urllib3.exceptions import InsecureRequestWarning
        warnings.filterwarnings("ignore", category=InsecureRequestWarning)
    # a session of our own: the process-wide default session is not thread safe
    session = boto3.session.Session()
    return session.client(
        "s3", endpoint_url=settings.endpoint, aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key, verify=verify,
        config=Config(**config_args))
