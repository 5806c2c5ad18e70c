"""Loading drivers by short name and by Cinder class path; the errors when that fails."""

import textwrap

import pytest
from stevedore.extension import ExtensionManager

from ember import errors, loader
from ember.loader import (aliases, driver_for_service, driver_name, installed_drivers,
                          load_driver, same_layout)
from ember.testing.config import make_conf
from ember.testing.memory import CINDER_SERVICE as MEMORY_SERVICE, MemoryBackupDriver
from ember.wrappers import RetryingDriver, unwrap


def test_memory_is_installed_by_the_core():
    assert "memory" in installed_drivers()
    assert installed_drivers() == sorted(installed_drivers())


def test_load_by_option_and_by_name():
    driver = load_driver(make_conf(backup_driver="memory"))
    assert isinstance(driver, RetryingDriver)
    assert (driver.attempts, driver.backoff) == (3, 1.0)  # the default RetryPolicy
    assert isinstance(unwrap(driver), MemoryBackupDriver)
    assert isinstance(load_driver(make_conf(), "memory", retry=False), MemoryBackupDriver)


@pytest.mark.parametrize("path,name", [
    ("cinder.backup.drivers.posix.PosixBackupDriver", "posix"),
    ("cinder.backup.drivers.nfs.NFSBackupDriver", "nfs"),
    ("cinder.backup.drivers.glusterfs.GlusterfsBackupDriver", "glusterfs"),
    ("cinder.backup.drivers.swift.SwiftBackupDriver", "swift"),
    ("cinder.backup.drivers.gcs.GoogleBackupDriver", "gcs"),
    ("cinder.backup.drivers.google.GoogleBackupDriver", "gcs"),
    ("cinder.backup.drivers.swift", "swift"),  # module path, as old rows store it
    ("cinder.backup.drivers.s3.S3BackupDriver", "s3"),
    (" posix ", "posix"),
])
def test_cinder_paths_are_aliases(path, name):
    if name not in installed_drivers():  # tox installs one plugin per environment
        pytest.skip("%s is not installed here; its distribution declares its aliases" % name)
    assert driver_name(path) == name
    assert driver_for_service(path) == name
    if "." in path:
        assert aliases()[path] == name


def test_the_core_declares_no_plugin_name():
    """Every name but the core's own memory driver comes from an installed plugin's
    metadata: nothing in the loader lists plugins."""
    import inspect

    source = inspect.getsource(loader)
    for name in ("posix", "nfs", "glusterfs", "swift", "gcs", "s3"):
        assert '"%s"' % name not in source and "'%s'" % name not in source


def test_cinder_driver_ember_lacks():
    with pytest.raises(errors.DriverNotFound) as raised:
        load_driver(make_conf(backup_driver="cinder.backup.drivers.ceph.CephBackupDriver"))
    assert str(raised.value) == (
        "backup_driver cinder.backup.drivers.ceph.CephBackupDriver: Ember has no ceph "
        "driver; installed drivers: %s" % ", ".join(loader.offered_drivers()))


def test_unknown_driver_names_the_installed_ones():
    with pytest.raises(errors.DriverNotFound) as raised:
        load_driver(make_conf(backup_driver="tape"))
    assert str(raised.value) == (
        "backup_driver tape: Ember has no tape driver; installed drivers: %s"
        % ", ".join(loader.offered_drivers()))
    assert "memory" not in loader.offered_drivers()  # a testing tool, not offered


@pytest.mark.parametrize("typed, meant", [
    ("posixx", "posix"), ("Posix", "posix"), ("psoix", "posix"),
    ("cinder.backup.drivers.posix.PosixBackupDriverr",
     "cinder.backup.drivers.posix.PosixBackupDriver")])
def test_a_near_miss_gets_did_you_mean_and_no_pip_install(monkeypatch, typed, meant):
    monkeypatch.setattr(loader, "installed_drivers", lambda: ["memory", "posix"])
    monkeypatch.setattr(loader, "aliases", lambda: {
        "cinder.backup.drivers.posix.PosixBackupDriver": "posix"})
    with pytest.raises(errors.DriverNotFound) as raised:
        load_driver(make_conf(), typed)
    assert str(raised.value) == (
        "backup_driver %s: no such driver; did you mean %s? (installed drivers: posix)"
        % (typed, meant))


def test_a_near_miss_of_a_shipped_driver_not_installed_says_how_to_install(monkeypatch):
    monkeypatch.setattr(loader, "installed_drivers", lambda: ["memory", "posix"])
    with pytest.raises(errors.DriverNotFound) as raised:
        load_driver(make_conf(), "swfit")
    assert str(raised.value) == (
        "backup_driver swfit: no such driver; did you mean swift, not installed: pip install "
        "ember-backup-swift? (installed drivers: posix)")


def test_a_cinder_path_no_installed_driver_declares_names_its_distribution(monkeypatch):
    # which plugins are installed depends on the environment (tox installs one per env),
    # so this test fixes the installed set instead of depending on it
    monkeypatch.setattr(loader, "installed_drivers", lambda: ["memory", "posix"])
    monkeypatch.setattr(loader, "aliases", lambda: {})
    path = "cinder.backup.drivers.nfs.NFSBackupDriver"
    with pytest.raises(errors.DriverNotFound) as raised:
        load_driver(make_conf(), path)
    assert str(raised.value) == (
        "backup_driver %s is not installed (installed drivers: posix): pip install "
        "ember-backup-nfs" % path)


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A real (unpackaged) distribution on sys.path registering three broken drivers."""
    (tmp_path / "ember_broken").mkdir()
    (tmp_path / "ember_broken" / "__init__.py").write_text("")
    (tmp_path / "ember_broken" / "driver.py").write_text(textwrap.dedent("""
        from ember import errors
        from ember.driver import ChunkedBackupDriver
        from ember.testing.memory import MemoryBackupDriver

        class RefusingDriver(MemoryBackupDriver):
            name = "refusing"
            def __init__(self, conf):
                raise errors.ConfigError("backup_refusing_url is required; set it in [DEFAULT]")

        class LayoutlessDriver(ChunkedBackupDriver):  # I/O, but no names or sizes
            name = "layoutless"
            ensure_container = list_objects = put_object = get_object = None
            delete_object = None
    """))
    info = tmp_path / "ember_backup_broken-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ember-backup-broken\n"
                                   "Version: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[ember.backup.drivers]\n"
        "refusing = ember_broken.driver:RefusingDriver\n"
        "layoutless = ember_broken.driver:LayoutlessDriver\n"
        "unimportable = ember_broken.nowhere:NoDriver\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    # stevedore keeps each namespace's entry points for the life of the process
    monkeypatch.setattr(ExtensionManager, "ENTRY_POINT_CACHE", {})
    return tmp_path


def test_driver_init_errors_propagate(plugin_dir):
    assert {"refusing", "unimportable"} <= set(installed_drivers())
    with pytest.raises(errors.ConfigError, match="^backup_refusing_url is required"):
        load_driver(make_conf(backup_driver="refusing"))


def test_a_driver_without_a_layout_is_refused_in_one_line(plugin_dir):
    message = ("backup driver layoutless declares no layout: its class LayoutlessDriver "
               "needs a layout(conf) class method (see docs/driver-authors.md)")
    conf = make_conf(backup_driver="layoutless")
    with pytest.raises(errors.ConfigError) as raised:
        loader.load_layout(conf)
    assert str(raised.value) == message
    with pytest.raises(errors.ConfigError) as raised:
        load_driver(conf)  # its retry policy is the layout's
    assert str(raised.value) == message


def test_load_layout_is_the_plugins_declaration():
    conf = make_conf(backup_driver="memory")
    layout = loader.load_layout(conf)
    assert layout == MemoryBackupDriver.layout(conf) == loader.layout_of(load_driver(conf))
    assert (layout.cinder_service, layout.family, layout.prefix_style) == (
        MEMORY_SERVICE, "", "posix")
    assert layout.default_container("0123456789") == "01/23/0123456789"


def test_unimportable_plugin_is_not_called_missing(plugin_dir):
    with pytest.raises(errors.DriverNotFound) as raised:
        load_driver(make_conf(backup_driver="unimportable"))
    assert str(raised.value) == (
        "backup driver unimportable (ember_broken.nowhere:NoDriver) is installed but cannot "
        "be imported: ModuleNotFoundError: No module named 'ember_broken.nowhere'")


def test_service_strings():
    assert driver_for_service("memory") == "memory"
    assert driver_for_service(MEMORY_SERVICE) == "memory"
    for bad in ("", "cinder.backup.drivers.ceph.CephBackupDriver", "acme.Driver"):
        with pytest.raises(errors.DriverNotFound):
            driver_for_service(bad)
    assert same_layout(make_conf(), "memory", MEMORY_SERVICE)


@pytest.mark.parametrize("a,b,same", [
    ("cinder.backup.drivers.nfs.NFSBackupDriver", "posix", True),
    ("glusterfs", "cinder.backup.drivers.nfs", True),
    ("swift", "cinder.backup.drivers.swift.SwiftBackupDriver", True),
    ("swift", "posix", False),
    ("s3", "gcs", False),
])
def test_families_come_from_the_drivers(a, b, same):
    needed = {driver_name(a), driver_name(b)}
    if not needed <= set(installed_drivers()):
        pytest.skip("needs %s installed" % ", ".join(sorted(needed)))
    assert same_layout(make_conf(), a, b) is same
