"""Finding and loading repository drivers (stevedore, entry-point group
``ember.backup.drivers``).

Users name a driver by its short entry-point name (``posix``, ``nfs``, ``glusterfs``,
``swift``, ``gcs``, ``s3``) or by the Cinder class path a ``cinder.conf`` already
holds (``cinder.backup.drivers.nfs.NFSBackupDriver``); both load the same driver. Each
driver ships in its own distribution, so a missing one is an install away: the error
says which.
"""

from __future__ import annotations

import importlib.metadata
import logging

from stevedore import driver as sd_driver
from stevedore import exception as sd_exception

from ember import errors
from ember.driver import ChunkedBackupDriver

LOG = logging.getLogger(__name__)

NAMESPACE = "ember.backup.drivers"

#: the distribution that provides each driver Ember knows of
DISTRIBUTIONS = {
    "posix": "ember-backup-posix",
    "nfs": "ember-backup-nfs",
    "glusterfs": "ember-backup-glusterfs",
    "swift": "ember-backup-swift",
    "gcs": "ember-backup-gcs",
    "s3": "ember-backup-s3",
    "memory": "ember-backup",
}

_CINDER = "cinder.backup.drivers."

#: Cinder's ``backup_driver`` values (class paths, the deprecated google path and the
#: module-only paths older releases stored in backup rows) → Ember driver names
CINDER_ALIASES = {
    _CINDER + "posix.PosixBackupDriver": "posix",
    _CINDER + "nfs.NFSBackupDriver": "nfs",
    _CINDER + "glusterfs.GlusterfsBackupDriver": "glusterfs",
    _CINDER + "swift.SwiftBackupDriver": "swift",
    _CINDER + "gcs.GoogleBackupDriver": "gcs",
    _CINDER + "google.GoogleBackupDriver": "gcs",
    _CINDER + "s3.S3BackupDriver": "s3",
    _CINDER + "posix": "posix",
    _CINDER + "nfs": "nfs",
    _CINDER + "glusterfs": "glusterfs",
    _CINDER + "swift": "swift",
    _CINDER + "gcs": "gcs",
    _CINDER + "google": "gcs",
    _CINDER + "s3": "s3",
}

#: Cinder drivers Ember does not implement (the error says so instead of "not installed")
_NOT_IN_EMBER = ("ceph", "tsm")

#: drivers that share the posix layout (restoring across them is safe)
POSIX_FAMILY = frozenset(("posix", "nfs", "glusterfs"))


#: a driver shipped in this package is a testing tool (the in-memory driver): it is not
#: offered to users, and the ``ember`` command refuses it unless TESTING_ENV is "1"
TESTING_PACKAGE = "ember.testing."
TESTING_ENV = "EMBER_ENABLE_TESTING_DRIVERS"


def installed_drivers() -> list[str]:
    """Short names registered in ``ember.backup.drivers`` by installed distributions,
    sorted (read from package metadata; nothing is imported)."""
    return sorted({ep.name for ep in importlib.metadata.entry_points(group=NAMESPACE)})


def is_testing_tool(name: str) -> bool:
    """True for a driver that lives in ``ember.testing`` (nothing it stores survives
    the process, so a backup with it could never be restored)."""
    return any(ep.name == name and ep.value.startswith(TESTING_PACKAGE)
               for ep in importlib.metadata.entry_points(group=NAMESPACE))


def offered_drivers() -> list[str]:
    """The installed drivers a user may choose: every one but the testing tools."""
    return [name for name in installed_drivers() if not is_testing_tool(name)]


def check_choice(conf, *, allow_testing: bool = False) -> str:
    """Check ``backup_driver`` without importing anything: it must name an installed
    driver, and not a testing tool unless ``allow_testing``. Returns the short name.
    The ``ember`` command calls it before any work, so a misspelled driver fails every
    command at once instead of leaving an ``error`` backup behind."""
    short = driver_name(conf.backup_driver)
    if short not in installed_drivers():
        raise errors.DriverNotFound(_not_installed_message(conf.backup_driver, short))
    if is_testing_tool(short) and not allow_testing:
        raise errors.ConfigError(
            "backup_driver %s is a testing tool (what it stores is gone when the command "
            "ends); choose a repository driver: %s" % (conf.backup_driver,
                                                        ", ".join(offered_drivers())))
    return short


def driver_name(value: str) -> str:
    """The short driver name for a ``backup_driver`` value: a short name is returned
    as is, a Cinder path is translated. Raises ``DriverNotFound`` for a Cinder driver
    Ember does not have."""
    value = value.strip()
    if value in CINDER_ALIASES:
        return CINDER_ALIASES[value]
    if value.startswith(_CINDER):
        kind = value[len(_CINDER):].split(".")[0]
        if kind in _NOT_IN_EMBER:
            raise errors.DriverNotFound(
                "backup_driver %s: Ember has no %s driver; installed drivers: %s"
                % (value, kind, ", ".join(offered_drivers()) or "none"))
    return value


def driver_for_service(service: str) -> str:
    """The driver name that reads backups whose row ``service`` is ``service`` (Cinder
    writes its ``backup_driver`` value there: a class path, or a module path in old
    releases; Ember writes the driver's ``cinder_service``). A short name maps to itself.
    Raises ``DriverNotFound`` for an empty or foreign value."""
    if not service:
        raise errors.DriverNotFound(
            "the backup records no service, so its driver is unknown; set it with "
            "backup import or restore with an explicit backup_driver")
    name = driver_name(service)
    if name in DISTRIBUTIONS:
        return name
    for ep in importlib.metadata.entry_points(group=NAMESPACE):
        if name == ep.name or service == _class_path(ep.value):
            return ep.name
    raise errors.DriverNotFound(
        "backup service %s names no Ember driver; known drivers: %s"
        % (service, ", ".join(sorted(set(DISTRIBUTIONS) | set(installed_drivers())))))


def same_layout(service_a: str, service_b: str) -> bool:
    """True when backups of the two services share one repository layout (the posix
    family, or the same driver), so a driver of one can read the other's backups."""
    a, b = driver_for_service(service_a), driver_for_service(service_b)
    return a == b or (a in POSIX_FAMILY and b in POSIX_FAMILY)


def _class_path(entry_point_value: str) -> str:
    return entry_point_value.replace(":", ".")


def load_driver(conf, name: str | None = None, *, retry: bool = True) -> ChunkedBackupDriver:
    """Instantiate the driver ``name`` (default ``conf.backup_driver``) with ``conf``.

    With ``retry`` (the default) the driver comes wrapped in ``RetryingDriver`` as its
    ``retry_policy`` says (nothing is wrapped for a policy of one attempt); use
    ``ember.wrappers.unwrap`` to reach the driver itself. Errors of the driver's
    ``__init__`` (a bad option) propagate unchanged; a name that is not installed raises
    ``DriverNotFound`` naming the installed drivers and the distribution to install.
    """
    requested = name if name is not None else conf.backup_driver
    short = driver_name(requested)
    if short not in installed_drivers():  # checked first: stevedore would log a warning
        raise errors.DriverNotFound(_not_installed_message(requested, short))
    try:
        manager = sd_driver.DriverManager(NAMESPACE, short, invoke_on_load=False,
                                          on_load_failure_callback=_load_failed)
    except sd_exception.NoMatches:  # installed after stevedore cached this process's list
        raise errors.DriverNotFound(_not_installed_message(requested, short)) from None
    except sd_exception.MultipleMatches:
        raise errors.DriverNotFound(
            "backup_driver %s is provided by several installed distributions; uninstall "
            "all but one" % short) from None
    driver = manager.driver(conf)
    if retry:
        policy = driver.retry_policy
        if policy.attempts > 1:
            from ember.wrappers import RetryingDriver  # wrappers import the contract only

            driver = RetryingDriver(driver, policy.attempts, policy.backoff)
    return driver


def _load_failed(manager, entry_point, exc) -> None:
    """stevedore swallows import errors by default, which would turn a broken plugin
    into "not installed"; say what broke instead."""
    raise errors.DriverNotFound(
        "backup driver %s (%s) is installed but cannot be imported: %s: %s"
        % (entry_point.name, entry_point.value, type(exc).__name__,
           str(exc).splitlines()[0] if str(exc) else "")) from exc


def _not_installed_message(requested: str, short: str) -> str:
    shown = requested if requested == short else "%s (%s)" % (requested, short)
    installed = ", ".join(offered_drivers()) or "none"
    if short in DISTRIBUTIONS:
        return ("backup_driver %s is not installed: pip install %s (installed drivers: %s)"
                % (shown, DISTRIBUTIONS[short], installed))
    others = ["%s from %s" % (n, d) for n, d in sorted(DISTRIBUTIONS.items())
              if n not in installed_drivers()]
    return ("backup_driver %s is not a known driver; installed drivers: %s%s"
            % (shown, installed, "; not installed: " + ", ".join(others) if others else ""))
