"""One small exception hierarchy for all of Ember.

Every message is one line a user can act on: it names the thing that is wrong
and, where there is one, what to do. The CLI prints ``str(exc)`` and exits 1.

Drivers raise only the ``DriverError`` family; the engine and the service raise
the rest. The retry wrapper retries ``TransientDriverError`` and nothing else.
"""


class EmberError(Exception):
    """Base of every error Ember raises on purpose."""


# --- configuration and loading -------------------------------------------------------
class ConfigError(EmberError):
    """A configuration value is missing, malformed or inconsistent."""


class DriverNotFound(ConfigError):
    """``backup_driver`` names a driver that is not installed."""


# --- repository drivers --------------------------------------------------------------
class DriverError(EmberError):
    """A repository operation failed."""


class ObjectNotFound(DriverError):
    """The object does not exist in the container."""


class ContainerNotFound(DriverError):
    """The container (directory, bucket) does not exist and may not be created."""


class AccessDenied(DriverError):
    """Credentials were refused or the caller may not touch this object."""


class TransientDriverError(DriverError):
    """A failure that may succeed when tried again (timeouts, 5xx, 429, resets)."""


class PermanentDriverError(DriverError):
    """A failure that will not go away by retrying (disk full, read-only, bad request)."""


class UnsafeObject(PermanentDriverError):
    """A name in the repository is not a regular file (a symbolic link, FIFO, device or
    directory): it is reported by name and never read or followed."""


class OutsideRepository(PermanentDriverError):
    """A container would leave the repository (absolute, ``..``, a symlink out)."""


# --- backups, the repository format and restores ----------------------------------------
class InvalidBackup(EmberError):
    """A backup cannot be made or read as asked (format, chain or rule violation)."""


class CorruptObject(InvalidBackup):
    """An object's content does not match what its backup's metadata records."""


class RestoreMismatch(CorruptObject):
    """A restored volume differs from its backup's ``_sha256file``: the target was
    written but is wrong, so it ends ``error``."""


class UnsupportedVersion(InvalidBackup):
    """The metadata names a format version Ember cannot read."""


class UnsupportedCompression(InvalidBackup):
    """An object or the configuration names an unknown compression algorithm."""


class Cancelled(EmberError):
    """The operation was cancelled by a status change from another process."""


class BackupCancelled(Cancelled):
    """A running backup was force-deleted (or its status was reset)."""


class RestoreCancelled(Cancelled):
    """A running restore was cancelled (backup status left ``restoring``)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped an operation; the message says what was cleaned up. A
    ``KeyboardInterrupt``, so the command exits 130 as any interrupted program."""


# --- catalogue and service -------------------------------------------------------------
class NotFound(EmberError):
    """A volume, snapshot or backup named by the user does not exist."""


class InvalidState(EmberError):
    """The resource is not in a status that allows the operation."""


class InvalidInput(EmberError):
    """An argument is malformed (a size, a property, a record)."""


class PolicyNotAuthorized(EmberError):
    """The request context is not allowed to do this."""


class QuotaExceeded(EmberError):
    """A project limit (``volumes``, ``gigabytes``, ``snapshots``, ``backups``,
    ``backup_gigabytes``) would be passed."""
