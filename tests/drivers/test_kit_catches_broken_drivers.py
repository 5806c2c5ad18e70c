"""The kit has teeth: drivers that each break one guarantee fail the tests for it.

The broken drivers are small subclasses of the memory driver, each violating one rule
of the contract; the kit runs against them in a child pytest, next to the honest memory
driver as a control, and the test checks which kit tests failed.
"""

import re
import subprocess
import sys
import textwrap

BROKEN = textwrap.dedent('''
    import pytest
    from ember import errors
    from ember.driver import ObjectWriter
    from ember.testing.chain import ChainConformance
    from ember.testing.config import make_conf
    from ember.testing.conformance import DriverConformance
    from ember.testing.memory import MemoryBackupDriver, MemoryStore

    def memory(cls=MemoryBackupDriver):
        conf = make_conf(backup_file_size=65536, backup_sha_block_size_bytes=4096)
        return cls(conf, store=MemoryStore())

    class LeakyLister(MemoryBackupDriver):          # ignores the prefix
        def list_objects(self, container, prefix=""):
            return super().list_objects(container, "")

    class KeyErrorGetter(MemoryBackupDriver):       # wrong error class
        def get_object(self, container, name):
            try:
                return self.store.containers[container][name]
            except KeyError:
                raise KeyError(name)

    class StrictDeleter(MemoryBackupDriver):        # deleting a missing object fails
        def delete_object(self, container, name):
            self.get_object(container, name)
            super().delete_object(container, name)

    class VisibleWriter(MemoryBackupDriver):        # streams straight into the object
        def open_writer(self, container, name):
            driver, parts = self, []
            class Writer(ObjectWriter):
                def write(self, data):
                    parts.append(bytes(data))
                    driver.put_object(container, name, b"".join(parts))
                def commit(self): pass
                def abort(self): pass
            return Writer()

    class AliasingPut(MemoryBackupDriver):          # keeps the caller's buffer
        def put_object(self, container, name, data):
            with self.store.lock:
                self.store.containers[container][name] = data
        def get_object(self, container, name):
            return bytes(super().get_object(container, name))

    class TruncatingPut(MemoryBackupDriver):        # silently loses a byte of big objects
        def put_object(self, container, name, data):
            super().put_object(container, name, data[:-1] if len(data) > 60000 else data)

    def kit(cls):
        class Conformance(DriverConformance):
            @pytest.fixture
            def driver(self):
                return memory(cls)
        class Chain(ChainConformance):
            @pytest.fixture
            def driver(self):
                return memory(cls)
        return Conformance, Chain

    TestHonestConformance, TestHonestChain = kit(MemoryBackupDriver)
    TestLeakyListerConformance, _ = kit(LeakyLister)
    TestKeyErrorGetterConformance, _ = kit(KeyErrorGetter)
    TestStrictDeleterConformance, _ = kit(StrictDeleter)
    TestVisibleWriterConformance, _ = kit(VisibleWriter)
    TestAliasingPutConformance, _ = kit(AliasingPut)
    _, TestTruncatingPutChain = kit(TruncatingPut)
''')

EXPECTED = {
    "LeakyLister": {"test_list_by_prefix_is_exact"},
    "KeyErrorGetter": {"test_missing_object", "test_delete_is_idempotent"},
    "StrictDeleter": {"test_delete_is_idempotent"},
    "VisibleWriter": {"test_writer_invisible_until_commit", "test_aborted_writer_leaves_nothing",
                      "test_aborted_writer_keeps_previous_object"},
    "AliasingPut": {"test_put_copies_mutable_buffers"},
    "TruncatingPut": {"test_chain_restores_every_point"},
}


def test_kit_fails_each_broken_driver(tmp_path):
    (tmp_path / "test_broken.py").write_text(BROKEN)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider",
                          "--import-mode=importlib", "test_broken.py"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    failed: dict[str, set[str]] = {}
    for cls, test in re.findall(r"^FAILED test_broken\.py::Test(\w+?)(?:Conformance|Chain)"
                                r"::(\w+)", run.stdout, re.M):
        failed.setdefault(cls, set()).add(test)
    assert "Honest" not in failed, run.stdout[-3000:]
    for cls, tests in EXPECTED.items():
        assert tests <= failed.get(cls, set()), (cls, failed.get(cls), run.stdout[-3000:])
