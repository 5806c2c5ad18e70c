"""FaultyDriver injects exactly the faults it is told to, on exactly the calls."""

import time

import pytest

from ember import errors
from ember.testing.config import make_conf
from ember.testing.faulty import FaultyDriver
from ember.testing.memory import MemoryBackupDriver, MemoryStore

C = "container"


@pytest.fixture
def faulty():
    inner = MemoryBackupDriver(make_conf(), store=MemoryStore())
    inner.ensure_container(C)
    return FaultyDriver(inner)


def test_fail_on_the_nth_call_only(faulty):
    faulty.fail("put_object", errors.PermanentDriverError("disk full"), on_call=2)
    faulty.put_object(C, "a", b"1")
    with pytest.raises(errors.PermanentDriverError, match="disk full"):
        faulty.put_object(C, "b", b"2")
    faulty.put_object(C, "c", b"3")
    assert sorted(faulty.list_objects(C)) == ["a", "c"]
    assert faulty.calls["put_object"] == 3
    assert [entry for entry in faulty.log if entry[0] == "put_object"] == [
        ("put_object", C, "a"), ("put_object", C, "b"), ("put_object", C, "c")]


def test_match_selects_objects(faulty):
    faulty.fail("get_object", errors.TransientDriverError("503"), times=None,
                match=lambda name: name.endswith("_metadata"))
    faulty.put_object(C, "p-00001", b"x")
    faulty.put_object(C, "p_metadata", b"{}")
    assert faulty.get_object(C, "p-00001") == b"x"
    with pytest.raises(errors.TransientDriverError):
        faulty.get_object(C, "p_metadata")


def test_corrupt_on_read_and_on_write(faulty):
    faulty.put_object(C, "a", b"\x00abc")
    faulty.corrupt("get_object", on_call=1)
    assert faulty.get_object(C, "a") == b"\xffabc"
    assert faulty.get_object(C, "a") == b"\x00abc"  # only the first call
    faulty.corrupt("put_object", how=lambda data: data[:-1])
    faulty.put_object(C, "b", b"full")
    assert faulty.inner.get_object(C, "b") == b"ful"
    faulty.corrupt("open_reader")
    assert faulty.open_reader(C, "a").read() == b"\xffabc"


def test_delay(faulty):
    faulty.delay("list_objects", seconds=0.2)
    start = time.monotonic()
    faulty.list_objects(C)
    assert time.monotonic() - start >= 0.2


def test_writer_faults_leave_nothing(faulty):
    faulty.fail("write", errors.PermanentDriverError("ENOSPC"), on_call=2)
    with pytest.raises(errors.PermanentDriverError):
        with faulty.open_writer(C, "w1") as writer:
            writer.write(b"first")
            writer.write(b"second")
    faulty.fail("commit", errors.TransientDriverError("reset"))
    writer = faulty.open_writer(C, "w2")
    writer.write(b"data")
    with pytest.raises(errors.TransientDriverError):
        writer.commit()
    assert faulty.list_objects(C) == []


def test_unknown_operation_is_refused(faulty):
    with pytest.raises(ValueError, match="unknown operation 'put'"):
        faulty.fail("put", RuntimeError())
    with pytest.raises(ValueError, match="carry data"):
        faulty.corrupt("delete_object")
