"""The streaming writer: an object of any size goes up as an S3 multipart upload, part
by part as the engine produces it. One part is uploaded on the driver's part pool while
the next one fills, so at most two parts of an object are held in memory.

Nothing is visible before ``commit`` (S3 shows a multipart object only once it is
completed) and ``abort`` cancels the upload, which frees its parts. An object that ends
smaller than one part never starts an upload: ``commit`` puts it in one request, as
Cinder stores every object. Each part carries its Content-MD5 (with
``backup_s3_md5_validation``) and the SSE-C key, and is retried on its own under the
plugin's retry policy (``ember_s3.opts.retry_policy``; the stream itself cannot be
replayed by the retry wrapper).
"""

from __future__ import annotations

import logging

from ember import errors
from ember.driver import ObjectWriter
from ember.wrappers import retry_call

from ember_s3 import opts

LOG = logging.getLogger(__name__)


class MultipartWriter(ObjectWriter):
    def __init__(self, driver, bucket: str, name: str):
        self._driver, self._bucket, self._name = driver, bucket, name
        self._part_size = driver.conf.backup_s3_part_size
        self._buffer = bytearray()
        self._upload_id = None
        self._parts: list[dict] = []
        self._pending = None  # (part number, future) of the part being uploaded
        self._done = False

    def write(self, data: bytes) -> None:
        if self._done:
            raise errors.PermanentDriverError("S3 s3://%s/%s: write after commit or abort"
                                              % (self._bucket, self._name))
        self._buffer += data
        while len(self._buffer) >= self._part_size:
            part = bytes(memoryview(self._buffer)[: self._part_size])
            del self._buffer[: self._part_size]
            self._send_part(part)

    def commit(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            if self._upload_id is None:
                data, self._buffer = bytes(self._buffer), bytearray()
                self._driver.put_object(self._bucket, self._name, data)
                return
            if self._buffer:  # the last part may be smaller than the others
                part, self._buffer = bytes(self._buffer), bytearray()
                self._send_part(part)
            self._collect()
            self._retrying("complete", lambda: self._driver.complete_upload(
                self._bucket, self._name, self._upload_id, self._parts))
        except BaseException:
            self._cancel()
            raise

    def abort(self) -> None:
        self._done = True
        self._buffer = bytearray()
        self._cancel()

    # ---- helpers ---------------------------------------------------------------------
    def _send_part(self, part: bytes) -> None:
        """Start uploading ``part`` once the previous one is stored (parts in order)."""
        try:
            self._collect()
            if self._upload_id is None:
                self._upload_id = self._retrying("start", lambda: self._driver.start_upload(
                    self._bucket, self._name))
            number, upload_id = len(self._parts) + 1, self._upload_id
            future = self._driver.part_pool().submit(
                self._retrying, "part %d" % number, lambda: self._driver.upload_part(
                    self._bucket, self._name, upload_id, number, part))
            self._pending = (number, future)
        except BaseException:
            self._done = True
            self._cancel()
            raise

    def _collect(self) -> None:
        """Wait for the part in flight and record its ETag (its error raises here)."""
        if self._pending is not None:
            (number, future), self._pending = self._pending, None
            self._parts.append({"PartNumber": number, "ETag": future.result()})

    def _retrying(self, what: str, fn):
        policy = opts.retry_policy(self._driver.conf)
        return retry_call(fn, attempts=policy.attempts, backoff=policy.backoff,
                          what="%s multipart %s of s3://%s/%s"
                          % (self._driver.describe(), what, self._bucket, self._name))

    def _cancel(self) -> None:
        """Abort the upload, if one was started, after the part in flight has ended (an
        abort racing a part could leave that part behind). Best effort: a failure is
        logged."""
        if self._pending is not None:
            (_, future), self._pending = self._pending, None
            try:
                future.result()
            except BaseException:  # noqa: BLE001 - already failing or aborting
                pass
        upload_id, self._upload_id = self._upload_id, None
        if upload_id is None:
            return
        try:
            self._driver.abort_upload(self._bucket, self._name, upload_id)
        except Exception as exc:  # noqa: BLE001 - the caller's error is what matters
            LOG.warning("could not abort the multipart upload of s3://%s/%s (its parts stay "
                        "until a lifecycle rule removes them): %s", self._bucket, self._name, exc)
