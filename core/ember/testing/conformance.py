"""The driver conformance suite: pytest tests every repository driver must pass.

A driver's test module needs about ten lines::

    import pytest
    from ember.testing.config import make_conf
    from ember.testing.conformance import DriverConformance
    from ember_mystore.driver import MystoreBackupDriver

    class TestMystore(DriverConformance):
        @pytest.fixture
        def driver(self):
            with MystoreBackupDriver(make_conf(backup_mystore_url="...")) as driver:
                yield driver

The ``layout`` fixture is the ``Layout`` the driver's plugin declares
(``ember.wrappers.layout_of``); ``test_layout_is_declared_data`` checks it. Optional
fixtures a subclass may override: ``container`` (an existing container the tests may
fill; default: a fresh one per test, ``layout.default_container(<uuid>)`` for
posix-style drivers, ``ember-conformance-<hex>`` otherwise) and ``missing_container``
(a container name that does not exist). Every test uses its own object-name prefixes
(from ``layout.object_prefix``), so tests may share a container, and removes what it
wrote. A test is skipped only when its name is listed in
``driver.capabilities.unsupported``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from ember import errors
from ember.engine import format as fmt
from ember.driver import ChunkedBackupDriver
from ember.layout import OBJECT_STORE_PREFIX, POSIX_PREFIX, Layout
from ember.wrappers import layout_of


def random_bytes(size: int, seed: int) -> bytes:
    """Deterministic incompressible bytes (a seeded stream; cheap for a few MiB)."""
    return hashlib.shake_256(seed.to_bytes(8, "big")).digest(size) if size else b""


class KitFixtures:
    """Fixtures shared by ``DriverConformance`` and ``ChainConformance``. The ``driver``
    fixture is the test module's (in the class or at module level): it is not defined
    here, so that a module-level one is not shadowed."""

    @pytest.fixture(autouse=True)
    def _skip_declared_unsupported(self, request, driver):
        name = request.node.originalname
        if name in driver.capabilities.unsupported:
            pytest.skip("%s declares %s unsupported (capabilities.unsupported)"
                        % (driver.name or type(driver).__name__, name))

    @pytest.fixture
    def layout(self, driver) -> Layout:
        """The ``Layout`` the driver's plugin declares for its configuration."""
        return layout_of(driver)

    @pytest.fixture
    def container(self, driver, layout):
        if layout.prefix_style == POSIX_PREFIX:
            name = layout.default_container(str(uuid.uuid4()))
        else:
            name = "ember-conformance-" + uuid.uuid4().hex[:16]
        driver.ensure_container(name)
        return name

    @pytest.fixture
    def missing_container(self, driver):
        return "ember-missing-" + uuid.uuid4().hex[:16]

    @pytest.fixture
    def written_prefixes(self, driver, container):
        """Prefixes whose objects are deleted from ``container`` after the test."""
        prefixes: list[str] = []
        yield prefixes
        for prefix in prefixes:
            for name in list(driver.list_objects(container, prefix)):
                driver.delete_object(container, name)

    @pytest.fixture
    def new_prefix(self, layout, written_prefixes):
        """A factory of fresh backup prefixes (cleaned up after the test)."""

        def make(volume_id: str | None = None) -> str:
            prefix = layout.object_prefix(volume_id or str(uuid.uuid4()), str(uuid.uuid4()),
                                          fmt.timestamp())
            written_prefixes.append(prefix)
            return prefix

        return make


class DriverConformance(KitFixtures):
    """The contract of ``ember.driver.ChunkedBackupDriver``, test by test."""

    def test_put_get_round_trip(self, driver, container, new_prefix):
        prefix = new_prefix()
        payloads = {fmt.object_name(prefix, 1): random_bytes(100_000, 1),
                    fmt.object_name(prefix, 2): b"",
                    fmt.metadata_name(prefix): b'{\n  "version": "1.0.0"\n}'}
        for name, data in payloads.items():
            driver.put_object(container, name, data)
        for name, data in payloads.items():
            assert driver.get_object(container, name) == data

    def test_put_copies_mutable_buffers(self, driver, container, new_prefix):
        prefix = new_prefix()
        buffer = bytearray(b"a" * 1000)
        driver.put_object(container, fmt.object_name(prefix, 1), buffer)
        driver.put_object(container, fmt.object_name(prefix, 2), memoryview(buffer)[:10])
        buffer[:] = b"b" * 1000
        assert driver.get_object(container, fmt.object_name(prefix, 1)) == b"a" * 1000
        assert driver.get_object(container, fmt.object_name(prefix, 2)) == b"a" * 10

    def test_list_by_prefix_is_exact(self, driver, container, new_prefix):
        volume = str(uuid.uuid4())
        first, second = new_prefix(volume), new_prefix(volume)
        mine = {fmt.object_name(first, n) for n in (1, 2, 10)}
        mine |= {fmt.metadata_name(first), fmt.sha256file_name(first)}
        theirs = {fmt.object_name(second, 1), fmt.metadata_name(second)}
        for name in mine | theirs:
            driver.put_object(container, name, name.encode())
        listed = list(driver.list_objects(container, first))
        assert sorted(listed) == sorted(mine)
        assert all(isinstance(name, str) for name in listed)
        assert set(driver.list_objects(container, fmt.object_name(first, 1))) == {
            fmt.object_name(first, 1)}
        assert set(driver.list_objects(container, first + "-")) == {
            fmt.object_name(first, n) for n in (1, 2, 10)}
        assert mine | theirs <= set(driver.list_objects(container, ""))

    def test_missing_object(self, driver, container, missing_container, new_prefix):
        name = fmt.object_name(new_prefix(), 1)
        with pytest.raises(errors.ObjectNotFound):
            driver.get_object(container, name)
        with pytest.raises(errors.ObjectNotFound):
            driver.open_reader(container, name).read()
        with pytest.raises(errors.ObjectNotFound):
            driver.get_object(missing_container, name)

    def test_missing_container_lists_nothing(self, driver, missing_container):
        assert list(driver.list_objects(missing_container, "")) == []
        assert list(driver.list_objects(missing_container, "volume_")) == []

    def test_ensure_container_is_idempotent(self, driver, container, new_prefix):
        name = fmt.object_name(new_prefix(), 1)
        driver.put_object(container, name, b"kept")
        driver.ensure_container(container)
        driver.ensure_container(container)
        assert driver.get_object(container, name) == b"kept"

    def test_create_containers_off(self, driver, missing_container):
        driver.conf.set_override("backup_create_containers", False)
        try:
            with pytest.raises(errors.ContainerNotFound):
                driver.ensure_container(missing_container)
        finally:
            driver.conf.clear_override("backup_create_containers")
        assert list(driver.list_objects(missing_container, "")) == []

    def test_overwrite_replaces_whole_object(self, driver, container, new_prefix):
        name = fmt.object_name(new_prefix(), 1)
        driver.put_object(container, name, random_bytes(50_000, 2))
        driver.put_object(container, name, b"short")
        assert driver.get_object(container, name) == b"short"
        assert list(driver.list_objects(container, name)) == [name]

    def test_delete_is_idempotent(self, driver, container, missing_container, new_prefix):
        prefix = new_prefix()
        gone, kept = fmt.object_name(prefix, 1), fmt.object_name(prefix, 2)
        driver.put_object(container, gone, b"x")
        driver.put_object(container, kept, b"y")
        driver.delete_object(container, gone)
        assert set(driver.list_objects(container, prefix)) == {kept}
        with pytest.raises(errors.ObjectNotFound):
            driver.get_object(container, gone)
        driver.delete_object(container, gone)  # again: not an error
        driver.delete_object(container, fmt.object_name(prefix, 3))  # never existed
        driver.delete_object(missing_container, gone)
        assert driver.get_object(container, kept) == b"y"

    def test_flush_keeps_every_put_and_delete(self, driver, container, missing_container,
                                              new_prefix):
        """``flush`` (durability; a crash cannot be tested here) changes nothing
        visible, may be repeated, and is not an error on a missing container."""
        prefix = new_prefix()
        put, streamed, gone = (fmt.object_name(prefix, n) for n in (1, 2, 3))
        driver.put_object(container, put, b"put")
        with driver.open_writer(container, streamed) as writer:
            writer.write(b"streamed")
        driver.put_object(container, gone, b"deleted")
        driver.delete_object(container, gone)
        driver.flush(container)
        driver.flush(container)
        driver.flush(missing_container)
        assert sorted(driver.list_objects(container, prefix)) == [put, streamed]
        assert driver.get_object(container, put) == b"put"
        assert driver.get_object(container, streamed) == b"streamed"

    def test_list_containers_finds_where_backups_are(self, driver, layout, container,
                                                      missing_container, new_prefix):
        """``list_containers`` names strings; a driver that lists its repository's
        containers (the posix family) names the one just written to, never a missing
        one. The default lists the configured container only."""
        driver.put_object(container, fmt.metadata_name(new_prefix()), b"{}")
        names = list(driver.list_containers())
        assert names and all(isinstance(n, str) and n for n in names)
        assert missing_container not in names
        if layout.family == "posix":
            assert container in names
        elif type(driver).list_containers is ChunkedBackupDriver.list_containers:
            assert names == [layout.default_container("")]

    def test_sweep_keeps_every_object(self, driver, container, missing_container,
                                      new_prefix):
        """``sweep`` removes leftovers of interrupted writes, never an object, and is
        not an error on a missing container or a prefix with nothing."""
        prefix = new_prefix()
        names = [fmt.object_name(prefix, 1), fmt.metadata_name(prefix)]
        for name in names:
            driver.put_object(container, name, b"kept")
        driver.sweep(container, prefix)
        driver.sweep(container, new_prefix())
        driver.sweep(missing_container, prefix)
        assert sorted(driver.list_objects(container, prefix)) == sorted(names)

    def test_streaming_round_trip(self, driver, container, new_prefix):
        name = fmt.object_name(new_prefix(), 1)
        piece = 256 * 1024
        data = random_bytes(8 * 1024 * 1024 + 123, 3)  # "large": many pieces, a short tail
        with driver.open_writer(container, name) as writer:
            for offset in range(0, len(data), piece):
                writer.write(data[offset:offset + piece])
        with driver.open_reader(container, name) as reader:
            chunks = iter(lambda: reader.read(piece), b"")
            digest = hashlib.sha256()
            for chunk in chunks:
                digest.update(chunk)
        assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
        assert driver.get_object(container, name) == data

    def test_streamed_read_survives_other_calls(self, driver, container, new_prefix):
        """A reader owns its connection: every other call the same thread makes while it
        is open (puts, gets, listings, another reader) leaves its stream whole (issue
        18: Swift's ended early, so every _sha256file over 1 MiB was cut)."""
        prefix = new_prefix()
        big, small = fmt.object_name(prefix, 1), fmt.object_name(prefix, 2)
        data = random_bytes(3 * 1024 * 1024 + 17, 5)
        driver.put_object(container, big, data)
        driver.put_object(container, small, b"small")
        with driver.open_reader(container, big) as reader:
            parts = [reader.read(1024 * 1024)]
            driver.put_object(container, fmt.object_name(prefix, 3), b"more")
            assert driver.get_object(container, small) == b"small"
            assert len(list(driver.list_objects(container, prefix))) == 3
            with driver.open_reader(container, small) as other:
                assert other.read() == b"small"
            parts.append(reader.read())
        assert hashlib.sha256(b"".join(parts)).digest() == hashlib.sha256(data).digest()

    def test_writer_invisible_until_commit(self, driver, container, new_prefix):
        prefix = new_prefix()
        name = fmt.object_name(prefix, 1)
        driver.put_object(container, name, b"old")
        before = set(driver.list_objects(container, ""))
        writer = driver.open_writer(container, name)
        writer.write(b"new " * 1000)
        assert driver.get_object(container, name) == b"old"
        assert set(driver.list_objects(container, "")) == before  # no temporary names
        writer.commit()
        assert driver.get_object(container, name) == b"new " * 1000
        assert set(driver.list_objects(container, "")) == before

    def test_aborted_writer_leaves_nothing(self, driver, container, new_prefix):
        prefix = new_prefix()
        before = set(driver.list_objects(container, ""))
        writer = driver.open_writer(container, fmt.object_name(prefix, 1))
        writer.write(random_bytes(10_000, 4))
        writer.abort()
        writer.abort()  # twice: harmless
        with pytest.raises(RuntimeError):
            with driver.open_writer(container, fmt.object_name(prefix, 2)) as failing:
                failing.write(b"partial")
                raise RuntimeError("the source failed mid-object")
        assert set(driver.list_objects(container, "")) == before
        assert list(driver.list_objects(container, prefix)) == []

    def test_aborted_writer_keeps_previous_object(self, driver, container, new_prefix):
        name = fmt.object_name(new_prefix(), 1)
        driver.put_object(container, name, b"previous")
        writer = driver.open_writer(container, name)
        writer.write(b"replacement")
        writer.abort()
        assert driver.get_object(container, name) == b"previous"

    def test_concurrent_puts(self, driver, container, new_prefix):
        prefix = new_prefix()
        workers = max(2, min(8, driver.capabilities.max_concurrency))
        payloads = {fmt.object_name(prefix, n): random_bytes(20_000 + n, n) for n in range(1, 33)}
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda item: driver.put_object(container, *item), payloads.items()))
        assert sorted(driver.list_objects(container, prefix)) == sorted(payloads)
        with ThreadPoolExecutor(workers) as pool:
            got = dict(zip(payloads, pool.map(lambda n: driver.get_object(container, n),
                                              payloads)))
        assert got == payloads

    def test_concurrent_overwrites_are_atomic(self, driver, container, new_prefix):
        name = fmt.object_name(new_prefix(), 1)
        versions = [random_bytes(100_000, 100 + n) for n in range(8)]
        workers = max(2, min(len(versions), driver.capabilities.max_concurrency))
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda data: driver.put_object(container, name, data), versions))
        assert driver.get_object(container, name) in versions  # one whole version
        assert list(driver.list_objects(container, name)) == [name]

    def test_describe_names_the_store(self, driver):
        text = driver.describe()
        assert isinstance(text, str) and text and "\n" not in text

    def test_naming_policy(self, layout):
        backup_id, volume_id = str(uuid.uuid4()), str(uuid.uuid4())
        prefix = layout.object_prefix(volume_id, backup_id, "20250101120000")
        assert prefix.startswith("volume_%s" % volume_id) and prefix.endswith(backup_id)
        assert layout.default_container(backup_id)
        assert layout.object_size % layout.sha_block_size == 0, (
            "object size %d is not a multiple of the SHA block size %d"
            % (layout.object_size, layout.sha_block_size))

    def test_layout_is_declared_data(self, driver, layout):
        """The plugin declares a ``Layout`` (frozen: the same names for the whole run)
        with the Cinder class it records, a known prefix style, and a posix family that
        keeps the family's names (one directory per backup, posix prefixes)."""
        assert isinstance(layout, Layout) and layout == layout_of(driver)
        assert layout.cinder_service and "\n" not in layout.cinder_service
        assert layout.prefix_style in (POSIX_PREFIX, OBJECT_STORE_PREFIX)
        assert layout.retry.attempts >= 1
        if layout.family == "posix":
            assert (layout.prefix_style, layout.container) == (POSIX_PREFIX, None)
        with pytest.raises(dataclasses.FrozenInstanceError):
            layout.object_size = 1  # type: ignore[misc]


__all__ = ["DriverConformance", "KitFixtures", "random_bytes"]
