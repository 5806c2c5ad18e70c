"""Where Ember's engine spends its time, per phase, across all its threads.

Sampling profilers do not answer this well for the engine: its threads mostly sit in
C code (hashlib, zlib, zstd, fsync, futex waits), which py-spy cannot tell apart from
idling, and cProfile only sees the main thread. So this wraps the engine's phase
functions with timers that record, per call, the wall time and the calling thread's CPU
time (``time.thread_time``); wall minus CPU is time spent waiting (I/O, fsync, locks,
the GIL, or other processes on a busy machine). Times are inclusive (a phase that calls
another counts it too) and summed over threads, so they can exceed the elapsed time.

    .venv/bin/python benchmarks/engine_phases.py backup  <ember_runner.py arguments>
    .venv/bin/python benchmarks/engine_phases.py restore <ember_runner.py arguments>
"""

from __future__ import annotations

import collections
import functools
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

STATS: dict = collections.defaultdict(lambda: [0, 0.0, 0.0])  # name -> calls, wall, cpu
_LOCK = threading.Lock()


def timed(owner, attr: str, label: str) -> None:
    """Replace ``owner.attr`` by a wrapper adding its wall and thread CPU time to STATS."""
    fn = getattr(owner, attr)

    @functools.wraps(fn)
    def wrapper(*a, **k):
        w0, c0 = time.perf_counter(), time.thread_time()
        try:
            return fn(*a, **k)
        finally:
            w, c = time.perf_counter() - w0, time.thread_time() - c0
            with _LOCK:
                s = STATS[label]
                s[0] += 1
                s[1] += w
                s[2] += c

    setattr(owner, attr, wrapper)


def instrument() -> None:
    from ember.engine import backup_run, blocks, compression, engine, restore_run
    from ember_posix import driver as posix

    run = backup_run.BackupRun
    for attr in ("_scan_piece", "_prepare_piece", "_write_object", "_stream",
                 "_compressible", "_finalize", "_read_piece"):
        timed(run, attr, "backup." + attr)
    timed(restore_run.RestoreRun, "_restore_object", "restore._restore_object")
    timed(engine.Engine, "read_metadata", "restore.read_metadata")
    timed(engine.Engine, "check_objects", "restore.check_objects")
    timed(restore_run, "_pwrite", "restore.pwrite (target)")
    timed(blocks, "block_digests", "blocks.block_digests (sha256)")
    timed(blocks, "is_zero", "blocks.is_zero")
    timed(blocks.Source, "read", "blocks.Source.read")
    timed(compression, "looks_incompressible", "compression.looks_incompressible")
    timed(compression, "deflate_piece", "compression.deflate_piece")
    timed(compression.StreamCompressor, "feed", "compression.StreamCompressor.feed")
    timed(compression.StreamCompressor, "finish", "compression.StreamCompressor.finish")
    timed(compression.DecompressingReader, "read", "compression.DecompressingReader.read")
    for name in dir(posix):
        cls = getattr(posix, name)
        if isinstance(cls, type) and cls.__module__ == posix.__name__:
            for attr in ("write", "commit", "open_writer", "open_reader", "get_object",
                         "put_object", "list_objects"):
                if attr in vars(cls):
                    timed(cls, attr, "posix.%s.%s" % (name, attr))


def main(argv=None) -> int:
    import ember_runner

    instrument()
    w0, c0 = time.perf_counter(), time.process_time()
    rc = ember_runner.main(argv)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    print("elapsed %.2f s, process CPU %.2f s" % (wall, cpu))
    print("%-45s %7s %9s %9s %9s" % ("phase (inclusive, summed over threads)", "calls",
                                    "wall s", "CPU s", "wait s"))
    for label, (calls, w, c) in sorted(STATS.items(), key=lambda kv: -kv[1][1]):
        print("%-45s %7d %9.2f %9.2f %9.2f" % (label, calls, w, c, w - c))
    return rc


if __name__ == "__main__":
    sys.exit(main())
