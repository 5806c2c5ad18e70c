"""The nfs driver without a mount: NFSv3 from user space through libnfs.

It writes exactly what the posix driver writes on a mounted share, so a repository is
readable through either: ``<export>/<container>/<object>``, container directories
created by ``ensure_container`` (the leaf chmod'ed 0770), objects 0660, each put
written to a temporary name (``ember_posix.driver.TEMP_PREFIX``) in the container and
renamed over the final name (NFSv3 RENAME is atomic on the server); listings skip
temporary names. The constants are the posix driver's own, so the two cannot drift.

libnfs contexts are not thread-safe, so each thread gets its own connection.
"""

from __future__ import annotations

import errno
import io
import posixpath
import uuid
from typing import BinaryIO, ClassVar, Iterable

from ember import errors
from ember.clients import PerThread
from ember.driver import ChunkedBackupDriver, DriverCapabilities, ObjectWriter
from ember.layout import Layout

from ember_posix.driver import DIR_MODE, FILE_MODE, TEMP_PREFIX

from ember_nfs import libnfs_client, opts
from ember_nfs.layout import nfs_layout
from ember_nfs.share import NFSShare, parse_share

INSTALL_HINT = ("pip install 'ember-backup-nfs[userspace]' (it builds against the system "
                "libnfs: apt-get install libnfs-dev)")

_TRANSIENT = {errno.EIO, errno.ETIMEDOUT, errno.ECONNRESET, errno.ECONNREFUSED, errno.EAGAIN,
              errno.EPIPE, errno.ENOTCONN, errno.EHOSTUNREACH, errno.ENETUNREACH}


def container_path(container: str) -> str:
    """``/<container>`` inside the export; a container that would leave it (absolute,
    ``..``, empty) is a ``PermanentDriverError``."""
    parts = container.split("/") if container else []
    if not parts or container.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise errors.PermanentDriverError(
            "container %r is not a relative path inside the share: use a/b/c without "
            "'..', '.' or a leading '/'" % container)
    return "/" + container


class LibnfsBackupDriver(ChunkedBackupDriver):
    """``backup_driver = nfs`` with ``backup_nfs_client = userspace``."""

    name: ClassVar[str] = "nfs"
    capabilities: ClassVar[DriverCapabilities] = DriverCapabilities(max_concurrency=4)

    @classmethod
    def layout(cls, conf) -> Layout:
        """The kernel client's (``ember_nfs.layout``): the same repository."""
        return nfs_layout(conf)

    def __init__(self, conf):
        super().__init__(conf)
        opts.register(conf)
        if not libnfs_client.AVAILABLE:
            raise errors.ConfigError(
                "backup_nfs_client = userspace needs libnfs's Python bindings (%s): %s"
                % (libnfs_client.IMPORT_ERROR, INSTALL_HINT))
        self._share: NFSShare | None = None
        self._clients = PerThread(self._connect, lambda client: client.close())

    # ---- connection -------------------------------------------------------------------
    @property
    def share(self) -> NFSShare:
        if self._share is None:
            self._share = parse_share(self.conf.backup_share)
        return self._share

    def _client(self) -> libnfs_client.LibnfsClient:
        return self._clients.get()

    def _connect(self) -> libnfs_client.LibnfsClient:
        share = self.share
        try:
            return libnfs_client.LibnfsClient(share.host, share.path)
        except OSError as exc:
            raise self._connect_error(exc) from None

    def _connect_error(self, exc: OSError) -> errors.DriverError:
        share = self.share
        if exc.errno in (errno.EACCES, errno.EPERM):
            return errors.AccessDenied(
                "NFS share %s refused the mount (is %s exported to this host?): %s"
                % (share, share.path, exc.strerror))
        if exc.errno == errno.ENOENT:
            return errors.PermanentDriverError(
                "NFS share %s: the server has no export %s: %s" % (share, share.path, exc.strerror))
        return errors.TransientDriverError(
            "NFS share %s is unreachable (is an NFSv3 server with rpcbind running on %s?): %s"
            % (share, share.host, exc.strerror))

    def check_setup(self) -> None:
        self._client()

    def close(self) -> None:
        self._clients.close()

    def describe(self) -> str:
        return "nfs://%s%s (userspace NFSv3)" % (self.share.host, self.share.path)

    # ---- error mapping ----------------------------------------------------------------
    def _error(self, exc: OSError, container: str, name: str | None = None) -> errors.DriverError:
        where = "%s in container %s of NFS share %s" % (name, container, self.share) if name \
            else "container %s of NFS share %s" % (container, self.share)
        code, detail = exc.errno, exc.strerror
        if code == errno.ENOENT:
            return errors.ObjectNotFound("object %s not found: %s" % (where, detail))
        if code == errno.EROFS:
            return errors.PermanentDriverError("cannot write %s: the share is read-only" % where)
        if code in (errno.ENOSPC, errno.EDQUOT):
            return errors.PermanentDriverError(
                "cannot write %s: the share is full (free space on the server)" % where)
        if code in (errno.EACCES, errno.EPERM):
            return errors.AccessDenied("permission denied on %s: %s" % (where, detail))
        if code in _TRANSIENT:
            return errors.TransientDriverError("NFS I/O error on %s: %s" % (where, detail))
        return errors.PermanentDriverError("NFS error on %s: %s" % (where, detail))

    # ---- the contract -----------------------------------------------------------------
    def ensure_container(self, container: str) -> None:
        path = container_path(container)
        client = self._client()
        try:
            client.stat(path)
            return
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise self._error(exc, container) from None
        if not self.conf.backup_create_containers:
            raise errors.ContainerNotFound(
                "container %s does not exist on NFS share %s and backup_create_containers "
                "is False: create it or enable the option" % (container, self.share))
        self._makedirs(client, path, container)

    def _makedirs(self, client, path: str, container: str) -> None:
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts) + 1):
            leaf = depth == len(parts)
            sub = "/" + "/".join(parts[:depth])
            try:
                created = client.mkdir(sub)
                if created and leaf:
                    client.chmod(sub, DIR_MODE)
            except OSError as exc:
                raise self._error(exc, container) from None

    def list_objects(self, container: str, prefix: str = "") -> Iterable[str]:
        path = container_path(container)
        try:
            entries = self._client().listdir(path)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return []
            raise self._error(exc, container) from None
        return [name for name, is_dir in entries
                if not is_dir and not name.startswith(TEMP_PREFIX) and name.startswith(prefix)]

    def list_containers(self) -> Iterable[str]:
        """Every directory of the export that holds an object, sorted."""
        client, found, pending = self._client(), [], [""]
        while pending:
            rel = pending.pop()
            try:
                entries = client.listdir("/" + rel)
            except OSError as exc:
                raise self._error(exc, rel or "/") from None
            if rel and any(not d and not n.startswith(TEMP_PREFIX) for n, d in entries):
                found.append(rel)
            pending.extend(posixpath.join(rel, n) if rel else n
                           for n, d in entries if d and n not in (".", ".."))
        return sorted(found)

    def put_object(self, container: str, name: str, data: bytes) -> None:
        with self.open_writer(container, name) as writer:
            writer.write(data)

    def get_object(self, container: str, name: str) -> bytes:
        with self.open_reader(container, name) as reader:
            return reader.read()

    def delete_object(self, container: str, name: str) -> None:
        path = posixpath.join(container_path(container), _object_name(name))
        try:
            self._client().unlink(path)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise self._error(exc, container, name) from None

    def open_writer(self, container: str, name: str) -> ObjectWriter:
        directory = container_path(container)
        final = posixpath.join(directory, _object_name(name))
        temp = posixpath.join(directory, TEMP_PREFIX + uuid.uuid4().hex)
        client = self._client()
        try:
            fh = client.create_exclusive(temp, FILE_MODE)
        except OSError as exc:
            if exc.errno == errno.ENOENT:  # as posix: the engine ensures containers first
                raise errors.ContainerNotFound(
                    "container %s does not exist on NFS share %s (ensure_container first)"
                    % (container, self.share)) from None
            raise self._error(exc, container, name) from None
        return _LibnfsWriter(self, client, fh, temp, final, container, name)

    def open_reader(self, container: str, name: str) -> BinaryIO:
        path = posixpath.join(container_path(container), _object_name(name))
        client = self._client()
        try:
            size = client.stat(path).nfs_size
            fh = client.open_read(path)
        except OSError as exc:
            raise self._error(exc, container, name) from None
        return io.BufferedReader(_LibnfsReader(self, client, fh, path, size, container, name),
                                 buffer_size=client.read_max)


def _object_name(name: str) -> str:
    if not name or "/" in name or "\0" in name or name in (".", "..") or name.startswith(TEMP_PREFIX):
        raise errors.PermanentDriverError(
            "object name %r is not valid in a posix-family repository (no '/', NUL or "
            "leading %r)" % (name, TEMP_PREFIX))
    return name


class _LibnfsWriter(ObjectWriter):
    """Writes to the temporary file; commit = fsync + close + rename over the name."""

    def __init__(self, driver, client, fh, temp, final, container, name):
        self._driver, self._client, self._fh = driver, client, fh
        self._temp, self._final, self._container, self._name = temp, final, container, name
        self._offset = 0
        self._open = True

    def write(self, data: bytes) -> None:
        try:
            self._client.pwrite(self._fh, self._offset, data, self._temp)
        except OSError as exc:
            self.abort()
            raise self._driver._error(exc, self._container, self._name) from None
        self._offset += len(data)

    def commit(self) -> None:
        if not self._open:
            return
        try:
            self._client.fsync(self._fh, self._temp)
            self._open = False
            self._client.close_file(self._fh, self._temp)
            self._client.rename(self._temp, self._final)
        except OSError as exc:
            self._open = False
            self._discard()
            raise self._driver._error(exc, self._container, self._name) from None

    def abort(self) -> None:
        if self._open:
            self._open = False
            try:
                self._client.close_file(self._fh, self._temp)
            except OSError:
                pass  # the unlink below is what matters
        self._discard()

    def _discard(self) -> None:
        try:
            self._client.unlink(self._temp)
        except OSError:
            pass  # already gone (renamed or never written)


class _LibnfsReader(io.RawIOBase):
    """Positional reads of one object; the size is taken when it is opened."""

    def __init__(self, driver, client, fh, path, size, container, name):
        self._driver, self._client, self._fh, self._path = driver, client, fh, path
        self._size, self._pos = size, 0
        self._container, self._name = container, name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        want = min(len(buffer), max(0, self._size - self._pos))
        if want == 0:
            return 0
        try:
            data = self._client.pread(self._fh, self._pos, want, self._path)
        except OSError as exc:
            raise self._driver._error(exc, self._container, self._name) from None
        buffer[:len(data)] = data
        self._pos += len(data)
        return len(data)

    def readall(self) -> bytes:
        try:
            data = self._client.pread(self._fh, self._pos, max(0, self._size - self._pos), self._path)
        except OSError as exc:
            raise self._driver._error(exc, self._container, self._name) from None
        self._pos += len(data)
        return data

    def close(self) -> None:
        if not self.closed:
            try:
                self._client.close_file(self._fh, self._path)
            except OSError:
                pass  # a read-only handle: nothing to lose
        super().close()
