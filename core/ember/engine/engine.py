"""The engine's facade: ``Engine`` backs up, restores and deletes through one driver.

The work is in ``backup_run`` (one backup run), ``restore_run`` (one restore run) and
what they are given and return in ``spec``; this module holds what both use (the
repository documents, zero objects) and the delete.

The engine owns the repository format, the chain, progress and cancellation. It talks
to a driver by plain names only and never touches the catalogue: the service layer
hands it what it needs (ids, container, prefix, parent) and records what it returns.

How a backup runs (see ``ember.engine.pipeline`` for the threads):

* The volume is cut into *chunks* of ``layout.object_size`` bytes and each chunk into
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
import threading
from typing import Optional, Sequence

from ember import opts
from ember.engine import blocks, compression, imagecheck
from ember.engine import format as fmt
from ember.engine import plan as plan_
from ember.engine.backup_run import HOLE_OBJECT, SMALL_OBJECT, BackupRun, ParentDigests
from ember.engine.pipeline import SideHasher
from ember.engine.restore_run import RestoreRun
from ember.engine.spec import (BackupResult, BackupSpec, CancelToken, ChainMember, Progress,
                               RestoreResult)
from ember.errors import ConfigError, InvalidBackup, InvalidInput, ObjectNotFound
from ember.layout import Layout
from ember.wrappers import LimitedDriver, layout_of

__all__ = ["Engine", "BackupSpec", "BackupResult", "ChainMember", "RestoreResult",
           "CancelToken", "Progress", "HOLE_OBJECT", "SMALL_OBJECT", "PIECE_SIZE"]

PIECE_SIZE = 4 << 20  # upper bound of one unit of work and of memory per piece
CANCEL_INTERVAL = 0.25  # seconds between two questions to the caller's cancel token


class Engine:
    """Backs up, restores and deletes backups through one driver.

    Thread-safe for sequential use; each call builds its own thread pools."""

    #: how often (seconds) the cancel token is asked, at most; tests set 0
    cancel_interval = CANCEL_INTERVAL

    def __init__(self, driver, conf, layout: Layout | None = None):
        """``layout``: the driver's names and sizes (``ember.layout``); default: the
        one its plugin declares for the driver's configuration (``layout_of``)."""
        self.driver = driver
        self.conf = opts.register(conf) if conf is not None else conf
        self.layout = layout if layout is not None else layout_of(driver)
        self.object_size = int(self.layout.object_size)
        self.block_size = int(self.layout.sha_block_size)
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
        capabilities = driver.capabilities
        self.max_calls = max(1, int(capabilities.max_concurrency))
        self.round_trips = bool(capabilities.round_trips)
        self._zero_lock = threading.RLock()
        self._zero_md5_states = [hashlib.md5(usedforsecurity=False)]
        self._zero_objects: dict = {}

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
            parent = ParentDigests(self, spec) if spec.parent else None
            try:
                run = BackupRun(self, spec, src, parent, cancel, progress)
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
        return RestoreRun(self, plan, target_path, target_is_new=target_is_new,
                          cancel=cancel, progress=progress).execute()

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

    def _md5(self, length: int):
        """md5 of one object: on a side thread when the object has several pieces."""
        if length > self.piece_size:
            return SideHasher(lambda: hashlib.md5(usedforsecurity=False))
        return hashlib.md5(usedforsecurity=False)


    def delete(self, container: str, prefix: str) -> int:
        """Delete every object of one backup (data, ``_metadata``, ``_sha256file``), then
        let the driver sweep what interrupted writes left (``driver.sweep``); returns
        how many objects were listed and removed. The two documents are deleted even
        when not listed (a backup that crashed before writing them): deletes are
        idempotent."""
        names = list(self.driver.list_objects(container, prefix))
        docs = [n for n in (fmt.metadata_name(prefix), fmt.sha256file_name(prefix))
                if n not in names]
        driver = LimitedDriver(self.driver, self.max_calls)
        with cf.ThreadPoolExecutor(min(self.max_calls, len(names) + len(docs))) as pool:
            list(pool.map(lambda n: driver.delete_object(container, n), names + docs))
        self.driver.sweep(container, prefix)
        return len(names)



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



def _names(names: list) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:3])
    return shown + (" and %d more" % (len(names) - 3) if len(names) > 3 else "")
