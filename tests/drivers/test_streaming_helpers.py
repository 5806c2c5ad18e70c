"""The driver contract's streaming helpers (``ember.driver``): ``PipedObjectWriter`` hands
the bytes to an upload that reads them on another thread; ``IterReader`` reads a stream
of chunks as a file. (Swift uses both against a real server: plugins/swift/tests.)"""

import concurrent.futures as cf

import pytest
from ember.driver import IterReader, PipedObjectWriter
from ember.errors import PermanentDriverError


@pytest.fixture
def pool():
    with cf.ThreadPoolExecutor(2) as executor:
        yield executor


def test_commit_returns_what_the_upload_read(pool):
    writer = PipedObjectWriter(lambda body: b"".join(body), pool, depth=2)
    for i in range(10):  # more pieces than the queue holds: the upload reads as we write
        writer.write(b"%d," % i)
    writer.write(b"")
    assert writer.commit() == b"0,1,2,3,4,5,6,7,8,9,"


def test_the_body_is_also_a_file(pool):
    def upload(body):
        return [body.read(3), body.read(100), body.read(5)]

    writer = PipedObjectWriter(upload, pool)
    writer.write(b"abcd")
    writer.write(b"efgh")
    assert writer.commit() == [b"abc", b"d", b"efgh"]


def test_abort_breaks_the_body_off(pool):
    seen = []

    def upload(body):
        try:
            for chunk in body:
                seen.append(chunk)
        except Exception as exc:  # what a client's request would see
            seen.append(type(exc).__name__)
            raise
        seen.append("stored")  # must never happen

    writer = PipedObjectWriter(upload, pool)
    writer.write(b"partial")
    writer.abort()
    assert seen == [b"partial", "_UploadAborted"]


def test_a_failed_upload_fails_the_next_write(pool):
    def upload(body):
        next(iter(body))
        raise PermanentDriverError("server said no")

    writer = PipedObjectWriter(upload, pool, depth=1)
    with pytest.raises(PermanentDriverError, match="server said no"):
        for _ in range(100):
            writer.write(b"x" * 10)
    writer.abort()  # after a failure: nothing more to do, no error


def test_iter_reader_reads_exact_sizes_and_closes_once():
    closed = []
    reader = IterReader(iter([b"ab", b"", b"cdef", b"g"]), on_close=lambda: closed.append(1))
    assert reader.read(3) == b"abc"
    assert reader.read(1 << 40) == b"defg"  # a huge size allocates nothing ahead
    assert reader.read(5) == b""
    reader.close()
    reader.close()
    assert closed == [1]
    assert IterReader(iter([b"xy", b"z"])).read() == b"xyz"


def test_iter_reader_that_ends_before_its_declared_length_raises():
    from ember.errors import TransientDriverError

    reader = IterReader(iter([b"ab", b"cd"]), length=10, what="object x at here")
    assert reader.read(3) == b"abc"
    with pytest.raises(TransientDriverError) as exc:
        reader.read()
    assert str(exc.value) == ("the download of object x at here ended after 4 of the 10 "
                              "bytes the server declared; the connection was cut, retry "
                              "the operation")
    assert IterReader(iter([b"ab", b"cd"]), length=4).read() == b"abcd"
    with pytest.raises(TransientDriverError):
        IterReader(iter([b"abcdef"]), length=4).read()
