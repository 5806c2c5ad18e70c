"""``SwiftBackupDriver``: Cinder's Swift repository layout on OpenStack Swift.

Objects are ``<container>/volume_<vol>/<TS>/az_<AZ>_backup_<id>-NNNNN`` as Cinder's
Swift driver writes them, so either tool reads the other's backups. Every put checks
the ETag Swift returns against the md5 of the bytes sent.

Each thread gets its own ``swiftclient.Connection`` (a Connection holds one HTTP
session and is not safe to share). swiftclient's own retries are off (``retries=0``);
``backup_swift_retry_attempts`` / ``backup_swift_retry_backoff`` become the retry policy
of this plugin's ``Layout`` (``SwiftBackupDriver.layout``), which
``ember.loader.load_driver`` applies by wrapping the driver in
``ember.wrappers.RetryingDriver`` (it retries only ``TransientDriverError``: 5xx,
timeouts, refused connections, an ETag mismatch).
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import importlib.util
import threading
from typing import BinaryIO, Iterable

import swiftclient
from swiftclient.exceptions import ClientException

from ember import errors
from ember import opts as core_opts
from ember.clients import PerThread
from ember.driver import (ChunkedBackupDriver, DriverCapabilities, IterReader, ObjectWriter,
                          PipedObjectWriter, short_read_error)
from ember.layout import OBJECT_STORE_PREFIX, Layout, RetryPolicy

from ember_swift import auth, opts
from ember_swift.errormap import is_network_error, translate


class SwiftBackupDriver(ChunkedBackupDriver):
    """Stores backup objects in Swift containers (default ``backup_swift_container``)."""

    name = "swift"
    capabilities = DriverCapabilities(max_concurrency=8)

    @classmethod
    def layout(cls, conf) -> Layout:
        """Cinder's Swift names and sizes, from its options.
        ``backup_swift_retry_attempts`` counts retries (as swiftclient's ``retries``
        did in Cinder), the retry policy counts tries: one more."""
        conf = opts.register(core_opts.register(conf))
        return Layout(cinder_service="cinder.backup.drivers.swift.SwiftBackupDriver",
                      object_size=conf.backup_swift_object_size,
                      sha_block_size=conf.backup_swift_block_size,
                      progress_timer=conf.backup_swift_enable_progress_timer,
                      prefix_style=OBJECT_STORE_PREFIX,
                      container=conf.backup_swift_container,
                      availability_zone=conf.storage_availability_zone,
                      retry=RetryPolicy(attempts=conf.backup_swift_retry_attempts + 1,
                                        backoff=float(conf.backup_swift_retry_backoff)))

    def __init__(self, conf):
        super().__init__(conf)
        opts.register(conf)
        self._auth: auth.SwiftAuth | None = None
        self._connections = PerThread(self._connect, lambda conn: conn.close())
        self._lock = threading.Lock()
        self._uploads: cf.ThreadPoolExecutor | None = None

    def describe(self) -> str:
        try:
            return "swift %s" % self._settings().endpoint
        except errors.ConfigError:
            return "swift (not configured)"

    # ---- connections ------------------------------------------------------------------
    def _settings(self) -> auth.SwiftAuth:
        if self._auth is None:
            self._auth = auth.resolve(self.conf)
        return self._auth

    def _connection(self) -> swiftclient.Connection:
        """This thread's connection, created on first use."""
        return self._connections.get()

    def _connect(self) -> swiftclient.Connection:
        settings = self._settings()
        _require_keystoneclient(settings)
        conn = swiftclient.Connection(**settings.connection_kwargs())
        if settings.mode == "single_user":
            # authenticate now, so a refused key is reported as such and not as the
            # failure of whatever request happened to come first
            self._guarded(conn, "authentication", None, None, "get_auth")
        return conn

    def _call(self, action: str, container: str | None, name: str | None, method: str,
              *args, **kw):
        """Run ``Connection.<method>`` on this thread's connection and map any failure
        onto ``ember.errors``."""
        return self._guarded(self._connection(), action, container, name, method, *args, **kw)

    def _guarded(self, conn, action, container, name, method, *args, **kw):
        try:
            return getattr(conn, method)(*args, **kw)
        except ClientException as exc:
            raise self._translate(exc, action, container, name, conn) from None
        except Exception as exc:
            if is_network_error(exc):
                raise self._translate(exc, action, container, name, conn) from None
            raise

    def _endpoint(self, conn=None) -> str:
        """The storage URL once authenticated, else the configured endpoint."""
        conn = conn or self._connections.current()
        return (conn.url if conn is not None and conn.url else None) or self._settings().endpoint

    def _translate(self, exc, action, container, name, conn=None) -> errors.DriverError:
        endpoint = self._endpoint(conn) if container is not None else self._settings().endpoint
        return translate(exc, endpoint=endpoint, container=container, name=name,
                         action=action, user=self._settings().user)

    def check_setup(self) -> None:
        """Resolve the credentials and open this thread's connection (authenticating in
        single_user mode), so a wrong key or an unreachable endpoint is reported before
        any backup starts."""
        self._connection()

    def close(self) -> None:
        with self._lock:
            uploads, self._uploads = self._uploads, None
        if uploads is not None:
            uploads.shutdown(wait=True)
        self._connections.close()

    # ---- the contract -----------------------------------------------------------------
    def ensure_container(self, container: str) -> None:
        try:
            self._call("check", container, None, "head_container", container)
            return
        except errors.ContainerNotFound:
            if not self.conf.backup_create_containers:
                raise errors.ContainerNotFound(
                    "Swift container %s does not exist at %s and backup_create_containers "
                    "is False; create it or set backup_create_containers = True"
                    % (container, self._endpoint())) from None
        policy = self.conf.backup_swift_create_storage_policy
        headers = {"X-Storage-Policy": policy} if policy else None
        self._call("create", container, None, "put_container", container, headers=headers)

    def list_objects(self, container: str, prefix: str = "") -> Iterable[str]:
        try:
            _headers, listing = self._call("list", container, None, "get_container", container,
                                           prefix=prefix or None, full_listing=True)
        except errors.ContainerNotFound:
            return []
        return [entry["name"] for entry in listing]

    def put_object(self, container: str, name: str, data: bytes) -> None:
        data = bytes(data)
        etag = self._call("put", container, name, "put_object", container, name,
                          contents=data, content_length=len(data))
        self._check_etag(container, name, etag,
                         hashlib.md5(data, usedforsecurity=False).hexdigest())

    def _check_etag(self, container: str, name: str, etag: str, md5: str) -> None:
        if etag != md5:
            # the stored object is not what was sent: remove it so no reader sees it
            self.delete_object(container, name)
            raise errors.TransientDriverError(
                "Swift put of object %s in container %s at %s returned ETag %s but the md5 "
                "of the bytes sent is %s; the object was deleted, retry the upload"
                % (name, container, self._endpoint(), etag, md5))

    def open_writer(self, container: str, name: str) -> ObjectWriter:
        """A plain object streamed as it is produced (chunked transfer encoding), on an
        upload thread's own connection; Swift stores nothing if the body breaks off."""
        return _SwiftWriter(self, container, name)

    def open_reader(self, container: str, name: str) -> BinaryIO:
        """The object streamed in 1 MiB chunks (the engine checks its md5), on a
        connection of its own, closed with the reader: a swiftclient connection keeps
        only its latest response, so any other request on the thread's connection would
        end this stream early as if at the object's end. A stream that ends before the
        Content-Length Swift declared raises ``TransientDriverError``."""
        conn = self._stream_connection()
        try:
            headers, body = self._guarded(conn, "get", container, name, "get_object",
                                          container, name, resp_chunk_size=1 << 20)
        except BaseException:
            conn.close()
            raise

        def chunks():
            try:
                yield from body
            except Exception as exc:
                if not is_network_error(exc):
                    raise
                raise self._translate(exc, "get", container, name, conn) from None

        def close():
            body.close()
            conn.close()

        return IterReader(chunks(), on_close=close, length=_declared_length(headers),
                          what="Swift object %s in container %s at %s"
                          % (name, container, self._endpoint(conn)))

    def _stream_connection(self) -> swiftclient.Connection:
        """A new connection with this thread's storage URL and token (it authenticates
        again by itself on a 401 in single_user mode)."""
        thread_conn = self._connection()
        kwargs = dict(self._settings().connection_kwargs(), preauthurl=thread_conn.url,
                      preauthtoken=thread_conn.token)
        return swiftclient.Connection(**kwargs)

    def _upload_pool(self) -> cf.Executor:
        with self._lock:
            if self._uploads is None:
                # one more thread than streams in flight: a writer never waits for one
                self._uploads = cf.ThreadPoolExecutor(
                    self.capabilities.max_concurrency + 1, thread_name_prefix="swift-upload")
            return self._uploads

    def get_object(self, container: str, name: str) -> bytes:
        headers, body = self._call("get", container, name, "get_object", container, name)
        length = _declared_length(headers)
        if length is not None and len(body) != length:
            raise short_read_error("Swift object %s in container %s at %s"
                                   % (name, container, self._endpoint()), len(body), length)
        return body

    def delete_object(self, container: str, name: str) -> None:
        try:
            self._call("delete", container, name, "delete_object", container, name)
        except (errors.ObjectNotFound, errors.ContainerNotFound):
            pass  # deleting a missing object is not an error


class _SwiftWriter(PipedObjectWriter):
    """``PipedObjectWriter`` into ``put_object``, checking the ETag on commit."""

    def __init__(self, driver: SwiftBackupDriver, container: str, name: str):
        self._driver, self._container, self._name = driver, container, name
        self._md5 = hashlib.md5(usedforsecurity=False)
        super().__init__(self._upload, driver._upload_pool())

    def _upload(self, body) -> str:
        def chunks():
            for chunk in body:
                self._md5.update(chunk)
                yield chunk
        return self._driver._call("put", self._container, self._name, "put_object",
                                  self._container, self._name, contents=chunks())

    def commit(self) -> None:
        etag = super().commit()
        if etag is not None:
            self._driver._check_etag(self._container, self._name, etag, self._md5.hexdigest())


def _declared_length(headers) -> int | None:
    """The Content-Length of a GET answer (None if the server sent it chunked)."""
    value = headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


def _require_keystoneclient(settings: auth.SwiftAuth) -> None:
    """Keystone auth (versions 2 and 3) needs python-keystoneclient, an optional extra;
    say so plainly instead of swiftclient's message about ST_AUTH variables."""
    version = settings.kwargs.get("auth_version", "1")
    if settings.mode == "single_user" and not str(version).startswith("1") \
            and importlib.util.find_spec("keystoneclient") is None:
        raise errors.ConfigError(
            "backup_swift_auth_version = %s needs python-keystoneclient: pip install "
            "'ember-backup-swift[keystone]'" % version)
