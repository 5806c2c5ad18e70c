"""Finding and loading repository drivers (entry-point group ``ember.backup.drivers``,
read through ``ember.entrypoints``: only the chosen driver's module is imported).

Users name a driver by its short entry-point name (``posix``, ``nfs``, ``swift``, ...) or
by the Cinder class path a ``cinder.conf`` already holds
(``cinder.backup.drivers.nfs.NFSBackupDriver``); both load the same driver. The core
knows no plugin by name: each plugin declares what it is in its own distribution.

* **Names.** A driver's short name is its entry point without a dot; every other name it
  answers to (Cinder's class path, the module path older Cinder releases stored in
  backup rows) is one more entry point, with a dot, on the same class.
* **Layout.** The class an entry point names has a ``layout(conf)`` class method: the
  plugin's ``ember.layout.Layout`` (names, sizes, Cinder service, family, retries),
  which ``load_layout`` returns; the driver itself is I/O only (``load_driver``).
* **Family.** ``Layout.family``: drivers of one family share one repository layout, so
  backups written through one restore and delete through another (the posix family:
  posix, nfs, glusterfs, and any plugin that declares that family).

Each driver ships in its own distribution, so a missing one the project ships
(``ember.opts.SHIPPED_DRIVERS``) is an install away: the error says so; a near miss
gets "did you mean"; any other name is one Ember has no driver for.
"""

from __future__ import annotations

import difflib
import logging

from ember import entrypoints, errors
from ember.driver import ChunkedBackupDriver
from ember.layout import Layout
from ember.opts import SHIPPED_DRIVERS

LOG = logging.getLogger(__name__)

NAMESPACE = "ember.backup.drivers"
_CINDER = "cinder.backup.drivers."


def _entry_points():
    return entrypoints.group(NAMESPACE)


def installed_drivers() -> list[str]:
    """Short names registered in ``ember.backup.drivers`` by installed distributions,
    sorted (read from package metadata; nothing is imported)."""
    return sorted({ep.name for ep in _entry_points() if "." not in ep.name})


#: a driver shipped in this package is a testing tool (the in-memory driver): it is not
#: offered to users, and the ``ember`` command refuses it unless TESTING_ENV is "1"
TESTING_PACKAGE = "ember.testing."
TESTING_ENV = "EMBER_ENABLE_TESTING_DRIVERS"


def is_testing_tool(name: str) -> bool:
    """True for a driver that lives in ``ember.testing`` (nothing it stores survives
    the process, so a backup with it could never be restored)."""
    return any(ep.name == name and ep.value.startswith(TESTING_PACKAGE)
               for ep in _entry_points())


def offered_drivers() -> list[str]:
    """The installed drivers a user may choose: every one but the testing tools."""
    return [name for name in installed_drivers() if not is_testing_tool(name)]


def distribution_of(name: str) -> str | None:
    """The distribution that installed the driver ``name`` (None if unknown)."""
    for ep in _entry_points():
        if ep.name == name and getattr(ep, "dist", None) is not None:
            return ep.dist.name
    return None


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


def aliases() -> dict[str, str]:
    """Every dotted name an installed driver answers to → its short name (the
    dot-less entry point on the same class). Read from metadata; nothing is imported."""
    points = list(_entry_points())
    short = {}
    for ep in sorted(points, key=lambda ep: ep.name):
        if "." not in ep.name:
            short.setdefault(ep.value, ep.name)
    return {ep.name: short[ep.value] for ep in points if "." in ep.name and ep.value in short}


def driver_name(value: str) -> str:
    """The short driver name for a ``backup_driver`` value: a short name is returned
    as is, a name an installed driver declares (a Cinder path) is translated."""
    value = value.strip()
    return aliases().get(value, value)


def driver_for_service(service: str) -> str:
    """The installed driver that reads backups whose row ``service`` is ``service``
    (Cinder writes its ``backup_driver`` value there: a class path, or a module path in
    old releases; Ember writes its layout's ``cinder_service``). Raises
    ``DriverNotFound`` for an empty value or one no installed driver answers to."""
    if not service:
        raise errors.DriverNotFound(
            "the backup records no service, so its driver is unknown; set it with "
            "backup import or restore with an explicit backup_driver")
    name = driver_name(service)
    if name in installed_drivers():
        return name
    for ep in _entry_points():
        if "." not in ep.name and service == ep.value.replace(":", "."):
            return ep.name
    raise errors.DriverNotFound(
        "backup service %s names no installed Ember driver; installed drivers: %s"
        % (service, ", ".join(installed_drivers()) or "none"))


def driver_class(name: str) -> type[ChunkedBackupDriver]:
    """The class of the installed driver ``name`` (short or declared name); imports
    its module only."""
    short = driver_name(name)
    for ep in _entry_points():
        if ep.name == short:
            return _load(ep)
    raise errors.DriverNotFound(_not_installed_message(name, short))


def same_layout(conf, service_a: str, service_b: str) -> bool:
    """True when backups of the two services share one repository layout (the same
    driver, or two drivers whose layouts for ``conf`` declare the same family), so a
    driver of one can read the other's backups."""
    a, b = driver_for_service(service_a), driver_for_service(service_b)
    if a == b:
        return True
    family_a = load_layout(conf, a).family
    return bool(family_a) and family_a == load_layout(conf, b).family


def load_layout(conf, name: str | None = None) -> Layout:
    """The ``Layout`` the driver ``name`` (default ``conf.backup_driver``) declares for
    ``conf``: its entry-point class's ``layout(conf)``. Imports that class's module only;
    makes no driver (nothing is connected or mounted)."""
    requested = name if name is not None else conf.backup_driver
    cls = driver_class(requested)
    factory = getattr(cls, "layout", None)
    if factory is None:
        raise errors.ConfigError(
            "backup driver %s declares no layout: its class %s needs a layout(conf) class "
            "method (see docs/driver-authors.md)" % (cls.name or driver_name(requested),
                                                     cls.__name__))
    return factory(conf)


def layout_of(driver: ChunkedBackupDriver) -> Layout:
    """The ``Layout`` of a driver already made (wrapped or not), from its plugin's
    ``layout(conf)``: the service's, whichever driver it was given."""
    from ember.wrappers import layout_of as declared

    return declared(driver)


def load_driver(conf, name: str | None = None, *, retry: bool = True) -> ChunkedBackupDriver:
    """Make the driver ``name`` (default ``conf.backup_driver``) for ``conf``, through
    its class's ``create`` factory.

    With ``retry`` (the default) the driver comes wrapped in ``RetryingDriver`` as its
    layout's ``retry`` says (nothing is wrapped for a policy of one attempt); use
    ``ember.wrappers.unwrap`` to reach the driver itself. Errors of the driver's
    ``__init__`` (a bad option) propagate unchanged; a name that is not installed raises
    ``DriverNotFound`` naming the installed drivers and the distribution to install.
    """
    requested = name if name is not None else conf.backup_driver
    short = driver_name(requested)
    points = {ep.value: ep for ep in _entry_points() if ep.name == short}
    if not points or short not in installed_drivers():
        raise errors.DriverNotFound(_not_installed_message(requested, short))
    if len(points) > 1:
        raise errors.DriverNotFound(
            "backup_driver %s is provided by several installed distributions; uninstall "
            "all but one" % short)
    driver = _load(next(iter(points.values()))).create(conf)
    if retry:
        from ember.wrappers import RetryingDriver, layout_of  # wrappers import the contract

        policy = layout_of(driver).retry
        if policy.attempts > 1:
            driver = RetryingDriver(driver, policy.attempts, policy.backoff)
    return driver


def _load(entry_point):
    """Import the driver class of ``entry_point`` (only that module); an import error
    names the plugin that broke instead of passing for "not installed"."""
    try:
        return entry_point.load()
    except Exception as exc:
        raise errors.DriverNotFound(
            "backup driver %s (%s) is installed but cannot be imported: %s: %s"
            % (entry_point.name, entry_point.value, type(exc).__name__,
               str(exc).splitlines()[0] if str(exc) else "")) from exc


def _not_installed_message(requested: str, short: str) -> str:
    """One line: what was asked for, the closest name an installed or shipped driver
    answers to, ``pip install`` only for a driver Ember ships that is not installed, and
    what is installed."""
    shown = requested.strip()
    kind = short[len(_CINDER):].split(".")[0] if short.startswith(_CINDER) else short
    installed = ", ".join(offered_drivers()) or "none"
    if kind in SHIPPED_DRIVERS and kind not in installed_drivers():
        return ("backup_driver %s is not installed (installed drivers: %s): pip install "
                "ember-backup-%s" % (shown, installed, kind))
    close = _closest(shown, kind)
    if close:
        hint = "" if driver_name(close[0]) in installed_drivers() else \
            ", not installed: pip install ember-backup-%s" % close[0]
        return ("backup_driver %s: no such driver; did you mean %s%s? (installed drivers: "
                "%s)" % (shown, close[0], hint, installed))
    if kind in installed_drivers():
        return ("backup_driver %s is not a name of the installed %s driver; installed "
                "drivers: %s" % (shown, kind, installed))
    return "backup_driver %s: Ember has no %s driver; installed drivers: %s" % (
        shown, kind, installed)


def _closest(name: str, kind: str) -> list[str]:
    """The driver name ``name`` was probably meant to be: a short name (installed or
    shipped) near it, or for a Cinder path, a path the driver of its kind answers to."""
    if "." in name:
        names = [a for a in aliases() if a.startswith(_CINDER + kind + ".")]
    else:
        names = offered_drivers() + list(SHIPPED_DRIVERS)
    return difflib.get_close_matches(name, sorted(set(names)), n=1, cutoff=0.75)
