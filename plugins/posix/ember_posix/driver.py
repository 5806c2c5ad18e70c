"""The posix driver: objects are files in ``<base_path>/<container>/``, the layout
Cinder's posix, nfs and glusterfs drivers write, so either tool reads the other's backups.
"""

from __future__ import annotations

import errno
import os
import uuid
from typing import BinaryIO, Iterable

from ember import errors
from ember.driver import POSIX_PREFIX, ChunkedBackupDriver, DriverCapabilities, ObjectWriter

from ember_posix import opts

DIR_MODE = 0o770
FILE_MODE = 0o660
#: unfinished puts are named so; backup prefixes start with "volume_", so a temporary
#: file never matches a backup's prefix, and listings skip the name anyway
TEMP_PREFIX = ".ember-tmp-"

_TRANSIENT = {errno.EINTR, errno.EAGAIN, errno.EBUSY, errno.ETIMEDOUT, errno.ESTALE}
_HINTS = {
    errno.ENOSPC: "free space on the file system",
    errno.EDQUOT: "raise the quota or free space",
    errno.EROFS: "the file system is mounted read-only",
    errno.EACCES: "check the owner and mode of the directory",
    errno.EPERM: "check the owner, mode and attributes (chattr) of the directory",
}


class PosixBackupDriver(ChunkedBackupDriver):
    """A directory tree as a repository.

    Containers are relative directory paths under ``base_path`` (default
    ``id[0:2]/id[2:4]/id``); one that would leave it (absolute, ``..``, a symlink
    pointing out) is refused. Directories the driver creates get mode 0770, files 0660.
    A put writes a temporary file (``.ember-tmp-…``) in the container, fsyncs it and
    renames it over the final name, then fsyncs the directory.

    **Subclassing** (nfs, glusterfs): override the ``base_path`` property to return the
    directory containers live under (e.g. a mount point, mounted in ``check_setup`` or
    ``__init__``), and ``describe()`` if "posix repository <base_path>" is not what users
    should read in messages. Everything else (naming, atomicity, error mapping) is
    inherited unchanged, which keeps the family's layout identical.
    """

    name = "posix"
    cinder_service = "cinder.backup.drivers.posix.PosixBackupDriver"
    capabilities = DriverCapabilities(max_concurrency=8, streaming=True,
                                      prefix_style=POSIX_PREFIX)

    def __init__(self, conf):
        super().__init__(conf)
        opts.register(conf)

    # ---- the subclass hook --------------------------------------------------------------
    @property
    def base_path(self) -> str:
        """Directory the containers live under (posix: ``backup_posix_path``)."""
        return self.conf.backup_posix_path

    def describe(self) -> str:
        return "posix repository %s" % self.base_path

    # ---- paths --------------------------------------------------------------------------
    def container_path(self, container: str) -> str:
        """Absolute directory of ``container``; refuses one that leaves ``base_path``."""
        if not container or "\0" in container:
            raise errors.PermanentDriverError(
                "%s: container name %r is empty or contains NUL" % (self.describe(), container))
        if os.path.isabs(container) or ".." in container.split("/"):
            raise errors.PermanentDriverError(
                "%s: container %s would leave the repository; use a relative path "
                "without '..'" % (self.describe(), container))
        base = os.path.realpath(self.base_path)
        path = os.path.join(base, container)
        real = os.path.realpath(path)
        if real != base and not real.startswith(base + os.sep):
            raise errors.PermanentDriverError(
                "%s: container %s resolves to %s, outside the repository (a symlink?); "
                "refusing it" % (self.describe(), container, real))
        return path

    def _object_path(self, container: str, name: str) -> str:
        if (not name or "/" in name or "\0" in name or name in (".", "..")
                or name.startswith(TEMP_PREFIX)):
            raise errors.PermanentDriverError(
                "%s: %r is not a valid object name (no '/', NUL or leading %r)"
                % (self.describe(), name, TEMP_PREFIX))
        return os.path.join(self.container_path(container), name)

    def _error(self, exc: OSError, action: str, path: str) -> errors.DriverError:
        """The ``DriverError`` for an ``OSError`` (path and errno in the message)."""
        code = exc.errno or 0
        message = "%s: cannot %s %s: %s (%s)" % (
            self.describe(), action, path, exc.strerror or exc, errno.errorcode.get(code, code))
        if code in _HINTS:
            message += "; " + _HINTS[code]
        if code in (errno.EACCES, errno.EPERM):
            return errors.AccessDenied(message)
        if code in _TRANSIENT:
            return errors.TransientDriverError(message)
        return errors.PermanentDriverError(message)

    # ---- the contract -------------------------------------------------------------------
    def check_setup(self) -> None:
        base = self.base_path
        if not os.path.isdir(base):
            if not self.conf.backup_create_containers:
                raise errors.ContainerNotFound(
                    "%s does not exist and backup_create_containers is False; create it"
                    % self.describe())
            try:
                os.makedirs(base, exist_ok=True)
            except OSError as exc:
                raise self._error(exc, "create", base) from None
        if not os.access(base, os.W_OK | os.X_OK):
            raise errors.AccessDenied("%s is not writable by this user; check its owner "
                                      "and mode" % self.describe())

    def ensure_container(self, container: str) -> None:
        path = self.container_path(container)
        if os.path.isdir(path):
            return
        if os.path.lexists(path):
            raise errors.PermanentDriverError(
                "%s: container %s exists but is not a directory" % (self.describe(), path))
        if not self.conf.backup_create_containers:
            raise errors.ContainerNotFound(
                "%s: container directory %s does not exist and backup_create_containers "
                "is False; create it or set the option" % (self.describe(), path))
        base = os.path.realpath(self.base_path)
        try:
            os.makedirs(base, exist_ok=True)
            current = base
            for part in container.split("/"):
                if not part or part == ".":
                    continue
                current = os.path.join(current, part)
                try:
                    os.mkdir(current, DIR_MODE)
                except FileExistsError:
                    continue  # another thread or process made it; keep its mode
                os.chmod(current, DIR_MODE)  # mkdir's mode is filtered by the umask
        except OSError as exc:
            raise self._error(exc, "create container", path) from None

    def list_objects(self, container: str, prefix: str = "") -> Iterable[str]:
        path = self.container_path(container)
        try:
            with os.scandir(path) as entries:
                return [e.name for e in entries
                        if e.name.startswith(prefix) and not e.name.startswith(TEMP_PREFIX)
                        and not e.is_dir()]
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise self._error(exc, "list", path) from None

    def put_object(self, container: str, name: str, data: bytes) -> None:
        with self.open_writer(container, name) as writer:
            writer.write(data)

    def get_object(self, container: str, name: str) -> bytes:
        with self.open_reader(container, name) as reader:
            try:
                return reader.read()
            except OSError as exc:
                raise self._error(exc, "read", reader.name) from None

    def delete_object(self, container: str, name: str) -> None:
        path = self._object_path(container, name)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise self._error(exc, "delete", path) from None

    def open_writer(self, container: str, name: str) -> ObjectWriter:
        return PosixObjectWriter(self, self._object_path(container, name))

    def open_reader(self, container: str, name: str) -> BinaryIO:
        path = self._object_path(container, name)
        try:
            return open(path, "rb")
        except (FileNotFoundError, NotADirectoryError):
            raise errors.ObjectNotFound("%s: object %s not found in container %s"
                                        % (self.describe(), name, container)) from None
        except IsADirectoryError:
            raise errors.ObjectNotFound("%s: %s is a directory, not an object"
                                        % (self.describe(), path)) from None
        except OSError as exc:
            raise self._error(exc, "open", path) from None


class PosixObjectWriter(ObjectWriter):
    """Streams into a temporary file beside the final name; ``commit`` fsyncs, sets
    mode 0660 and renames it into place (atomic on one file system); ``abort`` removes
    it. After ``commit`` or ``abort`` further calls of either do nothing."""

    def __init__(self, driver: PosixBackupDriver, final_path: str):
        self._driver = driver
        self._final = final_path
        directory = os.path.dirname(final_path)
        self._temp = os.path.join(directory, TEMP_PREFIX + uuid.uuid4().hex)
        try:
            fd = os.open(self._temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                         FILE_MODE)
        except FileNotFoundError:
            raise errors.ContainerNotFound(
                "%s: container directory %s does not exist (ensure_container first)"
                % (driver.describe(), directory)) from None
        except OSError as exc:
            raise driver._error(exc, "write", final_path) from None
        self._file = os.fdopen(fd, "wb")
        self._done = False

    def write(self, data: bytes) -> None:
        if self._done:
            raise errors.PermanentDriverError("%s: write after commit or abort of %s"
                                              % (self._driver.describe(), self._final))
        try:
            self._file.write(data)
        except OSError as exc:
            self.abort()
            raise self._driver._error(exc, "write", self._final) from None

    def commit(self) -> None:
        if self._done:
            return
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            os.fchmod(self._file.fileno(), FILE_MODE)  # the umask filtered os.open's mode
            self._file.close()
            os.rename(self._temp, self._final)
        except OSError as exc:
            self.abort()
            raise self._driver._error(exc, "write", self._final) from None
        self._done = True
        try:
            _fsync_directory(os.path.dirname(self._final))
        except OSError as exc:
            raise self._driver._error(exc, "sync the directory of", self._final) from None

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            self._file.close()
        except OSError:
            pass  # a failed flush of a file we are throwing away
        try:
            os.unlink(self._temp)
        except FileNotFoundError:
            pass


def _fsync_directory(path: str) -> None:
    """Make the rename durable; file systems that cannot fsync a directory are skipped."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF):
            raise
    finally:
        os.close(fd)
