"""One restore run (``Engine.restore``): the plan's objects read, decompressed and
written onto the target in parallel, each byte range once, then (with a ``_sha256file``)
every block of the result checked against the list."""

from __future__ import annotations

import concurrent.futures as cf
import os
import stat
import zlib

import zstandard

from ember.engine import blocks, compression, imagecheck
from ember.engine import plan as plan_
from ember.engine.pipeline import (Behind, CancelCheck, Meter, SideHasher, Window,
                                   ordered_map)
from ember.engine.spec import CancelToken, Progress, RestoreResult
from ember.errors import CorruptObject, InvalidInput
from ember.wrappers import LimitedDriver


class RestoreRun:
    """State of one ``Engine.restore`` call (what it promises is said there)."""

    def __init__(self, engine, plan: plan_.RestorePlan, target_path: str, *,
                 target_is_new: bool, cancel: CancelToken | None,
                 progress: Progress | None):
        self.e, self.plan, self.target_path = engine, plan, target_path
        self.target_is_new = target_is_new
        self.check = CancelCheck(cancel, engine.cancel_interval)
        shape = plan.image
        self.check_md5 = shape is None or engine.verify == imagecheck.BOTH
        self.steps = plan.steps
        if shape is not None and shape.data is not None and target_is_new \
                and not self.check_md5:
            # the target is zeros already, and the list is the record of the final image:
            # an object that would only write blocks it says are zero is not read (an
            # object that is read writes all its ranges, so the check sees any disagreement)
            self.steps = [s for s in self.steps if imagecheck.only_data(s.ranges, shape.data)]
        self.total = sum(e - s for step in self.steps for s, e in step.ranges)
        self.meter = Meter(progress, self.total, step=engine.object_size)

    def execute(self) -> RestoreResult:
        fd = os.open(self.target_path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            _prepare_target(fd, self.target_path, self.plan.volume_size, self.target_is_new)
            self._write(fd)
            self.check(force=True)
            os.fsync(fd)
        finally:
            os.close(fd)
        self.meter.report(final=True)
        return RestoreResult(bytes_written=self.total, volume_meta=self.plan.volume_meta)

    def _write(self, fd: int) -> None:
        e, check = self.e, self.check
        driver = LimitedDriver(e.driver, e.max_calls)
        # the final fsync then waits for the last few MiB, not the whole volume
        write_behind = blocks.WriteBehind(fd)
        # objects in flight: where a read waits on a round trip, one whole-size object per
        # thread (each keeps its thread inflating) plus one, or up to the driver's
        # concurrency of small ones (an incremental's runs), so their requests overlap
        # instead of queuing. On a local filesystem nothing waits but the GIL: one object
        # per thread (more only starve the full's inflate: 8 in flight made a 1 GiB chain
        # restore 1.25x slower on 2 cores, docs/performance.md Run V). The budget counts
        # an object at most its configured size. Each object writes ranges no other one
        # writes, so they may finish in any order: a chain's small objects pass a full's.
        in_flight = max(e.threads + 1, e.max_calls) if e.round_trips else e.threads
        with cf.ThreadPoolExecutor(in_flight, thread_name_prefix="ember-restore") as pool:
            window = Window(pool, in_flight, self.meter.report,
                            budget=e.threads * e.object_size, ordered=False)
            try:
                for step in self.steps:
                    check()
                    window.submit(self._restore_object, driver, fd, step, write_behind,
                                  cost=min(step.entry.length, e.object_size))
                window.drain()
                if self.plan.image is not None:
                    self._verify_target(pool)
            except BaseException as exc:
                check.stop(exc)
                window.abandon()
                raise

    def _verify_target(self, pool) -> None:
        plan, target_path, check = self.plan, self.target_path, self.check
        tip, shape = plan.chain[-1], plan.image

        def writer_of(offset: int) -> str:
            for step in plan.steps:
                if any(s <= offset < e for s, e in step.ranges):
                    return "object %s of backup %s" % (step.entry.name, step.member.backup_id)
            return "no object"

        def map_batches(fn, items):
            return ordered_map(pool, fn, items, self.e.threads + 1)

        stream = self.e.open_sha256file(tip, plan.volume_size)
        try:
            with blocks.Source(target_path) as target:
                imagecheck.verify(stream, shape, target, plan.volume_size,
                                  batch=max(1, self.e.piece_size // shape.block_size),
                                  map_batches=map_batches, check=check, writer_of=writer_of,
                                  backup_id=tip.backup_id)
        finally:
            stream.close()

    def _restore_object(self, driver, fd, step, write_behind: blocks.WriteBehind) -> None:
        member, entry, ranges = step.member, step.entry, step.ranges
        check, target_is_new = self.check, self.target_is_new
        check_md5 = self.check_md5
        where = "backup %s: object %s" % (member.backup_id, entry.name)
        md5 = self.e._md5(entry.length) if check_md5 else _NoHash()
        # an object of several pieces (a full's) inflates on this thread while its last
        # piece is written behind it: one core inflates, another copies into the target
        behind = Behind("ember-restore-write") if entry.length > self.e.piece_size else None
        pos = entry.offset
        ri = 0
        try:
            raw = driver.open_reader(member.container, entry.name)
            try:
                reader = compression.DecompressingReader(entry.compression, raw)
                while True:
                    check()
                    piece = reader.read(self.e.piece_size)
                    if not piece:
                        break
                    md5.update(piece)
                    end = pos + len(piece)
                    if end > entry.end:
                        raise CorruptObject("%s decompresses to more than its recorded length "
                                            "%d; the object is corrupt" % (where, entry.length))
                    parts = []
                    while ri < len(ranges) and ranges[ri][0] < end:
                        s, e = max(ranges[ri][0], pos), min(ranges[ri][1], end)
                        if s < e:
                            parts.append((s, e))
                        if ranges[ri][1] <= end:
                            ri += 1
                        else:
                            break
                    if behind is None:
                        self._write_parts(fd, piece, pos, parts, write_behind)
                    elif parts:
                        behind.submit(self._write_parts, fd, piece, pos, parts, write_behind)
                    pos = end
                if behind is not None:
                    behind.close()
            finally:
                if behind is not None:
                    _close_quietly(behind)
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

    def _write_parts(self, fd: int, piece: bytes, pos: int, parts: list,
                     write_behind: blocks.WriteBehind) -> None:
        """Writes the byte ranges ``parts`` of ``piece`` (which starts at ``pos``)."""
        view = memoryview(piece)
        for s, e in parts:
            part = view[s - pos:e - pos]
            # safe: each range is written once, so skipping a zero run on a zeroed
            # target can never leave older data visible
            if not (self.target_is_new and blocks.is_zero(part)):
                _pwrite(fd, part, s)
                write_behind.wrote(e - s)
            self.meter.add(e - s)


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


def _close_quietly(behind: Behind) -> None:
    """Ends ``behind`` on the way out of an error, which is the one to report."""
    try:
        behind.close()
    except Exception:  # noqa: BLE001 - the error already raised wins
        pass


class _NoHash:
    """Stands in for an object's md5 when the image is checked by its SHA-256 list."""

    def update(self, data) -> None:
        pass


def _pwrite(fd: int, data, offset: int) -> None:
    view = memoryview(data)
    while len(view):
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n
