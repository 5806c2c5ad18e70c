"""S3 repository driver: Cinder's ``s3`` backup layout on any S3-compatible store.

Buckets are containers; object names are Cinder's object-store names
(``volume_<vol>/<TS>/az_<AZ>_backup_<id>-00001``, ``..._metadata``, ``..._sha256file``),
so Cinder's s3 driver and Ember read each other's buckets. Every put and part carries
its Content-MD5 (``backup_s3_md5_validation``), so the server refuses damaged data, and
the SSE-C key when one is configured (then every get needs it too).

Large objects stream through ``open_writer`` as multipart uploads (``ember_s3.writer``);
``put_object`` (documents, small objects) is one request. Objects are read whole, each
bounded by ``backup_s3_object_size``. boto3's retries are off: transient failures
surface as ``TransientDriverError`` and ``ember.wrappers.RetryingDriver`` retries them
``backup_s3_retry_max_attempts`` times (its ``Layout``'s retry policy).
"""

from __future__ import annotations

import base64
import concurrent.futures as cf
import hashlib
import logging
import threading
from typing import BinaryIO, Iterable

from ember import errors
from ember import opts as core_opts
from ember.driver import ChunkedBackupDriver, DriverCapabilities, IterReader, ObjectWriter
from ember.layout import OBJECT_STORE_PREFIX, Layout

from ember_s3 import connection, opts
from ember_s3.errors import redact, translate
from ember_s3.writer import MultipartWriter

LOG = logging.getLogger(__name__)


def content_md5(data) -> str:
    """The Content-MD5 header: base64 of the 16-byte digest."""
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


class S3BackupDriver(ChunkedBackupDriver):
    """Stores backup objects in S3 buckets (one bucket per container)."""

    name = "s3"
    capabilities = DriverCapabilities(max_concurrency=10)

    @classmethod
    def layout(cls, conf) -> Layout:
        """Cinder's s3 names and sizes, from its options (one configured bucket)."""
        conf = opts.register(core_opts.register(conf))
        return Layout(cinder_service="cinder.backup.drivers.s3.S3BackupDriver",
                      object_size=conf.backup_s3_object_size,
                      sha_block_size=conf.backup_s3_block_size,
                      progress_timer=conf.backup_s3_enable_progress_timer,
                      prefix_style=OBJECT_STORE_PREFIX,
                      container=conf.backup_s3_store_bucket,
                      availability_zone=conf.storage_availability_zone,
                      retry=opts.retry_policy(conf))

    def __init__(self, conf):
        super().__init__(opts.register(conf))
        self.settings = connection.Settings.from_conf(conf)
        # as many calls in flight as the client has connections
        self.capabilities = DriverCapabilities(
            max_concurrency=conf.backup_s3_max_pool_connections)
        self._client = None
        self._client_lock = threading.Lock()
        self._part_pool = None

    def describe(self) -> str:
        return "s3 %s" % self.settings.where

    # ---- setup ---------------------------------------------------------------------------
    def check_setup(self) -> None:
        """Refuse what Cinder's setup check refuses (endpoint and keys are required) and
        an SSE-C setting S3 would refuse; then build the client."""
        self.settings.check()
        self.client()

    def client(self):
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self.settings.check()
                    self._client = connection.make_client(self.conf, self.settings)
        return self._client

    def part_pool(self) -> cf.ThreadPoolExecutor:
        """The threads multipart writers upload parts on (one in flight per writer)."""
        if self._part_pool is None:
            with self._client_lock:
                if self._part_pool is None:
                    self._part_pool = cf.ThreadPoolExecutor(
                        self.conf.backup_s3_max_pool_connections, thread_name_prefix="s3-part")
        return self._part_pool

    def close(self) -> None:
        with self._client_lock:
            client, self._client = self._client, None
            pool, self._part_pool = self._part_pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        if client is not None:
            client.close()

    def _error(self, exc, bucket, name=None, missing="object", sse_c=False):
        mapped = translate(exc, where=self.settings.where, bucket=bucket, name=name,
                           missing=missing, sse_c=sse_c)
        message = redact(str(mapped), self.settings.secrets)
        return mapped if message == str(mapped) else type(mapped)(message)

    def _call(self, method: str, bucket: str, name=None, missing="object", sse_c=False,
              **kwargs):
        try:
            return getattr(self.client(), method)(Bucket=bucket, **kwargs)
        except errors.EmberError:
            raise
        except Exception as exc:
            raise self._error(exc, bucket, name, missing, sse_c) from None

    # ---- the five operations ---------------------------------------------------------------
    def ensure_container(self, container: str) -> None:
        try:
            # a listing, not HEAD as Cinder does: its error body tells refused
            # credentials from denied access (HEAD answers both with a bare 403)
            self._call("list_objects_v2", container, missing="bucket", MaxKeys=1)
            return
        except errors.ContainerNotFound:
            if not self.conf.backup_create_containers:
                raise errors.ContainerNotFound(
                    "S3 bucket %s does not exist at %s and backup_create_containers is "
                    "False; create the bucket or allow Ember to"
                    % (container, self.settings.where)) from None
        region = self.client().meta.region_name
        where = ({"CreateBucketConfiguration": {"LocationConstraint": region}}
                 if region and region != "us-east-1" else {})
        try:
            self.client().create_bucket(Bucket=container, **where)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code == "BucketAlreadyOwnedByYou":
                return  # created meanwhile by another thread or process
            if code == "BucketAlreadyExists":
                raise errors.PermanentDriverError(
                    "S3 bucket name %s is taken at %s by another account; choose another "
                    "backup_s3_store_bucket" % (container, self.settings.where)) from None
            raise self._error(exc, container, missing="bucket") from None
        LOG.info("created S3 bucket %s at %s", container, self.settings.where)

    def list_objects(self, container: str, prefix: str = "") -> Iterable[str]:
        names = []
        token = None
        while True:  # materialised here so a failing page raises inside this call, mapped
            page_args = {"Prefix": prefix} if prefix else {}
            if token:
                page_args["ContinuationToken"] = token
            try:
                page = self._call("list_objects_v2", container, missing="bucket", **page_args)
            except errors.ContainerNotFound:
                return []  # the contract: a missing container lists nothing
            names.extend(entry["Key"] for entry in page.get("Contents", ()))
            token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
            if not token:
                return names

    def put_object(self, container: str, name: str, data: bytes) -> None:
        data = bytes(data)
        self._call("put_object", container, name, missing="bucket",
                   sse_c=bool(self.settings.sse_c), Key=name, Body=data,
                   ContentLength=len(data), **self._integrity(data), **self.settings.sse_c)

    def get_object(self, container: str, name: str) -> bytes:
        sse_c = bool(self.settings.sse_c)
        answer = self._call("get_object", container, name, sse_c=sse_c, Key=name,
                            **self.settings.sse_c)
        try:
            # botocore raises IncompleteReadError when fewer bytes than Content-Length came
            return answer["Body"].read()
        except Exception as exc:
            raise self._error(exc, container, name, sse_c=sse_c) from None
        finally:
            answer["Body"].close()

    def open_reader(self, container: str, name: str) -> BinaryIO:
        """The object streamed in 1 MiB chunks, so a caller reading a bounded amount
        (a document's size limit, an object's declared length) never downloads more;
        an error mid-stream maps like one at the start. The stream has a pooled
        connection of its own (boto3 hands it back only once the body is read or
        closed), and one that ends before its ContentLength raises
        ``TransientDriverError``."""
        sse_c = bool(self.settings.sse_c)
        answer = self._call("get_object", container, name, sse_c=sse_c, Key=name,
                            **self.settings.sse_c)
        body = answer["Body"]

        def chunks():
            try:
                yield from body.iter_chunks(1 << 20)
            except Exception as exc:
                raise self._error(exc, container, name, sse_c=sse_c) from None

        return IterReader(chunks(), on_close=body.close, length=answer.get("ContentLength"),
                          what="S3 object %s in bucket %s at %s"
                          % (name, container, self.settings.where))

    def delete_object(self, container: str, name: str) -> None:
        try:
            self._call("delete_object", container, name, Key=name)
        except (errors.ObjectNotFound, errors.ContainerNotFound):
            pass  # already gone (or no bucket): deleting a missing object is no error

    def open_writer(self, container: str, name: str) -> ObjectWriter:
        return MultipartWriter(self, container, name)

    # ---- multipart steps (the writer's, each one request) -------------------------------
    def start_upload(self, container: str, name: str) -> str:
        answer = self._call("create_multipart_upload", container, name, missing="bucket",
                            sse_c=bool(self.settings.sse_c), Key=name, **self.settings.sse_c)
        return answer["UploadId"]

    def upload_part(self, container: str, name: str, upload_id: str, number: int,
                    data: bytes) -> str:
        answer = self._call("upload_part", container, name, sse_c=bool(self.settings.sse_c),
                            Key=name, UploadId=upload_id, PartNumber=number, Body=data,
                            ContentLength=len(data), **self._integrity(data),
                            **self.settings.sse_c)
        return answer["ETag"]

    def complete_upload(self, container: str, name: str, upload_id: str, parts) -> None:
        self._call("complete_multipart_upload", container, name, Key=name,
                   UploadId=upload_id, MultipartUpload={"Parts": list(parts)})

    def abort_upload(self, container: str, name: str, upload_id: str) -> None:
        try:
            self._call("abort_multipart_upload", container, name, Key=name, UploadId=upload_id)
        except errors.ObjectNotFound:
            pass  # NoSuchUpload: already aborted or completed

    def sweep(self, container: str, prefix: str) -> None:
        """Abort the multipart uploads left unfinished under ``prefix`` (a backup that
        failed or was killed mid-object): invisible to listings, their parts are stored
        and billed until aborted. Each page is listed from the start again, as aborted
        uploads leave the listing; a page that aborts nothing new ends it."""
        if not prefix:
            return  # never a whole bucket
        aborted = set()
        while True:
            try:
                page = self._call("list_multipart_uploads", container, missing="bucket",
                                  Prefix=prefix)
            except errors.ContainerNotFound:
                return
            uploads = [(u["Key"], u["UploadId"]) for u in page.get("Uploads", ())
                       if u["Key"].startswith(prefix) and (u["Key"], u["UploadId"])
                       not in aborted]
            for key, upload_id in uploads:
                self.abort_upload(container, key, upload_id)
                aborted.add((key, upload_id))
            if uploads:
                LOG.info("aborted %d unfinished upload(s) under s3://%s/%s", len(uploads),
                         container, prefix)
            if not uploads or not page.get("IsTruncated"):
                return

    def _integrity(self, data) -> dict:
        return {"ContentMD5": content_md5(data)} if self.conf.backup_s3_md5_validation else {}
