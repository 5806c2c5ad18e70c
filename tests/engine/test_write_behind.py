"""blocks.WriteBehind: early write-back of a restore target is a hint that works on
files, switches itself off where the call is refused, and never raises."""

import os
import sys

import pytest

from ember.engine import blocks

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="sync_file_range is Linux-only")


@linux_only
def test_regular_file_keeps_starting_write_back(tmp_path):
    path = tmp_path / "target.img"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        wb = blocks.WriteBehind(fd, every=8192)
        for i in range(4):
            os.pwrite(fd, b"\x5a" * 4096, i * 4096)
            wb.wrote(4096)
        assert wb._call is not None  # the two calls succeeded on a regular file
        assert wb._pending == 0  # 16 KiB written: two write-backs started, none pending
    finally:
        os.close(fd)
    assert path.read_bytes() == b"\x5a" * 16384


@linux_only
def test_a_pipe_refuses_it_and_it_switches_off_quietly():
    r, w = os.pipe()
    try:
        wb = blocks.WriteBehind(w, every=1)
        wb.wrote(1)  # sync_file_range on a pipe fails with ESPIPE: no exception
        assert wb._call is None
        wb.wrote(1)  # and it is not asked again
    finally:
        os.close(r)
        os.close(w)
