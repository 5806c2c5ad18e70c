"""``backup verify``: read every object of a backup's chain and report damage by name.

Cinder has no such check, and its restore ignores the stored md5s. Verify reads the
whole chain (oldest first, every object, superseded ones too) and checks, per member:

* the object list: names under the prefix the ``_metadata`` does not record are
  **extra**, recorded names absent from the repository are **missing** (the check
  Cinder's restore makes, but reporting every name instead of failing on the first);
* every data object: it decompresses with its recorded codec, to exactly its recorded
  length, with its recorded md5 — else it is **corrupt**;
* the ``_sha256file``: rebuilt block by block from the decompressed objects (what a
  restore of that point would write), every recorded digest must match the content — a
  mismatch means the list itself is **corrupt** (data objects that failed their md5
  are reported themselves and their blocks are not compared again).

Nothing is written anywhere. Objects are read ``THREADS`` at a time; memory holds one
piece per thread, the raw digest of every block that holds data (blocks of zeros and
holes cost nothing), the digests of the member being read until they are applied, and
damaged blocks as ranges. A ``_sha256file`` is never held whole: it is compared as it is
read, and trusted only once read to its end and checked.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import threading
import zlib
from dataclasses import dataclass, field
from typing import Sequence

import zstandard

from ember import errors
from ember.config import one_line
from ember.engine import compression, plan
from ember.engine import format as fmt
from ember.engine.extents import Ranges
from ember.engine.pipeline import Window
from ember.engine.spec import Progress
from ember.layout import POSIX_PREFIX, Layout
from ember.wrappers import layout_of

MISSING, EXTRA, CORRUPT = "missing", "extra", "corrupt"
PIECE = 4 << 20  # bytes decompressed at a time, per thread
THREADS = 4  # objects read at once (at most the driver's max_concurrency)
_SHOWN = 5  # mismatching blocks named in one finding
_COMPARED_AT_ONCE = 1 << 15  # digests taken from a streamed _sha256file at a time


@dataclass(frozen=True)
class Finding:
    """One damaged object: ``problem`` is ``missing``, ``extra`` or ``corrupt``."""

    backup_id: str
    object: str
    problem: str
    detail: str


@dataclass
class VerifyReport:
    """What ``verify`` read and found; ``damaged`` is True when anything was found."""

    backup_id: str
    chain: list[str] = field(default_factory=list)  # member ids, oldest first
    objects_read: int = 0
    bytes_read: int = 0  # decompressed bytes checked
    findings: list[Finding] = field(default_factory=list)

    @property
    def damaged(self) -> bool:
        return bool(self.findings)

    def summary(self) -> str:
        """One line for the user."""
        if not self.damaged:
            return ("Backup %s is intact: %s of %s read, %d bytes checked."
                    % (self.backup_id, _several(self.objects_read, "object"),
                       _several(len(self.chain), "backup"), self.bytes_read))
        counts = {p: sum(f.problem == p for f in self.findings)
                  for p in (MISSING, EXTRA, CORRUPT)}
        return ("Backup %s is damaged: %d missing, %d extra, %d corrupt object(s); it cannot be "
                "restored as it is: take a new full backup." % (self.backup_id, counts[MISSING],
                                                        counts[EXTRA], counts[CORRUPT]))


def _several(count: int, noun: str) -> str:
    """``1 object``, ``2 objects``."""
    return "%d %s%s" % (count, noun, "" if count == 1 else "s")


def verify_chain(driver, chain: Sequence, progress: Progress | None = None, *,
                 layout: Layout | None = None) -> VerifyReport:
    """Verify ``chain`` (``ChainMember``s, oldest first) and return every finding.
    ``layout``: the driver's (``ember.layout``); default: what its plugin declares."""
    layout = layout if layout is not None else layout_of(driver)
    report = VerifyReport(backup_id=chain[-1].backup_id if chain else "",
                          chain=[m.backup_id for m in chain])
    content = _Content()
    limit = min(getattr(chain[-1], "size_limit", None) or plan.MAX_VOLUME, plan.MAX_VOLUME) \
        if chain else plan.MAX_VOLUME
    block = int(layout.sha_block_size)
    # every _metadata is read and checked first (the same checks as a restore's plan),
    # so the progress total is known from the start and bounded by the volume
    documents = [_document(driver, member, fmt.metadata_name(member.prefix),
                           plan.metadata_limit(limit, block, member.prefix),
                           fmt.parse_metadata, _finder(report, member)) for member in chain]
    _check_plan(chain, documents, limit, report)
    counter = _Counter(progress, sum(e.length for md in documents if md is not None
                                     for e in md.objects))
    for member, md in zip(chain, documents, strict=True):
        _verify_member(driver, layout, member, md, plan.sha256file_limit(limit, block),
                       content, report, counter)
    return report


def verify_objects(driver, member, *, layout: Layout | None = None) -> VerifyReport:
    """Check one backup's own objects (not its parents'): its ``_metadata`` and
    ``_sha256file`` are there and readable, and every data object it records is there,
    decompresses to its length and has its md5. The part of a chain's verify that a
    rotating, partial verification reads a share of at a time."""
    layout = layout if layout is not None else layout_of(driver)
    report = VerifyReport(backup_id=member.backup_id, chain=[member.backup_id])
    found = _finder(report, member)
    limit = min(getattr(member, "size_limit", None) or plan.MAX_VOLUME, plan.MAX_VOLUME)
    block = int(layout.sha_block_size)
    md = _document(driver, member, fmt.metadata_name(member.prefix),
                   plan.metadata_limit(limit, block, member.prefix), fmt.parse_metadata,
                   found)
    _sha256file_block_size(driver, member, fmt.sha256file_name(member.prefix),
                           plan.sha256file_limit(limit, block), found)
    if md is None:
        return report
    listed = set(_listing(driver, layout, member))
    for name in sorted(listed - {o.name for o in md.objects}):
        found(name, EXTRA, "in the repository but not in its _metadata")
    workers = max(1, min(THREADS, int(driver.capabilities.max_concurrency)))
    present = [e for e in md.objects if e.name in listed]
    problems = _each_object(workers, lambda e, stop: _check_object(driver, member, e, None,
                                                                  stop)[0], present)
    for entry, problem in zip(present, problems, strict=True):
        report.objects_read += 1
        if problem is None:
            report.bytes_read += entry.length
        else:
            found(entry.name, CORRUPT, problem)
    for entry in md.objects:
        if entry.name not in listed:
            found(entry.name, MISSING, "recorded in its _metadata, not in the repository")
    return report


def _check_plan(chain, documents: list, limit: int, report: VerifyReport) -> None:
    """A document that names another backup, parent or volume, or whose entries leave
    the volume, overlap or (full backup) leave a gap, is corrupt: reported and then
    treated as unreadable (``None`` in ``documents``)."""
    volume_id = getattr(chain[0], "volume_id", None) if chain else None
    volume_size = None
    for i, (member, md) in enumerate(zip(chain, documents)):
        if md is None:
            continue
        try:
            plan.check_identity(member, md, chain[i - 1].backup_id if i else None,
                                getattr(member, "volume_id", None) or volume_id)
            if i == 0:
                volume_size = plan.full_size(member.backup_id, md, limit)
            plan.check_entries(member.backup_id, md, volume_size or limit,
                               full=i == 0)
        except errors.InvalidBackup as exc:
            _finder(report, member)(fmt.metadata_name(member.prefix), CORRUPT, one_line(exc))
            documents[i] = None


class _Counter:
    """Adds up the bytes of checked objects (from the reading threads) for ``progress``."""

    def __init__(self, progress: Progress | None, total: int):
        self.progress, self.total, self.done = progress, total, 0
        self._lock = threading.Lock()

    def add(self, length: int) -> None:
        if self.progress is None:
            return
        with self._lock:
            self.done += length
            self.progress(self.done, self.total)


def _finder(report: VerifyReport, member):
    def found(name, problem, detail):
        report.findings.append(Finding(member.backup_id, name, problem, detail))
    return found


class _Content:
    """The digest of every SHA block read so far, at the member being checked.

    ``unknown`` holds the blocks whose content is unknown (their object was damaged) as
    ranges, whatever length the damaged entry claims; once a member's ``_metadata`` is
    unreadable, nothing after it can be compared."""

    def __init__(self):
        self.digests: dict[int, bytes] = {}  # raw digests of blocks that are not all zero
        self.unknown = Ranges()
        self.block_size: int | None = None
        self.known = True


def _verify_member(driver, layout: Layout, member, md, sha_limit: int, content: _Content,
                   report: VerifyReport, counter: _Counter) -> None:
    found = _finder(report, member)
    md_name, sha_name = fmt.metadata_name(member.prefix), fmt.sha256file_name(member.prefix)
    shas = _sha256file_block_size(driver, member, sha_name, sha_limit, found)
    if shas is not None:
        if content.block_size not in (None, shas):
            found(sha_name, CORRUPT, "chunk_size %d differs from the parent's %d"
                  % (shas, content.block_size))
            shas = None
        else:
            content.block_size = shas
    listed = set(_listing(driver, layout, member))
    if md is None:
        content.known = False  # what this member changed is unknown from here on
        for name in sorted(listed):
            found(name, EXTRA, "under the prefix of a backup whose _metadata is unreadable")
        return
    recorded = {o.name for o in md.objects}
    for name in sorted(listed - recorded):
        found(name, EXTRA, "in the repository but not in %s" % md_name)
    present = [e for e in md.objects if e.name in listed]
    # objects are read in parallel; their digests are applied in metadata order
    workers = max(1, min(THREADS, int(driver.capabilities.max_concurrency)))
    def check(entry, stop):
        result = _check_object(driver, member, entry, content.block_size, stop)
        counter.add(entry.length)
        return result

    checked = dict(zip((e.name for e in present), _each_object(workers, check, present),
                       strict=True))
    for entry in md.objects:
        if entry.name not in listed:
            found(entry.name, MISSING, "recorded in %s at offset %d, not in the repository"
                  % (md_name, entry.offset))
            _forget(content, entry)
            continue
        problem, digests = checked[entry.name]
        report.objects_read += 1
        if problem is None:
            report.bytes_read += entry.length
            _record(content, entry, digests)
        else:
            found(entry.name, CORRUPT, problem)
            _forget(content, entry)
    if shas is not None and content.known:
        _compare(driver, member, sha_name, sha_limit, content, found)


def _document(driver, member, name, limit: int, parse, found):
    """Read (at most ``limit`` bytes) and parse one of the two documents; a finding (and
    None) if it cannot be."""
    if name not in driver.list_objects(member.container, name):
        found(name, MISSING, "not in container %s" % member.container)
        return None
    try:
        return parse(plan.read_document(driver, member.container, name, limit,
                                        member.backup_id), member.backup_id, name)
    except (errors.InvalidBackup, errors.DriverError) as exc:  # UnsupportedVersion too
        found(name, CORRUPT, one_line(exc))
        return None


def _open_sha256file(driver, member, name: str, limit: int, found):
    """``name`` as a stream (``fmt.Sha256Reader``) and its raw reader, or a finding (and
    None) if it is missing or its beginning is damaged."""
    if name not in driver.list_objects(member.container, name):
        found(name, MISSING, "not in container %s" % member.container)
        return None
    raw = None
    try:
        raw = driver.open_reader(member.container, name)
        return fmt.Sha256Reader(raw.read, member.backup_id, name, limit), raw
    except (errors.InvalidBackup, errors.DriverError) as exc:  # UnsupportedVersion too
        _close(raw)
        found(name, CORRUPT, one_line(exc))
        return None


def _sha256file_block_size(driver, member, name: str, limit: int, found) -> int | None:
    """The block size the ``_sha256file`` records (None, with a finding, if it is missing
    or damaged). Cinder's layout has it before the list; any other layout is read to its
    end for it, a digest at a time."""
    opened = _open_sha256file(driver, member, name, limit, found)
    if opened is None:
        return None
    reader, raw = opened
    try:
        size = reader.chunk_size()
        return size if size is not None else reader.finish(exact=False).chunk_size
    except (errors.InvalidBackup, errors.DriverError) as exc:
        found(name, CORRUPT, one_line(exc))
        return None
    finally:
        _close(raw)


def _close(raw) -> None:
    close = getattr(raw, "close", None)
    if close:
        close()


def _listing(driver, layout: Layout, member) -> list[str]:
    """Every name that may belong to the member: its prefix's, and for a posix-family
    backup in its own default container every name in that container."""
    names = set(driver.list_objects(member.container, member.prefix))
    own = fmt.posix_container(member.backup_id)
    if layout.prefix_style == POSIX_PREFIX and member.container == own:
        names |= set(driver.list_objects(member.container, ""))
    return sorted(n for n in names if not fmt.is_document(member.prefix, n))


def _each_object(workers: int, check, entries: list) -> list:
    """``[check(entry, stop) for entry in entries]`` on ``workers`` threads, stopping as
    promptly as a backup does on Ctrl-C (or any error of the caller): objects not
    started are dropped, and those being read see ``stop`` set at their next piece, so
    the pool's shutdown waits for one piece per thread, not for the whole chain."""
    stop = threading.Event()
    with cf.ThreadPoolExecutor(workers, thread_name_prefix="ember-verify") as pool:
        # the engine's window waits with a timeout: a Ctrl-C the kernel delivered to a
        # worker thread is then seen by the main thread at once, not after the reads
        window = Window(pool, workers)
        try:
            results = []
            for entry in entries:
                results += window.submit(check, entry, stop)
            return results + window.drain()
        except BaseException:
            stop.set()
            window.abandon()
            raise


def _check_object(driver, member, entry: fmt.ObjectEntry, block: int | None,
                  stop: threading.Event | None = None):
    """Decompress, measure and md5 one object. Returns (what is wrong with it or None,
    the SHA-256 of each of its ``block``-sized blocks); ``stop`` set ends the reading
    early (the caller is going away and discards the result)."""
    if block and entry.offset % block:
        return ("offset %d is not a multiple of the SHA block size %d" % (entry.offset, block),
                [])
    md5 = hashlib.md5(usedforsecurity=False)
    digests, pending, got = [], b"", 0
    try:
        raw = driver.open_reader(member.container, entry.name)
        try:
            reader = compression.DecompressingReader(entry.compression, raw)
            while True:
                if stop is not None and stop.is_set():
                    return "not read to its end: verify was stopped", []
                piece = reader.read(PIECE)
                if not piece:
                    break
                got += len(piece)
                if got > entry.length:
                    return ("decompresses to more than its recorded length %d"
                            % entry.length, [])
                md5.update(piece)
                if block:
                    pending += piece
                    whole = len(pending) - len(pending) % block
                    digests += _digests(pending[:whole], block)
                    pending = pending[whole:]
        finally:
            _close(raw)
    except errors.ObjectNotFound:
        return "disappeared while being read", []
    except errors.DriverError as exc:  # not a regular file, unreadable
        return "cannot be read (%s)" % one_line(exc), []
    except (zlib.error, OSError, EOFError, ValueError, zstandard.ZstdError) as exc:
        return "cannot be decompressed as %s (%s)" % (entry.compression, one_line(exc)), []
    if got != entry.length:
        return "holds %d bytes, its metadata records %d (truncated)" % (got, entry.length), []
    if entry.md5 is not None and md5.hexdigest() != entry.md5:
        return "md5 %s, its metadata records %s" % (md5.hexdigest(), entry.md5), []
    if pending:
        digests.append(hashlib.sha256(pending).digest())
    return None, digests


def _record(content: _Content, entry: fmt.ObjectEntry, digests: list) -> None:
    """An intact object's blocks now hold its content."""
    if content.block_size:
        first = entry.offset // content.block_size
        content.unknown.remove(first, first + len(digests))
        zero = _zero_digest(content.block_size)
        for i, digest in enumerate(digests, first):
            if digest == zero:
                content.digests.pop(i, None)  # zeros are the default: keep nothing
            else:
                content.digests[i] = digest


def _digests(data: bytes, block: int) -> list[bytes]:
    view = memoryview(data)
    return [hashlib.sha256(view[i:i + block]).digest() for i in range(0, len(view), block)]


_ZERO_DIGESTS: dict[int, bytes] = {}


def _zero_digest(block: int) -> bytes:
    if block not in _ZERO_DIGESTS:
        _ZERO_DIGESTS[block] = hashlib.sha256(bytes(block)).digest()
    return _ZERO_DIGESTS[block]


def _forget(content: _Content, entry: fmt.ObjectEntry) -> None:
    """The blocks of a damaged object hold unknown content at this point."""
    block = content.block_size
    if block:
        first, end = entry.offset // block, -(-entry.end // block)
        content.unknown.add(first, end)  # shadows any digest recorded there before


def _compare(driver, member, name: str, limit: int, content: _Content, found) -> None:
    """Every recorded digest against the content at this point (blocks never written
    by any member read as zeros, as on a restored volume), streamed; the mismatches are
    reported only once the whole document has been read and checked."""
    opened = _open_sha256file(driver, member, name, limit, found)
    if opened is None:
        return
    reader, raw = opened
    block = content.block_size
    zero, size = _zero_digest(block), fmt.DIGEST_SIZE
    bad, count, idx = [], 0, 0
    try:
        while True:
            digests = reader.take(_COMPARED_AT_ONCE)
            if not digests:
                break
            for at in range(0, len(digests), size):
                if (idx not in content.unknown
                        and content.digests.get(idx, zero) != digests[at:at + size]):
                    count += 1
                    if len(bad) < _SHOWN:
                        bad.append(idx)
                idx += 1
        reader.finish()
    except (errors.InvalidBackup, errors.DriverError) as exc:  # UnsupportedVersion too
        found(name, CORRUPT, one_line(exc))
        return
    finally:
        _close(raw)
    if count:
        shown = ", ".join("%d (offset %d)" % (i, i * block) for i in bad)
        more = " and %d more" % (count - _SHOWN) if count > _SHOWN else ""
        found(name, CORRUPT, "%d of %d block digests differ from the backed-up content: "
              "block %s%s" % (count, idx, shown, more))
