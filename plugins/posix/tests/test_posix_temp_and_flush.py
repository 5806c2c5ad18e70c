"""Temporary files of puts killed by SIGKILL are cleaned up (by deleting the object or by
the next put of its name) while a live put's file is left alone; ``flush`` syncs the
container's directories. The kills are real: a child process is SIGKILLed mid-put."""

import multiprocessing
import os
import signal

import pytest

from ember import errors
from ember.engine import format as fmt
from ember.engine.engine import BackupSpec, ChainMember, Engine
from ember.testing.config import make_conf
from ember_posix.driver import TEMP_PREFIX, PosixBackupDriver, temp_path
from ember_posix.opts import posix_opts

BACKUP_ID = "3f73f571-abb8-4739-ab41-32aab3470420"
CONTAINER = "3f/73/" + BACKUP_ID
PREFIX = fmt.posix_prefix("c4f70a41-b4dd-4cad-bc69-53c5a35e0c4c", "20250318100012", BACKUP_ID)
NAME = fmt.object_name(PREFIX, 1)


def make_driver(base, **overrides) -> PosixBackupDriver:
    return PosixBackupDriver(make_conf(posix_opts, backup_posix_path=str(base), **overrides))


@pytest.fixture
def driver(tmp_path):
    driver = make_driver(tmp_path / "repo")
    driver.ensure_container(CONTAINER)
    return driver


def _put_then_hang(base, name, ready):
    writer = make_driver(base).open_writer(CONTAINER, name)
    writer.write(b"partial data of a put that never finishes")
    ready.set()
    signal.pause()


def _killed_put(driver, name=NAME) -> str:
    """Start a put of ``name`` in a child process, SIGKILL it mid-write; return the
    temporary file it left."""
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    child = ctx.Process(target=_put_then_hang, args=(driver.base_path, name, ready))
    child.start()
    try:
        assert ready.wait(30), "the child never started its put"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
    assert child.exitcode == -signal.SIGKILL
    leftovers = [n for n in os.listdir(driver.container_path(CONTAINER))
                 if n.startswith(TEMP_PREFIX)]
    assert leftovers == [TEMP_PREFIX + name]
    return os.path.join(driver.container_path(CONTAINER), leftovers[0])


def test_temp_name_carries_the_object_name_and_never_a_prefix(driver):
    writer = driver.open_writer(CONTAINER, NAME)
    on_disk = os.listdir(driver.container_path(CONTAINER))
    assert on_disk == [TEMP_PREFIX + NAME]
    assert not on_disk[0].startswith(PREFIX)
    writer.abort()
    assert os.listdir(driver.container_path(CONTAINER)) == []


def test_long_names_get_a_hashed_temp_name_that_fits(driver):
    name = "volume_" + "x" * 240
    writer = driver.open_writer(CONTAINER, name)
    temp = os.path.basename(temp_path(os.path.join(driver.container_path(CONTAINER), name)))
    assert os.listdir(driver.container_path(CONTAINER)) == [temp]
    assert len(temp) == len(TEMP_PREFIX) + 64
    writer.commit()
    assert driver.get_object(CONTAINER, name) == b""


def test_deleting_the_object_removes_a_killed_puts_temp_file(driver):
    driver.put_object(CONTAINER, NAME, b"older version")
    leftover = _killed_put(driver)
    assert driver.list_objects(CONTAINER, PREFIX) == [NAME]  # the temp is never listed
    driver.delete_object(CONTAINER, NAME)
    assert not os.path.exists(leftover)
    assert os.listdir(driver.container_path(CONTAINER)) == []


def test_engine_delete_of_a_backup_removes_its_killed_temp_files(driver):
    for n in (1, 2):
        driver.put_object(CONTAINER, fmt.object_name(PREFIX, n), b"data %d" % n)
    _killed_put(driver, fmt.object_name(PREFIX, 3))  # killed before its first commit
    other = fmt.posix_prefix("c4f70a41-b4dd-4cad-bc69-53c5a35e0c4c", "20250318100013",
                             "another-backup")
    live = driver.open_writer(CONTAINER, fmt.object_name(PREFIX, 4))  # a live put
    other_live = driver.open_writer(CONTAINER, fmt.object_name(other, 1))
    # the crashed backup has no documents and the leftover is never listed: the sweep
    # runs when the engine deletes the (missing) documents
    assert Engine(driver, driver.conf).delete(CONTAINER, PREFIX) == 2
    assert sorted(os.listdir(driver.container_path(CONTAINER))) == sorted(
        [TEMP_PREFIX + fmt.object_name(PREFIX, 4), TEMP_PREFIX + fmt.object_name(other, 1)])
    live.abort()
    other_live.abort()


def test_next_put_of_the_name_reclaims_a_killed_puts_temp_file(driver):
    _killed_put(driver)
    driver.put_object(CONTAINER, NAME, b"new")
    assert os.listdir(driver.container_path(CONTAINER)) == [NAME]
    assert driver.get_object(CONTAINER, NAME) == b"new"


def test_a_live_puts_temp_file_survives_a_delete_and_a_second_put(driver):
    live = driver.open_writer(CONTAINER, NAME)
    live.write(b"live ")
    driver.delete_object(CONTAINER, NAME)  # must not take the live put's file
    driver.put_object(CONTAINER, NAME, b"concurrent")  # uses a second temporary name
    live.write(b"put")
    live.commit()
    assert driver.get_object(CONTAINER, NAME) == b"live put"
    assert os.listdir(driver.container_path(CONTAINER)) == [NAME]


def test_flush_syncs_existing_containers_and_ignores_missing_ones(driver, tmp_path):
    driver.put_object(CONTAINER, NAME, b"x")
    driver.flush(CONTAINER)
    driver.flush("no/such/container")
    assert driver.get_object(CONTAINER, NAME) == b"x"


def test_a_backup_flushes_before_its_documents(driver, tmp_path, monkeypatch):
    events = []
    real_flush, real_put = PosixBackupDriver.flush, PosixBackupDriver.put_object
    monkeypatch.setattr(PosixBackupDriver, "flush",
                        lambda self, c: events.append("flush") or real_flush(self, c))
    monkeypatch.setattr(PosixBackupDriver, "put_object",
                        lambda self, c, n, d: events.append(n[len(PREFIX):])
                        or real_put(self, c, n, d))
    real_open_writer = PosixBackupDriver.open_writer

    def open_writer(self, c, n):
        # a streamed object (the _sha256file, written as digests come) is visible at commit
        writer = real_open_writer(self, c, n)
        real_commit = writer.commit
        writer.commit = lambda: events.append(n[len(PREFIX):]) or real_commit()
        return writer
    monkeypatch.setattr(PosixBackupDriver, "open_writer", open_writer)
    source = tmp_path / "vol"
    source.write_bytes(os.urandom(100_000))  # one small object: put whole
    engine = Engine(driver, driver.conf)
    engine.backup(BackupSpec(backup_id=BACKUP_ID, volume_id="v", source_path=str(source),
                             container=CONTAINER, prefix=PREFIX, created_at="now"))
    assert events == ["-00001", "flush", "_sha256file", "_metadata", "flush"]
    target = tmp_path / "out"
    target.write_bytes(b"")
    engine.restore([ChainMember(BACKUP_ID, CONTAINER, PREFIX)], str(target),
                   target_is_new=True)
    assert target.read_bytes() == source.read_bytes()


def test_container_swapped_for_a_symlink_out_is_refused_after_use(tmp_path):
    """The driver remembers a checked container (realpath per put is costly), but a
    container replaced by a symlink leading out of the repository is refused anyway."""
    base, outside = tmp_path / "repo", tmp_path / "outside"
    outside.mkdir()
    conf = make_conf()
    driver = PosixBackupDriver(conf)
    conf.set_override("backup_posix_path", str(base))
    driver.ensure_container("aa/bb")
    driver.put_object("aa/bb", "volume_x-00001", b"first")  # checked and remembered
    os.rename(base / "aa" / "bb", tmp_path / "moved")
    (base / "aa" / "bb").symlink_to(outside)
    with pytest.raises(errors.PermanentDriverError) as raised:
        driver.put_object("aa/bb", "volume_x-00002", b"second")
    assert str(raised.value) == (
        "posix repository %s: container aa/bb resolves to %s, outside the repository "
        "(a symlink?); refusing it" % (base, outside))
    assert list(outside.iterdir()) == []
