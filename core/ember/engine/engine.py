"""The backup pipeline and chain restore.

The engine owns the repository format, the chain, progress and cancellation. It talks
to a driver by plain names only and never touches the catalogue: the service layer
hands it what it needs (ids, container, prefix, parent) and records what it returns.

How a backup runs (see ``ember.engine.pipeline`` for the threads):

* The volume is cut into *chunks* of ``driver.object_size`` bytes and each chunk into
  *pieces* of at most 4 MiB (whole SHA blocks). Pieces are the unit of memory: an
  object of any size streams through ``driver.open_writer`` piece by piece.
* Full backup: one object per chunk. Object tasks run in parallel; inside an object,
  piece tasks read, hash and (for zlib) deflate pieces in parallel while the object
  task feeds them in order to the md5, the stream compressor and the writer.
* Incremental: piece tasks hash the whole volume; each maximal run of blocks whose
  digest differs from the parent's ``_sha256file``, inside one chunk, becomes one
  object, read again from the source (recently read, so usually from the page cache).
  A run is written as soon as the piece that ends it is hashed, while hashing goes on.
* Objects in flight are bounded by memory (two objects' worth of pieces) and by the
  driver's ``max_concurrency``: small objects (incremental runs) overlap their puts.
* Objects of at most ``SMALL_OBJECT`` bytes are read, compressed (without sampling
  first) and put whole; stored raw as ``none`` when compression does not shrink them.
* Objects are numbered in volume order whatever finishes first. Then ``driver.flush``
  (the objects are durable before any document names them), ``_sha256file``,
  ``_metadata``, and ``driver.flush`` again. Any failure or cancellation deletes every object
  under the backup's prefix and every name this run handed out, then re-raises.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import os
import stat
import threading
import zlib
from dataclasses import dataclass
from typing import Callable, Optional, Protocol, Sequence

import zstandard

from ember import opts
from ember.engine.cbt import ChangedSet
from ember.engine import blocks, compression, imagecheck
from ember.engine import format as fmt
from ember.engine import plan as plan_
from ember.errors import (ConfigError, CorruptObject, InvalidBackup, InvalidInput,
                          ObjectNotFound)
from ember.engine.extents import ChangedRuns, GapBudget
from ember.engine.pipeline import (BoundedDriver, CancelCheck, Meter, SideHasher, Window,
                                   ordered_map)

PIECE_SIZE = 4 << 20  # upper bound of one unit of work and of memory per piece
_SAMPLES = 4  # samples per object for the "is it compressible at all" test
#: objects up to this size are handled whole in memory and skip the sampling:
#: compressing them outright costs less than the samples would (they would cover most
#: of the object), and the raw form is chosen afterwards if compression did not shrink
SMALL_OBJECT = _SAMPLES * compression.SAMPLE_SIZE
CANCEL_INTERVAL = 0.25  # seconds between two questions to the caller's cancel token
DIGEST = fmt.DIGEST_SIZE  # bytes of one block digest
#: a full backup writes a hole of the source at least this large as an object of its own
HOLE_OBJECT = 64 << 20


class CancelToken(Protocol):
    """Asked between objects and inside large ones; raises ``ember.errors.Cancelled``
    (``BackupCancelled`` / ``RestoreCancelled``) when the operation must stop."""

    def raise_if_cancelled(self) -> None: ...


#: progress(done_bytes, total_bytes): called by the engine at a bounded rate
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ChainMember:
    """Where one backup lives in the repository (from the catalogue row)."""

    backup_id: str
    container: str
    prefix: str  # the row's service_metadata
    volume_id: Optional[str] = None  # the row's, checked against its _metadata
    size_limit: Optional[int] = None  # the most bytes the row allows its volume


@dataclass
class BackupSpec:
    """Everything the engine needs to write one backup."""

    backup_id: str
    volume_id: str
    source_path: str  # image file or block device, opened read-only
    container: str
    prefix: str
    created_at: str  # str() of the row's tz-aware UTC created_at, written into the docs
    name: Optional[str] = None
    description: Optional[str] = None
    parent: Optional[ChainMember] = None  # None: a full backup
    volume_meta: Optional[str] = None  # the JSON *string* stored as volume_meta
    #: an incremental reads only these ranges (``cbt``); None reads everything
    changed: Optional[ChangedSet] = None


@dataclass
class BackupResult:
    object_count: int  # data objects written (metadata and sha256file excluded)
    bytes_read: int  # bytes of the source backed up
    bytes_stored: int  # bytes of data objects put into the repository


@dataclass
class RestoreResult:
    bytes_written: int
    volume_meta: Optional[str]  # the newest member's volume_meta string


@dataclass
class _Piece:
    """One prepared piece: its bytes, whether all zero, block digests, deflated form."""

    data: bytes
    zero: bool
    digests: Optional[list]
    deflated: Optional[bytes] = None


class Engine:
    """Backs up, restores and deletes backups through one driver.

    Thread-safe for sequential use; each call builds its own thread pools."""

    #: how often (seconds) the cancel token is asked, at most; tests set 0
    cancel_interval = CANCEL_INTERVAL

    def __init__(self, driver, conf):
        self.driver = driver
        self.conf = opts.register(conf) if conf is not None else conf
        self.object_size = int(driver.object_size)
        self.block_size = int(driver.sha_block_size)
        if self.block_size <= 0 or self.object_size <= 0 \
                or self.object_size % self.block_size:
            raise ConfigError(
                "object size %d (backup_file_size or the driver's object size option) is not "
                "a multiple of the SHA block size %d (backup_sha_block_size_bytes); change "
                "one of them" % (self.object_size, self.block_size))
        self.algorithm = compression.recorded_name(conf.backup_compression_algorithm)
        self.codec = compression.canonical(self.algorithm)
        self.level = compression.level_for(self.codec, conf.backup_compression_level)
        self.threads = conf.backup_engine_threads or os.cpu_count() or 2
        self.verify = conf.restore_verify
        # a piece is whole SHA blocks and never crosses a chunk boundary
        self.piece_size = max(self.block_size, PIECE_SIZE // self.block_size * self.block_size)
        self.max_calls = max(1, int(driver.capabilities.max_concurrency))
        self._zero_lock = threading.RLock()
        self._zero_md5_states = [hashlib.md5(usedforsecurity=False)]
        self._zero_objects: dict = {}

    # ==================================================================================
    # backup
    # ==================================================================================
    def backup(self, spec: BackupSpec, *, cancel: CancelToken | None = None,
               progress: Progress | None = None) -> BackupResult:
        """Write a full backup, or an incremental one against ``spec.parent``'s
        ``_sha256file``. Data objects first, then ``_sha256file``, then ``_metadata``.
        On cancellation or failure every object this call wrote is deleted again
        before the error propagates."""
        with blocks.Source(spec.source_path) as src:
            if src.size <= 0:
                raise InvalidInput("volume source %s is empty; nothing to back up"
                                   % spec.source_path)
            parent = _ParentDigests(self, spec) if spec.parent else None
            try:
                run = _BackupRun(self, spec, src, parent, cancel, progress)
                self.driver.ensure_container(spec.container)
                try:
                    return run.execute()
                except BaseException:
                    run.abandon()
                    raise
            finally:
                if parent is not None:
                    parent.close()

    def open_sha256file(self, member: ChainMember,
                        volume_bytes: Optional[int] = None) -> "_DigestStream":
        """Stream one member's ``_sha256file`` (``InvalidBackup`` if it is missing, or
        larger than a backup of ``volume_bytes`` can have; default: the row's limit)."""
        name = fmt.sha256file_name(member.prefix)
        limit = plan_.sha256file_limit(min(volume_bytes or member.size_limit or
                                           plan_.MAX_VOLUME, plan_.MAX_VOLUME),
                                       self.block_size)
        try:
            raw = self.driver.open_reader(member.container, name)
        except ObjectNotFound:
            raise InvalidBackup("backup %s: object %s is missing from container %s; the backup "
                                "is incomplete or was deleted"
                                % (member.backup_id, name, member.container)) from None
        return _DigestStream(raw, member.backup_id, name, limit)

    def zero_object(self, length: int):
        """(algorithm, body, md5) of a data object of ``length`` zero bytes, computed once
        per length and codec (hole objects of a sparse volume all share it). Raw zeros
        are never cached: with no compression the caller streams them."""
        key = (self.algorithm, self.level, length)
        with self._zero_lock:
            cached = self._zero_objects.get(key)
            if cached is None:
                sc = compression.StreamCompressor(self.algorithm, length, self.level)
                parts = []
                for off in range(0, length, self.piece_size):
                    piece = blocks.zeros(min(self.piece_size, length - off))
                    # computed once: worth zlib's densest form (~4x smaller than ISA-L's)
                    dense = compression.dense_zero_piece(len(piece)) \
                        if self.codec == compression.ZLIB else None
                    parts.append(sc.feed(piece, dense))
                parts.append(sc.finish())
                cached = (self.algorithm, b"".join(parts), self.zero_md5(length))
                self._zero_objects = {key: cached}  # one length at a time: bounded memory
            return cached

    def zero_md5(self, length: int) -> str:
        """md5 of ``length`` zero bytes. md5 runs at ~0.83 GB/s and cannot skip zeros:
        the states after each whole piece of zeros are kept, so lengths share their
        common prefix and the work is the longest length once."""
        whole, rest = divmod(length, self.piece_size)
        with self._zero_lock:
            states = self._zero_md5_states
            while len(states) <= whole:
                state = states[-1].copy()
                state.update(blocks.zeros(self.piece_size))
                states.append(state)
            md5 = states[whole].copy()
        md5.update(blocks.zeros(rest))
        return md5.hexdigest()

    # ==================================================================================
    # restore
    # ==================================================================================
    def read_metadata(self, member: ChainMember,
                      volume_bytes: int = plan_.MAX_VOLUME) -> fmt.BackupMetadata:
        """Read and parse one member's ``_metadata``, refused unread when larger than a
        backup of ``volume_bytes`` can have (errors name backup and object)."""
        name = fmt.metadata_name(member.prefix)
        limit = plan_.metadata_limit(volume_bytes, self.block_size, member.prefix)
        data = plan_.read_document(self.driver, member.container, name, limit,
                                   member.backup_id)
        return fmt.parse_metadata(data, member.backup_id, name)

    def check_objects(self, member: ChainMember, md: fmt.BackupMetadata) -> None:
        """Cinder's check: the names under the prefix (minus the two documents) must be
        exactly the names the metadata lists."""
        listed = sorted(n for n in self.driver.list_objects(member.container, member.prefix)
                        if not fmt.is_document(member.prefix, n))
        recorded = sorted(o.name for o in md.objects)
        if listed != recorded:
            missing = sorted(set(recorded) - set(listed))
            extra = sorted(set(listed) - set(recorded))
            raise InvalidBackup(
                "backup %s: restore_backup aborted, actual object list does not match object "
                "list stored in metadata (missing: %s; extra: %s)"
                % (member.backup_id, _names(missing), _names(extra)))

    def plan_restore(self, chain: Sequence[ChainMember],
                     size_limit: int | None = None) -> plan_.RestorePlan:
        """Read and check the chain's documents (oldest first: the full backup, then its
        incrementals up to the requested backup) before anything is written: see
        ``ember.engine.plan``. ``size_limit``: the most bytes the catalogue allows the
        volume. With ``restore_verify`` sha256 or both, the tip's ``_sha256file`` is
        scanned too (its block count must fit the volume; where the data is)."""
        if not chain:
            raise InvalidInput("restore needs at least one backup in the chain")
        size_limit = min(size_limit or plan_.MAX_VOLUME, plan_.MAX_VOLUME)
        metas = [self.read_metadata(m, size_limit) for m in chain]
        plan = plan_.build(chain, metas, size_limit)
        for member, md in zip(chain, metas):
            self.check_objects(member, md)
        plan.image = self._scan_tip(chain[-1], plan.volume_size)
        return plan

    def restore(self, chain: Sequence[ChainMember], target_path: str, *,
                target_is_new: bool, plan: plan_.RestorePlan | None = None,
                cancel: CancelToken | None = None,
                progress: Progress | None = None) -> RestoreResult:
        """Restore ``chain`` onto ``target_path``, through ``plan`` when the caller
        checked it already (``plan_restore``, before creating the target), else through
        one checked here before the target is opened.
        ``target_is_new`` means the target is freshly created and all zeros (zero runs
        may then be skipped).

        Equivalent to Cinder's oldest-first replay, but each byte range is written once,
        from the newest member holding it; objects wholly superseded are not read. Nothing
        beyond the backup's size is touched on a larger target, and a smaller target is
        refused before a byte is written. Raises on any failure.

        Checks (``restore_verify``): with ``sha256`` (the default) and a ``_sha256file``
        at the chain's tip, every block of the result is compared with it after the
        writes (``RestoreMismatch``), objects' md5s are not computed, and on a new target
        objects that would only write blocks the list says are zero are not read at all;
        ``md5`` checks each object read (also the fallback without a list); ``both`` does
        both. Every object read has its length checked (``CorruptObject``)."""
        plan = plan if plan is not None else self.plan_restore(chain)
        check = CancelCheck(cancel, self.cancel_interval)
        shape = plan.image
        check_md5 = shape is None or self.verify == imagecheck.BOTH
        steps = plan.steps
        if shape is not None and shape.data is not None and target_is_new and not check_md5:
            # the target is zeros already, and the list is the record of the final image:
            # an object that would only write blocks it says are zero is not read (an
            # object that is read writes all its ranges, so the check sees any disagreement)
            steps = [s for s in steps if imagecheck.only_data(s.ranges, shape.data)]
        total = sum(e - s for step in steps for s, e in step.ranges)
        meter = Meter(progress, total, step=self.object_size)
        fd = os.open(target_path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            self._prepare_target(fd, target_path, plan.volume_size, target_is_new)
            driver = BoundedDriver(self.driver, self.max_calls)
            # the final fsync then waits for the last few MiB, not the whole volume
            write_behind = blocks.WriteBehind(fd)
            with cf.ThreadPoolExecutor(self.threads, thread_name_prefix="ember-restore") as pool:
                window = Window(pool, self.threads + 1, meter.report)
                try:
                    for step in steps:
                        check()
                        window.submit(self._restore_object, driver, fd, step.member,
                                      step.entry, step.ranges, target_is_new, check, meter,
                                      write_behind, check_md5)
                    window.drain()
                    if shape is not None:
                        self._verify_target(plan, target_path, pool, check)
                except BaseException as exc:
                    check.stop(exc)
                    window.abandon()
                    raise
            check(force=True)
            os.fsync(fd)
        finally:
            os.close(fd)
        meter.report(final=True)
        return RestoreResult(bytes_written=total, volume_meta=plan.volume_meta)

    def _scan_tip(self, tip: ChainMember, volume_size: int):
        """The tip's list, scanned (``imagecheck.ListShape``), or None when the restore
        checks md5s only (``restore_verify = md5``, or a backup without a list)."""
        if self.verify == imagecheck.MD5:
            return None
        try:
            stream = self.open_sha256file(tip, volume_size)
        except InvalidBackup:
            return None  # no list (Cinder never needs one to restore): md5 it is
        try:
            return imagecheck.scan(stream, tip.backup_id, volume_size)
        finally:
            stream.close()

    def _verify_target(self, plan: plan_.RestorePlan, target_path: str, pool, check) -> None:
        tip, shape = plan.chain[-1], plan.image

        def writer_of(offset: int) -> str:
            for step in plan.steps:
                if any(s <= offset < e for s, e in step.ranges):
                    return "object %s of backup %s" % (step.entry.name, step.member.backup_id)
            return "no object"

        def map_batches(fn, items):
            return ordered_map(pool, fn, items, self.threads + 1)

        stream = self.open_sha256file(tip, plan.volume_size)
        try:
            with blocks.Source(target_path) as target:
                imagecheck.verify(stream, shape, target, plan.volume_size,
                                  batch=max(1, self.piece_size // shape.block_size),
                                  map_batches=map_batches, check=check, writer_of=writer_of,
                                  backup_id=tip.backup_id)
        finally:
            stream.close()

    def _md5(self, length: int):
        """md5 of one object: on a side thread when the object has several pieces."""
        if length > self.piece_size:
            return SideHasher(lambda: hashlib.md5(usedforsecurity=False))
        return hashlib.md5(usedforsecurity=False)

    @staticmethod
    def _prepare_target(fd: int, path: str, volume_size: int, target_is_new: bool) -> None:
        st = os.fstat(fd)
        size = st.st_size if stat.S_ISREG(st.st_mode) else os.lseek(fd, 0, os.SEEK_END)
        if size >= volume_size:
            return
        if stat.S_ISREG(st.st_mode) and target_is_new:
            os.ftruncate(fd, volume_size)  # skipped zero tails must still exist
            return
        raise InvalidInput("restore target %s has %d bytes, smaller than the backup's %d; "
                           "restore into a volume at least as large" % (path, size, volume_size))

    def _restore_object(self, driver, fd, member: ChainMember, entry: fmt.ObjectEntry,
                        ranges, target_is_new: bool, check: CancelCheck, meter: Meter,
                        write_behind: blocks.WriteBehind, check_md5: bool) -> None:
        where = "backup %s: object %s" % (member.backup_id, entry.name)
        md5 = self._md5(entry.length) if check_md5 else _NoHash()
        pos = entry.offset
        ri = 0
        try:
            raw = driver.open_reader(member.container, entry.name)
            try:
                reader = compression.DecompressingReader(entry.compression, raw)
                while True:
                    check()
                    piece = reader.read(self.piece_size)
                    if not piece:
                        break
                    md5.update(piece)
                    end = pos + len(piece)
                    if end > entry.end:
                        raise CorruptObject("%s decompresses to more than its recorded length "
                                            "%d; the object is corrupt" % (where, entry.length))
                    while ri < len(ranges) and ranges[ri][0] < end:
                        s, e = max(ranges[ri][0], pos), min(ranges[ri][1], end)
                        if s < e:
                            part = memoryview(piece)[s - pos:e - pos]
                            # safe: each range is written once, so skipping a zero run
                            # on a zeroed target can never leave older data visible
                            if not (target_is_new and blocks.is_zero(part)):
                                _pwrite(fd, part, s)
                                write_behind.wrote(e - s)
                            meter.add(e - s)
                        if ranges[ri][1] <= end:
                            ri += 1
                        else:
                            break
                    pos = end
            finally:
                if isinstance(md5, SideHasher):
                    md5.close()
                close = getattr(raw, "close", None)
                if close:
                    close()
        except (zlib.error, OSError, EOFError, ValueError, zstandard.ZstdError) as exc:
            if isinstance(exc, OSError) and exc.errno is not None:
                raise  # an I/O error on the target, not a damaged object
            raise CorruptObject("%s cannot be decompressed as %s (%s); the object is corrupt"
                                % (where, entry.compression, exc)) from None
        if pos != entry.end:
            raise CorruptObject("%s holds %d bytes but its metadata records %d; the object is "
                                "truncated or corrupt" % (where, pos - entry.offset, entry.length))
        if check_md5 and entry.md5 is not None and md5.hexdigest() != entry.md5:
            raise CorruptObject("%s has md5 %s but its metadata records %s; the object is corrupt"
                                % (where, md5.hexdigest(), entry.md5))

    # ==================================================================================
    # delete
    # ==================================================================================
    def delete(self, container: str, prefix: str) -> int:
        """Delete every object of one backup (data, ``_metadata``, ``_sha256file``), then
        let the driver sweep what interrupted writes left (``driver.sweep``); returns
        how many objects were listed and removed. The two documents are deleted even
        when not listed (a backup that crashed before writing them): deletes are
        idempotent."""
        names = list(self.driver.list_objects(container, prefix))
        docs = [n for n in (fmt.metadata_name(prefix), fmt.sha256file_name(prefix))
                if n not in names]
        driver = BoundedDriver(self.driver, self.max_calls)
        with cf.ThreadPoolExecutor(min(self.max_calls, len(names) + len(docs))) as pool:
            list(pool.map(lambda n: driver.delete_object(container, n), names + docs))
        self.driver.sweep(container, prefix)
        return len(names)


class _BackupRun:
    """State of one ``Engine.backup`` call."""

    def __init__(self, engine: Engine, spec: BackupSpec, src: blocks.Source,
                 parent: "_ParentDigests | None", cancel, progress):
        self.e, self.spec, self.src, self.parent = engine, spec, src, parent
        self.sha_writer = None  # the new _sha256file, written as the digests come
        self.check = CancelCheck(cancel, engine.cancel_interval)
        self.meter = Meter(progress, src.size, step=engine.object_size)
        self.driver = BoundedDriver(engine.driver, engine.max_calls)
        self.next_id = 1
        self.stored = 0

    # ---- the run ---------------------------------------------------------------------
    def execute(self) -> BackupResult:
        e = self.e
        # objects in flight: at most the driver's concurrency (at least 2, so preparing
        # one overlaps the put of another), and at most 2 x (threads + 1) pieces of
        # memory: two big objects (which use every thread through their pieces), or
        # many small ones (incremental runs), whose puts and fsyncs then overlap
        in_flight = max(2, e.max_calls)
        with cf.ThreadPoolExecutor(e.threads, thread_name_prefix="ember-piece") as self.pieces, \
                cf.ThreadPoolExecutor(max(e.threads, in_flight),
                                      thread_name_prefix="ember-object") as objects:
            self.objects = Window(objects, in_flight, self.meter.report,
                                  budget=2 * (e.threads + 1) * e.piece_size)
            try:
                self._open_sha256file()
                entries = self._incremental() if self.parent is not None else self._full()
            except BaseException as exc:
                self.check.stop(exc)
                self.objects.abandon()
                raise
        self.check(force=True)
        self._finalize(entries)
        self.meter.report(final=True)
        return BackupResult(object_count=len(entries), bytes_read=self.src.size,
                            bytes_stored=self.stored)

    def _chunks(self):
        size, step = self.src.size, self.e.object_size
        for off in range(0, size, step):
            yield off, min(step, size - off)

    def _object_memory(self, length: int) -> int:
        """Bytes of source one object task holds at most: its pieces in flight."""
        return min(length, (self.e.threads + 1) * self.e.piece_size)

    def _submit_object(self, off: int, length: int, hash_blocks: bool) -> list:
        """Queue the next data object; returns the results of objects that finished."""
        return self.objects.submit(self._write_object, self._new_id(), off, length,
                                   hash_blocks, cost=self._object_memory(length))

    def _open_sha256file(self) -> None:
        spec = self.spec
        doc = fmt.Sha256File(backup_id=spec.backup_id, volume_id=spec.volume_id,
                             created_at=spec.created_at, chunk_size=self.e.block_size,
                             sha256s=[], backup_name=spec.name,
                             backup_description=spec.description)
        self.sha_file = self.driver.open_writer(spec.container, fmt.sha256file_name(spec.prefix))
        self.sha_writer = fmt.Sha256Writer(doc, self.sha_file.write)

    def _full(self):
        entries = []

        def collect(done):
            for entry, shas, stored in done:
                entries.append(entry)
                self.sha_writer.add(shas)
                self.stored += stored

        for chunk_off, chunk_len in self._chunks():
            for off, length in self._segments(chunk_off, chunk_len):
                self.check()
                collect(self._submit_object(off, length, True))
        collect(self.objects.drain())
        return entries

    def _segments(self, off: int, length: int):
        """A full backup's objects in one chunk: the chunk, cut around its holes of at
        least ``HOLE_OBJECT`` bytes, which become objects of their own (zeros known
        without reading or hashing); the rest stays one object, as Cinder's."""
        block, pos = self.e.block_size, off
        for start, end in self.src.holes(off, off + length, HOLE_OBJECT):
            start, end = -(-start // block) * block, end // block * block
            if end - start < HOLE_OBJECT:
                continue
            if start > pos:
                yield pos, start - pos
            yield start, end - start
            pos = end
        if pos < off + length:
            yield pos, off + length - pos

    def _incremental(self):
        e, entries = self.e, []
        gaps = GapBudget.for_blocks(e.block_size)

        def collect(done):
            for entry, _, stored in done:
                entries.append(entry)
                self.stored += stored

        def compare(runs, shas, parent):
            self.sha_writer.add(shas)
            for run_off, run_len in runs.feed(shas, parent):
                collect(self._submit_object(run_off, run_len, False))

        def with_parent(pieces):
            """Each piece with the parent's digests of its blocks, taken in order here
            (in this thread) while the pieces ahead are being hashed."""
            for off, length in pieces:
                yield off, length, self.parent.take(-(-length // e.block_size) * DIGEST)

        for off, length in self._chunks():
            self.check()
            runs = ChangedRuns(off, length, e.block_size, gaps)
            if self.src.in_hole(off, length):  # nothing to read: time follows the data
                self.meter.add(length)
                shas = blocks.zero_digests(length, e.block_size)
                compare(runs, shas, self.parent.take(len(shas)))
            else:
                pieces = with_parent(self._piece_ranges(off, length))
                for shas, parent in ordered_map(self.pieces, self._scan_piece, pieces,
                                                e.threads + 1, self.meter.report):
                    compare(runs, shas, parent)
            for run_off, run_len in runs.close():
                collect(self._submit_object(run_off, run_len, False))
        collect(self.objects.drain())
        self.parent.finish()
        return entries

    def _new_id(self) -> int:
        object_id, self.next_id = self.next_id, self.next_id + 1
        return object_id

    def _piece_ranges(self, off: int, length: int):
        step = self.e.piece_size
        return [(p, min(step, off + length - p)) for p in range(off, off + length, step)]

    # ---- piece tasks (never block) -----------------------------------------------------
    def _read_piece(self, off: int, length: int):
        if self.src.in_hole(off, length):
            return blocks.zeros(length), True
        data = self.src.read(off, length)
        return data, blocks.is_zero(data)

    def _scan_piece(self, item) -> tuple[bytes, bytes]:
        """An incremental's piece: its block digests, and the parent's (passed through)."""
        self.check()
        off, length, parent = item
        if self.spec.changed is not None:
            return self._scan_changed(off, length, parent), parent
        data, zero = self._read_piece(off, length)
        self.meter.add(len(data))
        return blocks.block_digests(data, self.e.block_size, known_zero=zero), parent

    def _scan_changed(self, off: int, length: int, parent: bytes) -> bytes:
        """``_scan_piece`` under change tracking: the parent's digests, with those of
        the blocks that may have changed read and hashed anew."""
        bs = self.e.block_size
        first = off // bs
        digests = bytearray(parent)
        for start, end in self.spec.changed.within(off, length):
            data, zero = self._read_piece(start, end - start)
            at = (start // bs - first) * DIGEST
            fresh = blocks.block_digests(data, bs, known_zero=zero)
            digests[at:at + len(fresh)] = fresh
        self.meter.add(length)
        return bytes(digests)

    def _prepare_piece(self, rng, hash_blocks: bool, deflate: bool) -> _Piece:
        self.check()
        data, zero = self._read_piece(*rng)
        digests = blocks.block_digests(data, self.e.block_size, zero) if hash_blocks else None
        deflated = None
        if deflate:
            stored = not zero and compression.samples_pieces(self.e.codec, self.e.level) \
                and compression.looks_incompressible(data)
            deflated = compression.deflate_piece(data, self.e.level, last=False, stored=stored)
        return _Piece(data, zero, digests, deflated)

    # ---- object tasks ------------------------------------------------------------------
    def _compressible(self, off: int, length: int) -> bool:
        """Sample a few spots: does compression look worth trying for this object?"""
        if self.e.codec == compression.NONE:
            return False
        sample = compression.SAMPLE_SIZE
        spots = {off + (length - sample) * i // max(1, _SAMPLES - 1)
                 for i in range(_SAMPLES)} if length > sample else {off}
        for spot in sorted(spots):
            n = min(sample, off + length - spot)
            if self.src.in_hole(spot, n):
                return True
            if not compression.looks_incompressible(self.src.read(spot, n)):
                return True
        return False

    def _write_object(self, object_id: int, off: int, length: int, hash_blocks: bool):
        """Stream [off, off+length) into data object ``object_id``; return its entry,
        (for full backups) the block digests of the range, and the bytes stored."""
        name = fmt.object_name(self.spec.prefix, object_id)
        if length <= SMALL_OBJECT:
            return self._write_small(name, off, length, hash_blocks)
        if hash_blocks and self.src.in_hole(off, length):
            return self._write_hole(name, off, length)
        algorithm = self.e.algorithm if self._compressible(off, length) else compression.NONE
        digests, md5, stored = self._stream(name, off, length, algorithm, hash_blocks)
        if algorithm != compression.NONE and stored >= length:
            # compression did not shrink it: store raw and record none, as Cinder does
            _, md5, stored = self._stream(name, off, length, compression.NONE, False)
            algorithm = compression.NONE
        entry = fmt.ObjectEntry(name=name, offset=off, length=length, compression=algorithm,
                                md5=md5)
        return entry, digests or b"", stored

    def _write_small(self, name: str, off: int, length: int, hash_blocks: bool):
        """``_write_object`` for an object of at most ``SMALL_OBJECT`` bytes (incremental
        runs, mostly): compressed whole in memory without sampling first, so the choice
        between the compressed and the raw form is made before one ``put_object``."""
        self.check()
        data, zero = self._read_piece(off, length)
        digests = blocks.block_digests(data, self.e.block_size, zero) if hash_blocks else b""
        algorithm, body = self.e.algorithm, data
        if self.e.codec != compression.NONE:
            sc = compression.StreamCompressor(algorithm, length, self.e.level)
            body = sc.feed(data) + sc.finish()
        if len(body) >= length:  # not worth it: store raw and record none, as Cinder does
            algorithm, body = compression.NONE, data
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        self.check()
        self.driver.put_object(self.spec.container, name, body)
        if hash_blocks:
            self.meter.add(length)
        entry = fmt.ObjectEntry(name=name, offset=off, length=length, compression=algorithm,
                                md5=md5)
        return entry, digests, len(body)

    def _write_hole(self, name: str, off: int, length: int):
        """A full backup's object wholly in a hole of the source: its bytes (zeros) are
        known without reading, and its body and md5 are the same for every hole object
        of this length, so a sparse volume costs the time of its data."""
        self.check()
        if self.e.codec == compression.NONE:  # raw zeros: streamed, never held whole
            algorithm, md5, stored = compression.NONE, self.e.zero_md5(length), length
            writer = self.driver.open_writer(self.spec.container, name)
            try:
                for pos in range(0, length, self.e.piece_size):
                    self.check()
                    writer.write(blocks.zeros(min(self.e.piece_size, length - pos)))
            except BaseException:
                writer.abort()
                raise
            writer.commit()
        else:
            algorithm, body, md5 = self.e.zero_object(length)
            self.driver.put_object(self.spec.container, name, body)
            stored = len(body)
        self.meter.add(length)
        entry = fmt.ObjectEntry(name=name, offset=off, length=length, compression=algorithm,
                                md5=md5)
        return entry, blocks.zero_digests(length, self.e.block_size), stored

    def _stream(self, name: str, off: int, length: int, algorithm: str, hash_blocks: bool):
        codec = compression.canonical(algorithm)
        ranges = self._piece_ranges(off, length)
        threads = self.e.threads if codec == compression.ZSTD and len(ranges) > 1 else 0
        sc = compression.StreamCompressor(algorithm, length, self.e.level, threads=threads)
        deflate = codec == compression.ZLIB

        def prepare(rng):
            return self._prepare_piece(rng, hash_blocks, deflate)

        md5 = self.e._md5(length)
        digests, stored = [], 0
        writer = self.driver.open_writer(self.spec.container, name)
        try:
            for piece in ordered_map(self.pieces, prepare, ranges, self.e.threads + 1):
                self.check()
                md5.update(piece.data)
                out = sc.feed(piece.data, piece.deflated)
                stored += len(out)
                writer.write(out)
                if hash_blocks:
                    digests.append(piece.digests)
                    self.meter.add(len(piece.data))
            out = sc.finish()
            stored += len(out)
            if codec != compression.NONE and stored >= length:
                writer.abort()  # the caller rewrites it raw
                return b"".join(digests), None, stored
            writer.write(out)
            self.check()
        except BaseException:
            writer.abort()
            raise
        finally:
            if isinstance(md5, SideHasher):
                md5.close()
        writer.commit()
        return b"".join(digests), md5.hexdigest(), stored

    # ---- end ---------------------------------------------------------------------------
    def _finalize(self, entries) -> None:
        spec = self.spec
        # the objects must be durable before a document names them: a crash must never
        # leave a _metadata whose objects were lost
        self.driver.flush(spec.container)
        self.sha_writer.close()
        self.sha_file.commit()
        md = fmt.BackupMetadata(backup_id=spec.backup_id, volume_id=spec.volume_id,
                                created_at=spec.created_at, objects=entries,
                                backup_name=spec.name, backup_description=spec.description,
                                parent_id=spec.parent.backup_id if spec.parent else None,
                                volume_meta=spec.volume_meta)
        self.check(force=True)  # last chance: a cancel now still leaves nothing behind
        self.driver.put_object(spec.container, fmt.metadata_name(spec.prefix),
                               fmt.dump_metadata(md))
        self.driver.flush(spec.container)  # the backup is durable once backup() returns

    def abandon(self) -> None:
        """Delete everything this run may have written (listing, plus every name handed
        out, in case the listing lags behind a put that was in flight)."""
        spec, driver = self.spec, self.e.driver
        if self.sha_writer is not None:
            try:
                self.sha_file.abort()
            except Exception:  # noqa: BLE001 - the named deletes below still run
                pass
        names = {fmt.object_name(spec.prefix, i) for i in range(1, self.next_id)}
        names |= {fmt.metadata_name(spec.prefix), fmt.sha256file_name(spec.prefix)}
        try:
            names |= set(driver.list_objects(spec.container, spec.prefix))
        except Exception:  # noqa: BLE001 - best effort: the named deletes still run
            pass
        for name in sorted(names):
            try:
                driver.delete_object(spec.container, name)
            except Exception:  # noqa: BLE001 - keep deleting the rest; the error re-raises
                pass
        try:
            driver.sweep(spec.container, spec.prefix)
        except Exception:  # noqa: BLE001 - best effort, as the deletes above
            pass


class _NoHash:
    """Stands in for an object's md5 when the image is checked by its SHA-256 list."""

    def update(self, data) -> None:
        pass


class _DigestStream:
    """One ``_sha256file`` read as a stream (see ``fmt.Sha256Reader``)."""

    def __init__(self, raw, backup_id: str, name: str, limit: Optional[int] = None):
        self._raw = raw
        try:
            self.reader = fmt.Sha256Reader(raw.read, backup_id, name, limit)
        except BaseException:
            self.close()
            raise
        self.backup_id, self.name = backup_id, name

    def take(self, n: int) -> bytes:
        return self.reader.take(n)

    def finish(self, exact: bool = True) -> fmt.Sha256File:
        return self.reader.finish(exact)

    def close(self) -> None:
        close = getattr(self._raw, "close", None)
        if close:
            close()


class _ParentDigests:
    """The parent's block digests, read while the new ones are compared with them."""

    def __init__(self, engine: Engine, spec: BackupSpec):
        self.spec, self.block_size = spec, engine.block_size
        self.stream = engine.open_sha256file(spec.parent)
        self.taken = 0
        try:
            self._check_block_size(self.stream.reader.chunk_size())
        except BaseException:
            self.close()
            raise

    def _check_block_size(self, size) -> None:
        if size is not None and size != self.block_size:
            raise InvalidBackup(
                "backup %s: Hash block size has changed since the last backup. New hash "
                "block size: %d. Old hash block size: %d. Do a full backup. (parent %s)"
                % (self.spec.backup_id, self.block_size, size, self.spec.parent.backup_id))

    def take(self, n_bytes: int) -> bytes:
        """The parent's digests of the next blocks (as many bytes as the new ones)."""
        got = self.stream.take(n_bytes // fmt.DIGEST_SIZE)
        self.taken += len(got) // fmt.DIGEST_SIZE
        if len(got) < n_bytes:
            raise InvalidBackup(
                "backup %s: Volume size increased since the last backup. Do a full "
                "backup. (parent %s covers %d blocks of %d)"
                % (self.spec.backup_id, self.spec.parent.backup_id, self.taken,
                   self.block_size))
        return got

    def finish(self) -> None:
        """Check the rest of the parent's document (a list longer than the volume is
        allowed: only the blocks the volume has are compared)."""
        self._check_block_size(self.stream.finish(exact=False).chunk_size)

    def close(self) -> None:
        self.stream.close()


def _pwrite(fd: int, data, offset: int) -> None:
    view = memoryview(data)
    while len(view):
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


def _names(names: list) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:3])
    return shown + (" and %d more" % (len(names) - 3) if len(names) > 3 else "")
