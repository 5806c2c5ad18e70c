"""The posix driver: objects are files in ``<base_path>/<container>/``, the layout
Cinder's posix, nfs and glusterfs drivers write, so either tool reads the other's backups.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import stat
import uuid
from typing import BinaryIO, Iterable

from ember import errors
from ember import opts as core_opts
from ember.driver import ChunkedBackupDriver, DriverCapabilities, ObjectWriter
from ember.layout import Layout, posix_family

from ember_posix import durability, mount, opts

DIR_MODE = 0o770
FILE_MODE = 0o660
#: unfinished puts are named ``.ember-tmp-<object name>`` (``.<random>`` appended when
#: another live put of that name holds it); backup prefixes start with "volume_", so a
#: temporary file never matches a backup's prefix, and listings skip the name anyway.
#: The writer holds an flock on it, so a leftover of a killed put is told apart from a
#: live put: ``delete_object`` and the next put of that name remove the leftover.
TEMP_PREFIX = ".ember-tmp-"
_TEMP_STEM_MAX = 200  # longer object names are hashed so the temp name fits NAME_MAX

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
    A put writes a temporary file (``.ember-tmp-<name>``) in the container, fsyncs it
    (large objects) and renames it over the final name; ``flush`` syncs the small objects
    committed since the last flush as one batch (``durability``) and fsyncs the
    container's directories, which makes the renames (and deletes) durable, once per
    batch instead of once per put.

    **Subclassing** (nfs, glusterfs): override the ``base_path`` property to return the
    directory containers live under (e.g. a mount point, mounted in ``check_setup`` or
    ``__init__``), and ``describe()`` if "posix repository <base_path>" is not what users
    should read in messages, and ``layout`` to record the subclass's own Cinder class
    (``ember.layout.posix_family(conf, "<its Cinder class path>")``). Everything else
    (atomicity, error mapping) is inherited unchanged, which keeps the family's layout
    identical.
    """

    name = "posix"

    @classmethod
    def layout(cls, conf) -> Layout:
        """Cinder's posix family: one directory per backup, ``backup_file_size``."""
        return posix_family(core_opts.register(conf),
                            "cinder.backup.drivers.posix.PosixBackupDriver")

    def __init__(self, conf):
        super().__init__(conf)
        opts.register(conf)
        # (base_path, container) -> (checked absolute path, its (st_dev, st_ino))
        self._resolved: dict = {}
        self._unsynced = durability.BatchSync()
        self._capabilities: tuple = (None, None)  # (base_path, what it was judged to be)

    @property
    def capabilities(self) -> DriverCapabilities:  # type: ignore[override]
        """Eight calls in flight; round trips only when ``base_path`` is on a network
        file system (an NFS or CIFS mount the operator made: ``mount.NETWORK_FSTYPES``)."""
        base = self.base_path
        if self._capabilities[0] != base:
            remote = mount.filesystem_type(base) in mount.NETWORK_FSTYPES
            self._capabilities = (base, DriverCapabilities(max_concurrency=8,
                                                           round_trips=remote))
        return self._capabilities[1]

    # ---- the subclass hook --------------------------------------------------------------
    @property
    def base_path(self) -> str:
        """Directory the containers live under (posix: ``backup_posix_path``)."""
        return self.conf.backup_posix_path

    def describe(self) -> str:
        return "posix repository %s" % self.base_path

    # ---- paths --------------------------------------------------------------------------
    def container_path(self, container: str) -> str:
        """Absolute directory of ``container``; refuses one that leaves ``base_path``.

        An existing container's answer is cached per driver: ``realpath`` walks every
        component with ``lstat`` (~0.1 ms), which a 2,000-object incremental would pay
        twice per put. A cached answer is still confirmed by one ``stat``: if the path
        now leads to another directory (a component swapped for a symlink), it is
        checked afresh. The cache keys on ``base_path`` too (a subclass's new mount)."""
        key = (self.base_path, container)
        cached = self._resolved.get(key)
        if cached is not None:
            path, identity = cached
            try:
                st = os.stat(path)
                if (st.st_dev, st.st_ino) == identity:
                    return path
            except OSError:
                pass
            del self._resolved[key]
        path = self._resolve_container(container)
        try:
            st = os.stat(path)
        except OSError:
            return path  # not there yet: nothing to remember
        if os.path.isdir(path):
            self._resolved[key] = (path, (st.st_dev, st.st_ino))
        return path

    def _resolve_container(self, container: str) -> str:
        if not container or "\0" in container:
            raise errors.PermanentDriverError(
                "%s: container name %r is empty or contains NUL" % (self.describe(), container))
        if os.path.isabs(container) or ".." in container.split("/"):
            raise errors.OutsideRepository(
                "%s: container %s would leave the repository; use a relative path "
                "without '..'" % (self.describe(), container))
        base = os.path.realpath(self.base_path)
        path = os.path.join(base, container)
        real = os.path.realpath(path)
        if real != base and not real.startswith(base + os.sep):
            raise errors.OutsideRepository(
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
            if not self._made_by_ember(base):
                raise errors.ContainerNotFound(
                    "%s does not exist; create it, or correct backup_posix_path (a comment "
                    "goes on its own line)" % self.describe())
            try:
                os.makedirs(base, exist_ok=True)
            except OSError as exc:
                raise self._error(exc, "create", base) from None
        if not os.access(base, os.W_OK | os.X_OK):
            raise errors.AccessDenied("%s is not writable by this user; check its owner "
                                      "and mode" % self.describe())

    def _made_by_ember(self, base: str) -> bool:
        """Ember creates only a repository inside its own state_path (the embedded
        default, $state_path/backup); one elsewhere is the operator's to make, so a
        mistyped path is an error instead of a new, empty repository."""
        state = os.path.realpath(self.conf.state_path)
        return os.path.realpath(base).startswith(state + os.sep)

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
        for attempt in range(3):
            try:
                self._make_directories(base, container)
                return
            except FileNotFoundError:
                # a delete removed an emptied parent between two mkdirs: start again
                if attempt == 2:
                    raise self._error(FileNotFoundError(errno.ENOENT, "removed while "
                                      "being created"), "create container", path) from None
            except OSError as exc:
                raise self._error(exc, "create container", path) from None

    @staticmethod
    def _make_directories(base: str, container: str) -> None:
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
        writer = PosixObjectWriter(self, self._object_path(container, name), buffered=False)
        try:
            writer.write(data)
        except BaseException:
            writer.abort()
            raise
        writer.commit()

    def get_object(self, container: str, name: str) -> bytes:
        with self.open_reader(container, name) as reader:
            try:
                return reader.read()
            except OSError as exc:
                raise self._error(exc, "read", self._object_path(container, name)) from None

    def delete_object(self, container: str, name: str) -> None:
        path = self._object_path(container, name)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise self._error(exc, "delete", path) from None
        temp = temp_path(path)
        try:
            remove_stale_temp(temp)  # what a killed put of this name left behind
        except OSError as exc:
            raise self._error(exc, "delete the leftover temporary file", temp) from None

    def remove_empty_container(self, container: str) -> None:
        """rmdir the container directory and each parent up to ``base_path`` while they
        are empty (``id[0:2]/id[2:4]/id`` would otherwise stay behind for ever)."""
        base = os.path.realpath(self.base_path)
        current = os.path.realpath(self.container_path(container))
        while current != base and current.startswith(base + os.sep):
            try:
                os.rmdir(current)
            except FileNotFoundError:
                pass
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.EBUSY):
                    return  # in use by another backup (or a mount point): it stays
                raise self._error(exc, "remove the empty container", current) from None
            current = os.path.dirname(current)

    def sweep(self, container: str, prefix: str) -> None:
        """Remove the unlocked temporary files of puts of ``prefix``'s objects (puts
        killed mid-write); a live put holds its lock and is left alone."""
        directory = self.container_path(container)
        start = TEMP_PREFIX + prefix
        try:
            with os.scandir(directory) as entries:
                names = [e.name for e in entries if e.name.startswith(start)]
            for name in names:
                remove_stale_temp(os.path.join(directory, name))
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise self._error(exc, "sweep", directory) from None

    def list_containers(self) -> Iterable[str]:
        """Every directory under ``base_path`` that holds an object, as a relative
        path ("/"-separated), sorted; symlinked directories are not followed."""
        base = os.path.realpath(self.base_path)
        found = []
        try:
            for dirpath, dirnames, filenames in os.walk(base, onerror=_raise):
                dirnames.sort()
                if dirpath != base and any(not n.startswith(TEMP_PREFIX) for n in filenames):
                    found.append(os.path.relpath(dirpath, base).replace(os.sep, "/"))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise self._error(exc, "list", base) from None
        return found

    def flush(self, container: str) -> None:
        """Sync the small objects committed into the container since the last flush
        (one batch), then fsync the container directory and each directory above it up
        to ``base_path``: every put and unlink (delete) that returned is durable. Large
        objects were fsynced by their own commit."""
        path = self.container_path(container)
        base = os.path.realpath(self.base_path)
        current = os.path.realpath(path)
        try:
            self._unsynced.sync(path)
        except OSError as exc:
            raise self._error(exc, "sync the objects in", path) from None
        while True:
            try:
                _fsync_directory(current)
            except OSError as exc:
                raise self._error(exc, "sync the directory", current) from None
            if current == base or not current.startswith(base + os.sep):
                return
            current = os.path.dirname(current)

    def open_writer(self, container: str, name: str) -> ObjectWriter:
        return PosixObjectWriter(self, self._object_path(container, name))

    def open_reader(self, container: str, name: str) -> BinaryIO:
        """The object's file, opened without following a symbolic link and only if it
        is a regular file: a FIFO would block, a device or a link out of the repository
        would be read as if it were backup data (``UnsafeObject``, naming it)."""
        path = self._object_path(container, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise errors.ObjectNotFound("%s: object %s not found in container %s"
                                        % (self.describe(), name, container)) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise errors.UnsafeObject("%s: %s is a symbolic link, not an object; it is "
                                          "never followed" % (self.describe(), path)) from None
            raise self._error(exc, "open", path) from None
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise errors.UnsafeObject("%s: %s is a %s, not an object; it is never read"
                                          % (self.describe(), path, _kind(mode)))
            os.set_blocking(fd, True)
            return os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise


def _kind(mode: int) -> str:
    """What a non-regular file is, for messages."""
    for test, kind in ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return kind
    return "special file"


class PosixObjectWriter(ObjectWriter):
    """Streams into a locked temporary file beside the final name; ``commit`` fsyncs
    a large file (a small one is synced with its batch by the driver's ``flush``), sets
    mode 0660 and renames it into place (atomic on one file system; the directory is
    synced by the driver's ``flush``); ``abort`` removes it. After
    ``commit`` or ``abort`` further calls of either do nothing."""

    def __init__(self, driver: PosixBackupDriver, final_path: str, buffered: bool = True):
        self._driver = driver
        self._final = final_path
        directory = os.path.dirname(final_path)
        try:
            self._temp, fd = _create_temp(temp_path(final_path))
        except FileNotFoundError:
            raise errors.ContainerNotFound(
                "%s: container directory %s does not exist (ensure_container first)"
                % (driver.describe(), directory)) from None
        except OSError as exc:
            raise driver._error(exc, "write", final_path) from None
        # a whole put writes its one buffer straight to the descriptor: no BufferedWriter
        self._file = os.fdopen(fd, "wb", buffering=-1 if buffered else 0)
        self._done = False
        self._size = 0

    def write(self, data: bytes) -> None:
        if self._done:
            raise errors.PermanentDriverError("%s: write after commit or abort of %s"
                                              % (self._driver.describe(), self._final))
        try:
            view = memoryview(data)
            self._size += len(view)
            while len(view):  # an unbuffered file may write short
                view = view[self._file.write(view):]
        except OSError as exc:
            self.abort()
            raise self._driver._error(exc, "write", self._final) from None

    def commit(self) -> None:
        if self._done:
            return
        try:
            self._file.flush()
            batched = self._size < durability.SYNC_AT_COMMIT
            if not batched:
                os.fsync(self._file.fileno())
            os.fchmod(self._file.fileno(), FILE_MODE)  # the umask filtered os.open's mode
            os.rename(self._temp, self._final)  # still locked: no sweeper takes it first
            self._file.close()
            if batched:  # synced with its batch by the driver's flush
                self._driver._unsynced.note(os.path.dirname(self._final), self._final)
        except OSError as exc:
            self.abort()
            raise self._driver._error(exc, "write", self._final) from None
        self._done = True

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            os.unlink(self._temp)  # before close: our lock keeps the name ours until then
        except FileNotFoundError:
            pass
        finally:
            try:
                self._file.close()
            except OSError:
                pass  # a failed flush of a file we are throwing away


def _raise(exc: OSError) -> None:
    raise exc


def temp_path(final_path: str) -> str:
    """The temporary name of a put of ``final_path``: ``.ember-tmp-<object name>``."""
    directory, name = os.path.split(final_path)
    if len(name) > _TEMP_STEM_MAX:
        name = hashlib.sha256(name.encode()).hexdigest()
    return os.path.join(directory, TEMP_PREFIX + name)


def _create_temp(path: str) -> tuple[str, int]:
    """Create and flock the temporary file ``path`` (or ``path.<random>`` while a live
    put of the same name holds ``path``); returns its name and descriptor. A leftover
    of a killed put (unlocked) is removed and its name reused."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    tries = 5
    # the plain name twice (a stale leftover is removed the first time), then random ones
    candidates = (path if i < 2 else path + "." + uuid.uuid4().hex[:16] for i in range(tries))
    for candidate in candidates:
        try:
            fd = os.open(candidate, flags, FILE_MODE)
        except FileExistsError:
            remove_stale_temp(candidate)  # a killed put's leftover goes, a live put's stays
            continue
        # between our create and our lock a sweeper may have taken the file for stale:
        # keep it only if the name still leads to our (now locked) file
        if _try_lock(fd) and _same_file(fd, candidate):
            return candidate, fd
        os.close(fd)
    raise FileExistsError(errno.EEXIST, "no free temporary name after %d tries" % tries, path)


def remove_stale_temp(path: str) -> bool:
    """Remove the temporary file ``path`` if no live writer holds its lock (its put was
    killed); True if it was removed. A missing file is not an error."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        if not _try_lock(fd) or not _same_file(fd, path):
            return False  # a live put, or already replaced by a new one
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False
    finally:
        os.close(fd)  # releases the lock


def _try_lock(fd: int) -> bool:
    """Take the file's exclusive flock without waiting. A file system without flock
    counts as unlocked (its leftovers can then still be cleaned)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL):
            return True
        raise


def _same_file(fd: int, path: str) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


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
