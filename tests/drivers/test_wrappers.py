"""RetryingDriver, LoggingDriver and ReadOnlyDriver around a real (memory) driver, with
faults injected by FaultyDriver."""

import logging

import pytest

from ember import errors
from ember.testing.config import make_conf
from ember.testing.faulty import FaultyDriver
from ember.testing.memory import MemoryBackupDriver, MemoryStore
from ember.wrappers import (LoggingDriver, ReadOnlyDriver, RetryingDriver, layout_of,
                            retry_call, unwrap)

C = "ab/cd/abcd"


@pytest.fixture
def memory():
    driver = MemoryBackupDriver(make_conf(), store=MemoryStore())
    driver.ensure_container(C)
    return driver


@pytest.fixture
def faulty(memory):
    return FaultyDriver(memory)


def retrying(inner, attempts=3, **kw):
    sleeps = []
    return RetryingDriver(inner, attempts, 1.0, sleep=sleeps.append, **kw), sleeps


def test_retry_recovers_from_transient_errors(faulty):
    faulty.fail("put_object", errors.TransientDriverError("503 from proxy"), on_call=1, times=2)
    driver, sleeps = retrying(faulty)
    driver.put_object(C, "volume_x-00001", b"data")
    assert faulty.calls["put_object"] == 3
    assert sleeps == [1.0, 2.0]
    assert driver.get_object(C, "volume_x-00001") == b"data"


def test_retry_gives_up_with_the_last_error(faulty):
    faulty.fail("get_object", errors.TransientDriverError("timed out"), times=None)
    driver, sleeps = retrying(faulty)
    with pytest.raises(errors.TransientDriverError) as raised:
        driver.get_object(C, "volume_x-00001")
    assert str(raised.value) == "timed out (gave up after 3 attempts)"
    assert faulty.calls["get_object"] == 3 and sleeps == [1.0, 2.0]


@pytest.mark.parametrize("error", [errors.PermanentDriverError("disk full"),
                                   errors.AccessDenied("401"), errors.ObjectNotFound("gone")])
def test_retry_leaves_other_errors_alone(faulty, error):
    faulty.fail("get_object", error, times=None)
    driver, sleeps = retrying(faulty)
    with pytest.raises(type(error)):
        driver.get_object(C, "volume_x-00001")
    assert faulty.calls["get_object"] == 1 and sleeps == []


def test_retry_backoff_is_capped(faulty):
    faulty.fail("delete_object", errors.TransientDriverError("429"), times=None)
    driver, sleeps = retrying(faulty, attempts=6, max_backoff=5.0)
    with pytest.raises(errors.TransientDriverError):
        driver.delete_object(C, "volume_x-00001")
    assert sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_retry_covers_listing_and_stream_opening(faulty, memory):
    memory.put_object(C, "volume_x-00001", b"abc")
    for operation in ("list_objects", "open_reader", "open_writer", "ensure_container"):
        faulty.fail(operation, errors.TransientDriverError("reset"), on_call=1)
    driver, sleeps = retrying(faulty)
    assert driver.list_objects(C, "volume_x") == ["volume_x-00001"]
    assert driver.open_reader(C, "volume_x-00001").read() == b"abc"
    with driver.open_writer(C, "volume_x-00002") as writer:
        writer.write(b"def")
    driver.ensure_container(C)
    assert memory.get_object(C, "volume_x-00002") == b"def"
    assert sleeps == [1.0] * 4


def test_one_attempt_means_no_retry(faulty):
    faulty.fail("put_object", errors.TransientDriverError("503"))
    driver, sleeps = retrying(faulty, attempts=1)
    with pytest.raises(errors.TransientDriverError, match="^503$"):
        driver.put_object(C, "volume_x-00001", b"")
    assert sleeps == []
    with pytest.raises(errors.ConfigError, match="at least 1"):
        RetryingDriver(faulty, 0)


def test_retry_call_is_the_same_loop_for_a_piece_of_a_stream(caplog):
    # what a streaming writer uses to resend one part under the driver's retry policy
    outcomes = [errors.TransientDriverError("part 3 refused"), None]
    delays = []

    def send():
        outcome = outcomes.pop(0)
        if outcome:
            raise outcome
        return "etag"

    with caplog.at_level(logging.WARNING, logger="ember.driver"):
        assert retry_call(send, attempts=3, backoff=0.5, what="s3 part 3",
                          sleep=delays.append) == "etag"
    assert delays == [0.5]
    assert "s3 part 3 failed (part 3 refused); retry 1/2 in 0.5s" in caplog.text

    def refuse():
        raise errors.TransientDriverError("still refused")

    with pytest.raises(errors.TransientDriverError) as err:
        retry_call(refuse, attempts=2, backoff=0.5, what="s3 part 4", sleep=delays.append)
    assert str(err.value) == "still refused (gave up after 2 attempts)"


def test_wrappers_delegate_the_contract_and_nothing_else(memory):
    stack = RetryingDriver(LoggingDriver(ReadOnlyDriver(memory)))
    assert (stack.name, stack.capabilities) == (memory.name, memory.capabilities)
    # names and sizes are the plugin's Layout, found under any stack, not wrapper members
    for member in ("cinder_service", "default_container", "object_prefix", "object_size",
                   "sha_block_size", "progress_timer_enabled", "retry_policy"):
        assert not hasattr(stack, member) and not hasattr(memory, member), member
    assert layout_of(stack) == layout_of(memory) == MemoryBackupDriver.layout(memory.conf)
    assert layout_of(stack).default_container("0123456789") == "01/23/0123456789"
    memory.put_object(C, "volume_x-00001", b"x")
    assert list(stack.list_containers()) == [C]
    stack.sweep(C, "volume_x")  # optional contract methods delegate too
    assert not hasattr(stack, "store")  # a driver's own attribute: only through unwrap
    assert unwrap(stack).store is memory.store


def test_logging_driver_logs_operations_not_data(memory, caplog):
    driver = LoggingDriver(memory)
    with caplog.at_level(logging.DEBUG, logger="ember.driver"):
        driver.put_object(C, "volume_x-00001", b"secret-bytes")
        with pytest.raises(errors.ObjectNotFound):
            driver.get_object(C, "volume_x-00002")
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith("memory put_object %s/volume_x-00001 (12 bytes) took " % C)
    assert messages[1].startswith("memory get_object %s/volume_x-00002 failed after " % C)
    assert [r.levelname for r in caplog.records] == ["DEBUG", "WARNING"]
    assert not any("secret-bytes" in m for m in messages)


def test_read_only_driver_refuses_changes(memory):
    memory.put_object(C, "volume_x-00001", b"kept")
    driver = ReadOnlyDriver(memory)
    assert driver.get_object(C, "volume_x-00001") == b"kept"
    for call in (lambda: driver.put_object(C, "volume_x-00002", b""),
                 lambda: driver.delete_object(C, "volume_x-00001"),
                 lambda: driver.open_writer(C, "volume_x-00003")):
        with pytest.raises(errors.PermanentDriverError, match="^memory is opened read-only: "
                                                              "refusing "):
            call()
    assert sorted(memory.list_objects(C)) == ["volume_x-00001"]
