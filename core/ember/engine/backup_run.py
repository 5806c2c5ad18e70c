"""One backup run (``Engine.backup``): the volume cut into chunks and pieces, full or
incremental against the parent's ``_sha256file``, objects written in parallel, then
``_sha256file`` and ``_metadata`` (see ``ember.engine.engine`` for the whole story)."""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
from dataclasses import dataclass
from typing import Optional

from ember.engine import blocks, compression
from ember.engine import format as fmt
from ember.engine.extents import ChangedRuns, GapBudget
from ember.engine.pipeline import CancelCheck, Meter, SideHasher, Window, ordered_map
from ember.engine.spec import BackupResult, BackupSpec
from ember.errors import InvalidBackup
from ember.wrappers import LimitedDriver

_SAMPLES = 4  # samples per object for the "is it compressible at all" test
#: objects up to this size are handled whole in memory and skip the sampling:
#: compressing them outright costs less than the samples would (they would cover most
#: of the object), and the raw form is chosen afterwards if compression did not shrink
SMALL_OBJECT = _SAMPLES * compression.SAMPLE_SIZE
CANCEL_INTERVAL = 0.25  # seconds between two questions to the caller's cancel token
DIGEST = fmt.DIGEST_SIZE  # bytes of one block digest
#: a full backup writes a hole of the source at least this large as an object of its own
HOLE_OBJECT = 64 << 20


@dataclass
class _Piece:
    """One prepared piece: its bytes, whether all zero, block digests, deflated form."""

    data: bytes
    zero: bool
    digests: Optional[list]
    deflated: Optional[bytes] = None



class BackupRun:
    """State of one ``Engine.backup`` call."""

    def __init__(self, engine, spec: BackupSpec, src: blocks.Source,
                 parent: "ParentDigests | None", cancel, progress):
        self.e, self.spec, self.src, self.parent = engine, spec, src, parent
        self.sha_writer = None  # the new _sha256file, written as the digests come
        self.check = CancelCheck(cancel, engine.cancel_interval)
        self.meter = Meter(progress, src.size, step=engine.object_size)
        self.driver = LimitedDriver(engine.driver, engine.max_calls)
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



class ParentDigests:
    """The parent's block digests, read while the new ones are compared with them."""

    def __init__(self, engine, spec: BackupSpec):
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

