"""Reading a backup document is bounded by what the object holds, not by the limit."""

import pytest

from ember import errors
from ember.engine import plan


class FileReader:
    """A driver whose reader is a real file, as the posix driver's is."""

    def __init__(self, path):
        self.path = path

    def open_reader(self, container, name):
        return open(self.path, "rb")


def test_a_huge_limit_reads_only_what_the_file_holds(tmp_path):
    path = tmp_path / "doc"
    path.write_bytes(b"{}" * 3000000)  # 6 MB: several pieces
    data = plan.read_document(FileReader(path), "c", "doc", plan.MAX_VOLUME, "b1")
    assert data == b"{}" * 3000000


def test_a_document_over_the_limit_is_refused(tmp_path):
    path = tmp_path / "doc"
    path.write_bytes(b"x" * 101)
    with pytest.raises(errors.InvalidBackup, match="holds more than the 100 bytes"):
        plan.read_document(FileReader(path), "c", "doc", 100, "b1")
    assert plan.read_document(FileReader(path), "c", "doc", 101, "b1") == b"x" * 101
