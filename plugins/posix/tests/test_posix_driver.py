"""Posix-specific behaviour: layout, modes, containment, temporary names, errno mapping.

The ENOSPC and EROFS cases run on a real small tmpfs mounted for the test (needs root;
skipped with the reason otherwise). EACCES runs the put in a child process that drops
to the ``nobody`` user, because root bypasses permission bits.
"""

import hashlib
import json
import multiprocessing
import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

from ember import errors
from ember.engine.engine import ChainMember, Engine
from ember.loader import load_driver, load_layout
from ember.testing.config import make_conf
from ember.wrappers import unwrap
from ember_posix.driver import TEMP_PREFIX, PosixBackupDriver
from ember_posix import mount
from ember_posix.opts import posix_opts
from ember.testing.services import PATIENCE

BACKUP_ID = "3f73f571-abb8-4739-ab41-32aab3470420"
CONTAINER = "3f/73/" + BACKUP_ID
NAME = "volume_c4f70a41-b4dd-4cad-bc69-53c5a35e0c4c_20250318100012_backup_%s-00001" % BACKUP_ID
FIXTURES = pathlib.Path(__file__).resolve().parents[3] / "tests" / "data" / "cinder-posix"


def make_driver(base, **overrides) -> PosixBackupDriver:
    return PosixBackupDriver(make_conf(posix_opts, backup_posix_path=str(base), **overrides))


@pytest.fixture
def base(tmp_path):
    return tmp_path / "repo"


@pytest.fixture
def driver(base):
    return make_driver(base)


@pytest.fixture
def umask_077():
    old = os.umask(0o077)  # the strictest usual umask: modes must not depend on it
    yield
    os.umask(old)


def mode(path) -> int:
    return os.stat(path).st_mode & 0o777


def test_loaded_by_default_and_by_cinder_path(base):
    conf = make_conf(posix_opts, backup_posix_path=str(base))
    assert isinstance(unwrap(load_driver(conf)), PosixBackupDriver)
    conf.set_override("backup_driver", "cinder.backup.drivers.posix.PosixBackupDriver")
    driver = unwrap(load_driver(conf))
    assert isinstance(driver, PosixBackupDriver)
    assert load_layout(conf).cinder_service == "cinder.backup.drivers.posix.PosixBackupDriver"


def test_options_and_defaults(tmp_path):
    conf = make_conf(state_path=str(tmp_path))
    driver = PosixBackupDriver(conf)
    assert driver.base_path == str(tmp_path / "backup")  # $state_path/backup
    assert conf.backup_container is None  # registered, unused (as in Cinder)
    assert driver.describe() == "posix repository %s" % (tmp_path / "backup")


def test_cinder_layout(driver, base):
    layout = PosixBackupDriver.layout(driver.conf)
    assert (layout.family, layout.container) == ("posix", None)
    assert layout.default_container(BACKUP_ID) == CONTAINER
    assert layout.object_prefix("c4f70a41-b4dd-4cad-bc69-53c5a35e0c4c", BACKUP_ID,
                                "20250318100012") == NAME[:-len("-00001")]
    driver.ensure_container(CONTAINER)
    driver.put_object(CONTAINER, NAME, b"data")
    assert (base / CONTAINER / NAME).read_bytes() == b"data"


def test_reads_a_cinder_written_repository():
    case = FIXTURES / "zlib-default"
    manifest = json.loads((case / "manifest.json").read_text())
    backup = manifest["backups"][0]
    driver = make_driver(case / "repo")
    container, prefix = backup["container"], backup["service_metadata"]
    names = sorted(driver.list_objects(container, prefix))
    assert names == sorted(p.name for p in (case / "repo" / container).iterdir()
                           if p.name.startswith(prefix))
    metadata = json.loads(driver.get_object(container, prefix + "_metadata"))
    assert metadata["backup_id"] == backup["backup_id"]
    assert len(names) == len(metadata["objects"]) + 2


def test_engine_restores_cinder_backups_through_posix(tmp_path):
    case = FIXTURES / "zlib-default"
    manifest = json.loads((case / "manifest.json").read_text())
    driver = make_driver(case / "repo")
    engine = Engine(driver, driver.conf)
    chain = []
    for backup in manifest["backups"]:  # oldest first, one chain
        chain.append(ChainMember(backup["backup_id"], backup["container"],
                                 backup["service_metadata"]))
        target = tmp_path / ("point-%d.img" % backup["point"])
        with open(target, "wb") as image:
            image.truncate(backup["volume_size_bytes"])
        engine.restore(chain, str(target), target_is_new=True)
        assert hashlib.sha256(target.read_bytes()).hexdigest() == backup["restore_sha256"]


def test_modes_ignore_the_umask(driver, base, umask_077):
    driver.ensure_container(CONTAINER)
    driver.put_object(CONTAINER, NAME, b"x")
    with driver.open_writer(CONTAINER, NAME + "0") as writer:
        writer.write(b"y")
    for directory in ("3f", "3f/73", CONTAINER):
        assert mode(base / directory) == 0o770, directory
    assert mode(base / CONTAINER / NAME) == 0o660
    assert mode(base / CONTAINER / (NAME + "0")) == 0o660


def test_existing_directories_keep_their_mode(driver, base):
    (base / "3f").mkdir(parents=True, mode=0o755)
    os.chmod(base / "3f", 0o755)
    driver.ensure_container(CONTAINER)
    assert mode(base / "3f") == 0o755 and mode(base / CONTAINER) == 0o770


@pytest.mark.parametrize("container", ["/etc", "../outside", "a/../../outside", "a/..", ""])
def test_container_outside_base_is_refused(driver, base, container):
    with pytest.raises(errors.PermanentDriverError) as raised:
        driver.ensure_container(container)
    message = str(raised.value)
    assert "\n" not in message and message.startswith("posix repository %s: " % base)
    assert not (base.parent / "outside").exists()


@pytest.mark.parametrize("operation", ["ensure_container", "put_object", "list_objects"])
def test_container_through_symlink_out_is_refused(driver, base, tmp_path, operation):
    outside = tmp_path / "outside"
    outside.mkdir()
    base.mkdir()
    (base / "link").symlink_to(outside)
    call = {"ensure_container": lambda: driver.ensure_container("link/sub"),
            "put_object": lambda: driver.put_object("link/sub", NAME, b"x"),
            "list_objects": lambda: driver.list_objects("link/sub")}[operation]
    with pytest.raises(errors.PermanentDriverError) as raised:
        call()
    assert str(raised.value) == (
        "posix repository %s: container link/sub resolves to %s, outside the repository "
        "(a symlink?); refusing it" % (base, outside / "sub"))
    assert list(outside.iterdir()) == []


def test_symlink_inside_base_is_allowed(driver, base):
    (base / "real").mkdir(parents=True)
    (base / "alias").symlink_to(base / "real")
    driver.ensure_container("alias")
    driver.put_object("alias", NAME, b"x")
    assert (base / "real" / NAME).read_bytes() == b"x"


@pytest.mark.parametrize("name", ["a/b", TEMP_PREFIX + "x", "..", ""])
def test_invalid_object_names(driver, name):
    driver.ensure_container(CONTAINER)
    with pytest.raises(errors.PermanentDriverError, match="is not a valid object name"):
        driver.put_object(CONTAINER, name, b"x")


def test_temporary_name_while_writing(driver, base):
    driver.ensure_container(CONTAINER)
    writer = driver.open_writer(CONTAINER, NAME)
    writer.write(b"partial")
    on_disk = os.listdir(base / CONTAINER)
    assert len(on_disk) == 1 and on_disk[0].startswith(TEMP_PREFIX)
    assert not on_disk[0].startswith("volume_")  # never matches a backup's prefix
    assert driver.list_objects(CONTAINER, "") == []
    writer.commit()
    assert os.listdir(base / CONTAINER) == [NAME]


def test_list_skips_subdirectories(driver, base):
    driver.ensure_container("ab")
    driver.ensure_container("ab/cd/abcd")
    driver.put_object("ab", "volume_x-00001", b"x")
    assert driver.list_objects("ab", "") == ["volume_x-00001"]


def test_create_containers_off(base):
    driver = make_driver(base, backup_create_containers=False)
    with pytest.raises(errors.ContainerNotFound) as raised:
        driver.check_setup()
    assert str(raised.value) == ("posix repository %s does not exist and "
                                 "backup_create_containers is False; create it" % base)
    base.mkdir()
    driver.check_setup()
    with pytest.raises(errors.ContainerNotFound) as raised:
        driver.ensure_container(CONTAINER)
    assert str(raised.value) == (
        "posix repository %s: container directory %s does not exist and "
        "backup_create_containers is False; create it or set the option"
        % (base, base / CONTAINER))
    assert list(base.iterdir()) == []
    with pytest.raises(errors.ContainerNotFound, match="ensure_container first"):
        driver.put_object(CONTAINER, NAME, b"x")
    (base / CONTAINER).mkdir(parents=True)
    driver.ensure_container(CONTAINER)  # an existing one is fine


def test_container_that_is_a_file(driver, base):
    base.mkdir()
    (base / "plain").write_bytes(b"")
    with pytest.raises(errors.PermanentDriverError, match="exists but is not a directory"):
        driver.ensure_container("plain")


# ---- a real small file system for ENOSPC and EROFS ----------------------------------------
@pytest.fixture
def tmpfs(tmp_path):
    mountpoint = tmp_path / "tmpfs"
    mountpoint.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a 256 KiB tmpfs for ENOSPC/EROFS needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mountpoint)],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip("cannot mount a tmpfs here: %s" % done.stderr.strip())
    yield mountpoint
    subprocess.run(["umount", "-l", str(mountpoint)], check=True)


def test_disk_full_is_permanent_and_leaves_nothing(tmpfs):
    driver = make_driver(tmpfs)
    driver.ensure_container(CONTAINER)
    driver.put_object(CONTAINER, NAME, b"small")
    big = hashlib.shake_256(b"x").digest(1024 * 1024)
    with pytest.raises(errors.PermanentDriverError) as raised:
        driver.put_object(CONTAINER, NAME, big)
    assert str(raised.value) == (
        "posix repository %s: cannot write %s: No space left on device (ENOSPC); "
        "free space on the file system" % (tmpfs, tmpfs / CONTAINER / NAME))
    assert os.listdir(tmpfs / CONTAINER) == [NAME]  # no temporary file left behind
    assert driver.get_object(CONTAINER, NAME) == b"small"  # the old object is intact
    with pytest.raises(errors.PermanentDriverError, match=r"\(ENOSPC\)"):
        with driver.open_writer(CONTAINER, NAME + "-stream") as writer:
            for _ in range(8):
                writer.write(big[:64 * 1024])
    assert os.listdir(tmpfs / CONTAINER) == [NAME]


def test_read_only_file_system(tmpfs):
    driver = make_driver(tmpfs)
    driver.ensure_container(CONTAINER)
    driver.put_object(CONTAINER, NAME, b"kept")
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    with pytest.raises(errors.PermanentDriverError) as raised:
        driver.put_object(CONTAINER, NAME, b"new")
    assert str(raised.value) == (
        "posix repository %s: cannot write %s: Read-only file system (EROFS); "
        "the file system is mounted read-only" % (tmpfs, tmpfs / CONTAINER / NAME))
    with pytest.raises(errors.PermanentDriverError, match=r"\(EROFS\)"):
        driver.ensure_container("other")
    with pytest.raises(errors.PermanentDriverError, match=r"cannot delete .*\(EROFS\)"):
        driver.delete_object(CONTAINER, NAME)
    assert driver.get_object(CONTAINER, NAME) == b"kept"  # reading still works


# ---- permission denied ----------------------------------------------------------------------
def _put_as_nobody(base, result):
    try:
        if os.geteuid() == 0:
            os.setgid(65534)
            os.setuid(65534)
        make_driver(base).put_object(CONTAINER, NAME, b"x")
        result.put(("ok", ""))
    except Exception as exc:  # sent back to the test
        result.put((type(exc).__name__, str(exc)))


def test_permission_denied_is_access_denied():
    top = tempfile.mkdtemp(prefix="ember-eacces-")  # under /tmp, traversable by nobody
    try:
        os.chmod(top, 0o755)
        base = pathlib.Path(top) / "repo"
        make_driver(base).ensure_container(CONTAINER)  # 0770, owned by us
        if os.geteuid() != 0:
            os.chmod(base / CONTAINER, 0o500)
        context = multiprocessing.get_context("fork")
        result = context.Queue()
        child = context.Process(target=_put_as_nobody, args=(base, result))
        child.start()
        kind, message = result.get(timeout=PATIENCE)
        child.join()
    finally:
        subprocess.run(["chmod", "-R", "u+rwx", top], check=False)
        shutil.rmtree(top)
    assert kind == "AccessDenied"
    assert message == (
        "posix repository %s: cannot write %s: Permission denied (EACCES); check the owner "
        "and mode of the directory" % (base, base / CONTAINER / NAME))


# ---- what the engine is told: round trips only on a network file system ------------------
def test_a_repository_on_a_local_file_system_says_it_has_no_round_trips(tmpfs):
    driver = make_driver(tmpfs / "repo")  # not made yet: judged by the mount above it
    assert mount.filesystem_type(str(tmpfs / "repo")) == "tmpfs"
    assert (driver.capabilities.max_concurrency, driver.capabilities.round_trips) == (8, False)
    assert Engine(driver, driver.conf).round_trips is False


def test_the_deepest_and_last_mount_above_a_path_gives_its_type(tmp_path):
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/sda1 / ext4 rw 0 0\n"
        "server:/export /srv/backups nfs4 rw 0 0\n"
        "tmpfs /srv/backups/local\\040dir tmpfs rw 0 0\n"
        "server:/other /srv/backups2 cifs rw 0 0\n"
        "short line\n")
    kinds = {path: mount.filesystem_type(path, str(mounts)) for path in (
        "/srv/backups", "/srv/backups/aa/bb/new", "/srv/backups/local dir/x",
        "/srv/backups2", "/srv/backupsX", "/var")}
    assert kinds == {"/srv/backups": "nfs4", "/srv/backups/aa/bb/new": "nfs4",
                     "/srv/backups/local dir/x": "tmpfs", "/srv/backups2": "cifs",
                     "/srv/backupsX": "ext4", "/var": "ext4"}
    with mounts.open("a") as more:  # mounted over: the last mount at a point wins
        more.write("server:/export /srv/backups/local\\040dir nfs rw 0 0\n")
    assert mount.filesystem_type("/srv/backups/local dir/x", str(mounts)) == "nfs"
    assert mount.filesystem_type("/x", str(tmp_path / "missing")) is None
    assert {"nfs", "nfs4", "cifs"} <= mount.NETWORK_FSTYPES
    assert not {"ext4", "xfs", "tmpfs", "btrfs", "overlay"} & mount.NETWORK_FSTYPES
