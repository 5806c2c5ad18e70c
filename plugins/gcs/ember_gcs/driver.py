"""Google Cloud Storage repository driver: Cinder's ``gcs`` backup layout on the GCS JSON API.

Buckets are containers; object names are Cinder's object-store names
(``volume_<vol>/<TS>/az_<AZ>_backup_<id>-00001``), so Cinder and Ember read each other's
GCS backups. Every upload is checked the way Cinder checks it: the ``md5Hash`` the server
returns must equal the MD5 of the bytes sent. Whole-object downloads are checked against
the object's MD5 by the client library.

The library's own retries are switched off (``retry=None`` on every call): transient
failures surface as ``TransientDriverError`` and ``ember.wrappers.RetryingDriver``
retries them, ``backup_gcs_num_retries`` times (its ``Layout``'s retry policy).
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import threading
from typing import BinaryIO, Iterable

from ember import errors
from ember import opts as core_opts
from ember.driver import ChunkedBackupDriver, DriverCapabilities, ObjectWriter, short_read_error
from ember.layout import OBJECT_STORE_PREFIX, Layout, RetryPolicy

from ember_gcs import connection, opts
from ember_gcs.errors import translate

LOG = logging.getLogger(__name__)

CONTENT_TYPE = "application/octet-stream"
#: resumable upload chunks must be multiples of this (a GCS rule)
CHUNK_GRANULE = 256 * 1024
#: streamed uploads and downloads move at least this much per request: Cinder's 2 MiB
#: default would cost a round trip per 2 MiB; 8 writers hold at most 8 of these
STREAM_CHUNK = 8 << 20


def md5_base64(data: bytes) -> str:
    """MD5 as GCS reports it in ``md5Hash``: base64 of the 16-byte digest."""
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


class GoogleBackupDriver(ChunkedBackupDriver):
    """Stores backup objects in GCS buckets (one bucket per container)."""

    name = "gcs"
    capabilities = DriverCapabilities(max_concurrency=8)

    @classmethod
    def layout(cls, conf) -> Layout:
        """Cinder's gcs names and sizes, from its options; the bucket must be set
        unless the user names a container."""
        conf = opts.register(core_opts.register(conf))
        return Layout(cinder_service="cinder.backup.drivers.gcs.GoogleBackupDriver",
                      object_size=conf.backup_gcs_object_size,
                      sha_block_size=conf.backup_gcs_block_size,
                      progress_timer=conf.backup_gcs_enable_progress_timer,
                      prefix_style=OBJECT_STORE_PREFIX,
                      container=conf.backup_gcs_bucket or "",
                      container_unset="backup_gcs_bucket is not set; name the bucket for "
                                      "GCS backups in the configuration or pass a container",
                      availability_zone=conf.storage_availability_zone,
                      retry=RetryPolicy(attempts=conf.backup_gcs_num_retries + 1,
                                        backoff=1.0))

    def __init__(self, conf):
        super().__init__(opts.register(conf))
        self.settings = connection.Settings.from_conf(conf)
        self._pool = None
        self._pool_lock = threading.Lock()

    def describe(self) -> str:
        return "gcs %s" % self.settings.where

    # ---- setup ---------------------------------------------------------------------------
    def check_setup(self) -> None:
        """Refuse what Cinder's setup check refuses (bucket, credential file and project
        are required, the last two unless an endpoint is set), an unusable key file and
        a writer chunk size GCS would reject."""
        if not self.conf.backup_gcs_bucket:
            raise errors.ConfigError("backup_gcs_bucket is not set; name the bucket for GCS "
                                     "backups")
        self.settings.check()
        chunk = self.conf.backup_gcs_writer_chunk_size
        if chunk != -1 and (chunk <= 0 or chunk % CHUNK_GRANULE):
            raise errors.ConfigError(
                "backup_gcs_writer_chunk_size %d is not -1 or a positive multiple of %d "
                "(a GCS rule for resumable uploads)" % (chunk, CHUNK_GRANULE))
        self._clients()

    def _clients(self) -> connection.ClientPool:
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    credentials = connection.load_credentials(self.settings)
                    self._pool = connection.ClientPool(self.settings, credentials)
        return self._pool

    def _client(self):
        return self._clients().get()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    def _error(self, exc, bucket, name=None, missing="object"):
        return translate(exc, where=self.settings.where, bucket=bucket, name=name,
                         retry_codes=tuple(self.conf.backup_gcs_retry_error_codes),
                         missing=missing)

    # ---- the five operations ---------------------------------------------------------------
    def ensure_container(self, container: str) -> None:
        from google.api_core import exceptions as api

        client = self._client()
        try:
            client.get_bucket(container, retry=None)
            return
        except api.NotFound:
            pass
        except Exception as exc:
            raise self._error(exc, container, missing="bucket") from exc
        if not self.conf.backup_create_containers:
            raise errors.ContainerNotFound(
                "GCS bucket %s does not exist at %s and backup_create_containers is False; "
                "create the bucket or allow Ember to" % (container, self.settings.where))
        bucket = client.bucket(container)
        bucket.storage_class = self.conf.backup_gcs_storage_class
        try:
            client.create_bucket(bucket, location=self.conf.backup_gcs_bucket_location,
                                 retry=None)
        except api.Conflict:
            # created meanwhile by another thread or process, or owned by someone else
            try:
                client.get_bucket(container, retry=None)
            except Exception as exc:
                raise errors.PermanentDriverError(
                    "GCS bucket name %s is taken at %s by a bucket this account cannot "
                    "use; choose another backup_gcs_bucket" % (container, self.settings.where)
                ) from exc
        except Exception as exc:
            raise self._error(exc, container, missing="bucket") from exc
        LOG.info("created GCS bucket %s at %s (%s, %s)", container, self.settings.where,
                 self.conf.backup_gcs_bucket_location, self.conf.backup_gcs_storage_class)

    def list_objects(self, container: str, prefix: str = "") -> Iterable[str]:
        from google.api_core import exceptions as api

        try:
            # materialised here so a failing page raises inside this call, mapped
            return [blob.name for blob in self._client().list_blobs(
                container, prefix=prefix or None, fields="items(name),nextPageToken",
                retry=None)]
        except api.NotFound:
            return []  # the contract: a missing container lists nothing
        except Exception as exc:
            raise self._error(exc, container, missing="bucket") from exc

    def put_object(self, container: str, name: str, data: bytes) -> None:
        data = bytes(data)
        blob = self._client().bucket(container).blob(name, chunk_size=self._writer_chunk())
        try:
            self._upload(blob, data)
        except Exception as exc:
            raise self._error(exc, container, name, missing="bucket") from exc
        expected = md5_base64(data)
        if blob.md5_hash != expected:
            self._discard(blob)
            raise errors.TransientDriverError(
                "GCS gs://%s/%s at %s: the server reports MD5 %s for the upload, the data "
                "sent has %s; the object was removed, upload it again"
                % (container, name, self.settings.where, blob.md5_hash, expected))

    def get_object(self, container: str, name: str) -> bytes:
        blob = self._client().bucket(container).blob(name)
        try:
            # one request; the library compares the bytes with the X-Goog-Hash MD5
            return download(blob, checksum="md5")
        except Exception as exc:
            raise self._error(exc, container, name) from exc

    def delete_object(self, container: str, name: str) -> None:
        from google.api_core import exceptions as api

        try:
            self._client().bucket(container).blob(name).delete(retry=None)
        except api.NotFound:
            pass  # already gone (or no bucket): deleting a missing object is no error
        except Exception as exc:
            raise self._error(exc, container, name) from exc

    def open_writer(self, container: str, name: str) -> ObjectWriter:
        """A resumable upload fed as the data is produced, in chunks of
        ``backup_gcs_writer_chunk_size`` (at least 8 MiB; -1: the whole object in one
        chunk); GCS makes the object visible only when the last chunk arrives, and checks
        the MD5 of everything sent against what it stored."""
        return _GcsWriter(self, container, name)

    def open_reader(self, container: str, name: str) -> BinaryIO:
        """The object in ranged reads of ``backup_gcs_reader_chunk_size`` (at least
        8 MiB), all of one generation; the engine checks the md5 of what it reads. The
        first read is the first request: an object smaller than one read (every object
        of an incremental, most often) costs one round trip, not a metadata request too."""
        bucket = self._client().bucket(container)
        chunk = max(self.conf.backup_gcs_reader_chunk_size, STREAM_CHUNK)
        first = bucket.blob(name)
        try:
            head = download(first, start=0, end=chunk - 1, checksum=None)
        except Exception as exc:
            if getattr(exc, "code", None) == 416:  # no byte 0: an empty object
                return io.BytesIO(b"")
            raise self._error(exc, container, name) from exc
        if len(head) < chunk:
            # the whole object: a body cut short of its Content-Length raises, never shortens
            return io.BytesIO(head)
        try:  # larger: its size, so no read asks past its end, of the generation just read
            blob = bucket.get_blob(name, generation=first.generation, retry=None)
        except Exception as exc:
            raise self._error(exc, container, name) from exc
        if blob is None:
            raise errors.ObjectNotFound("GCS object gs://%s/%s (generation %s) is gone at %s"
                                        % (container, name, first.generation,
                                           self.settings.where))
        # that generation, at the configured endpoint: not the mediaLink the server
        # names, which an emulator or a private endpoint may not make reachable
        pinned = bucket.blob(name, generation=blob.generation)
        return _GcsReader(self, pinned, blob.size, chunk, head, container, name)

    # ---- helpers ---------------------------------------------------------------------------
    def _writer_chunk(self):
        chunk = self.conf.backup_gcs_writer_chunk_size
        return None if chunk == -1 else chunk

    def _stream_chunk(self) -> int:
        chunk = self.conf.backup_gcs_writer_chunk_size
        if chunk == -1:
            chunk = self.conf.backup_gcs_object_size  # one chunk: the whole object (-1)
        chunk = max(chunk, STREAM_CHUNK)
        return -(-chunk // CHUNK_GRANULE) * CHUNK_GRANULE

    def _upload(self, blob, data: bytes) -> None:
        """Upload ``data``; afterwards ``blob.md5_hash`` holds what the server stored.
        (Objects up to 8 MiB go in one multipart request, larger ones resumable in
        ``backup_gcs_writer_chunk_size`` chunks; GCS makes either visible only whole.)"""
        blob.upload_from_string(data, content_type=CONTENT_TYPE, retry=None)

    def _discard(self, blob) -> None:
        """Remove an object whose upload arrived damaged (only that generation)."""
        try:
            blob.delete(if_generation_match=blob.generation, retry=None)
        except Exception as exc:  # the caller's error says what matters
            LOG.warning("could not remove damaged GCS object gs://%s/%s: %s",
                        blob.bucket.name, blob.name, exc)


def download(blob, **kw) -> bytes:
    """The body of one GET, taken in one read: the library's default streams it in
    8 KiB pieces through Python (3.4x the CPU on 8 MiB bodies; performance.md Run Q).
    The library's own retries are off, as everywhere here. A body cut short still
    raises: urllib3 checks it against its Content-Length."""
    return blob.download_as_bytes(retry=None, single_shot_download=True, **kw)


class _GcsWriter(ObjectWriter):
    """``BlobWriter`` (a resumable upload) with Ember's error mapping; ``abort`` cancels
    the upload session, so nothing becomes visible."""

    def __init__(self, driver: GoogleBackupDriver, container: str, name: str):
        self._driver, self._container, self._name = driver, container, name
        self._blob = driver._client().bucket(container).blob(name)
        self._file = self._blob.open("wb", chunk_size=driver._stream_chunk(), retry=None,
                                     ignore_flush=True, content_type=CONTENT_TYPE,
                                     checksum="md5")
        self._done = False

    def _guard(self, call, *args):
        try:
            return call(*args)
        except Exception as exc:
            raise self._driver._error(exc, self._container, self._name,
                                      missing="bucket") from exc

    def write(self, data: bytes) -> None:
        if data:
            self._guard(self._file.write, data)

    def commit(self) -> None:
        from google.cloud.storage.exceptions import DataCorruption

        if self._done:
            return
        self._done = True
        try:
            self._file.close()
        except DataCorruption as exc:
            self._driver._discard(self._blob)
            raise errors.TransientDriverError(
                "GCS gs://%s/%s at %s: the MD5 the server stored differs from the data sent "
                "(%s); the object was removed, upload it again"
                % (self._container, self._name, self._driver.settings.where, exc)) from None
        except Exception as exc:
            raise self._driver._error(exc, self._container, self._name,
                                      missing="bucket") from exc

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            self._file.terminate()
        except Exception as exc:  # noqa: BLE001 - an unfinished session expires unseen
            LOG.debug("cancelling the upload of gs://%s/%s: %s", self._container,
                      self._name, exc)


class _GcsReader(io.RawIOBase):
    """An object of one generation in ranged reads of ``chunk`` bytes, the first already
    read (``head``), with Ember's error mapping. No read asks for a range past the
    object's end (a 416 makes some servers drop the connection), and reads are short only
    at that end: a range that brings less than asked is a cut download
    (``TransientDriverError``), never a short object."""

    def __init__(self, driver: GoogleBackupDriver, blob, size: int, chunk: int,
                 head: bytes, container: str, name: str):
        super().__init__()
        self._driver, self._blob, self._size, self._chunk = driver, blob, size, chunk
        self._buffer = memoryview(head)  # fetched, not yet read
        self._next = len(head)  # the first byte not fetched yet
        self._container, self._name = container, name

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self._size
        parts = []
        while n > 0:
            if not self._buffer:
                if self._next >= self._size:
                    break
                self._buffer = memoryview(self._fetch())
            part = self._buffer[:n]
            self._buffer = self._buffer[len(part):]
            parts.append(part)
            n -= len(part)
        return b"".join(parts)

    def _fetch(self) -> bytes:
        start, end = self._next, min(self._next + self._chunk, self._size)
        try:
            data = download(self._blob, start=start, end=end - 1, checksum=None)
        except Exception as exc:
            raise self._driver._error(exc, self._container, self._name) from exc
        if len(data) != end - start:
            raise short_read_error("GCS object gs://%s/%s at %s" % (
                self._container, self._name, self._driver.settings.where),
                start + len(data), self._size)
        self._next = end
        return data

    def readinto(self, buf) -> int:
        data = self.read(len(buf))
        buf[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._buffer = memoryview(b"")  # each range is one whole request: nothing to release
        super().close()
