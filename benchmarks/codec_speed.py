"""Per-core speed of the engine's building blocks on the benchmark volume's regions.

Prints MB per CPU-second (so a busy machine distorts it less than wall time) and the
ratio, for sha256, md5, zlib (stdlib), zstd and, when installed, the zlib-compatible
alternatives ``isal`` (ISA-L) and ``zlib-ng``. Each alternative's output is checked to
decode with the stdlib ``zlib`` module, i.e. with what Cinder uses.

    python benchmarks/codec_speed.py [--mib 32]      # any Python with zstandard (Ember's .venv)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import volume as vol  # noqa: E402


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


#: the levels measured by default; ``--all-levels`` measures every level of each
LEVELS = {"zlib": (6, 1), "zstd": (3, 1), "isal": (3, 1)}
ALL_LEVELS = {"zlib": tuple(range(1, 10)), "zstd": (1, 2, 3, 4, 5, 6, 7, 9),
              "isal": (0, 1, 2, 3)}


def candidates():
    """(name, compress or hash, decompress for the round-trip check or None)."""
    yield "sha256", lambda b: hashlib.sha256(b).digest(), None
    yield "md5", lambda b: hashlib.md5(b, usedforsecurity=False).digest(), None
    for level in LEVELS["zlib"]:
        yield "zlib-%d" % level, (lambda lv: lambda b: zlib.compress(b, lv))(level), zlib.decompress
    try:
        import zstandard
        for level in LEVELS["zstd"]:
            yield ("zstd-%d" % level, zstandard.ZstdCompressor(level=level).compress,
                   zstandard.ZstdDecompressor().decompress)
    except ImportError:
        pass
    try:
        from isal import isal_zlib
        for level in LEVELS["isal"]:
            yield ("isal-%d" % level, (lambda lv: lambda b: isal_zlib.compress(b, lv))(level),
                   zlib.decompress)
    except ImportError:
        print("(isal not installed: pip install isal)")
    try:
        from zlib_ng import zlib_ng
        yield "zlib-ng-6", lambda b: zlib_ng.compress(b, 6), zlib.decompress
    except ImportError:
        print("(zlib-ng not installed: pip install zlib-ng)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mib", type=int, default=32, help="bytes per region sample (MiB)")
    p.add_argument("--all-levels", action="store_true",
                   help="every level of zlib (1-9), zstd (1-9) and ISA-L (0-3), with the "
                        "size of the whole sample set per level (what a default changes)")
    args = p.parse_args(argv)
    if args.all_levels:
        LEVELS.update(ALL_LEVELS)
    size = args.mib * 3 * vol.MiB * 2  # regions of the seeded volume hold >= --mib each
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "v.img")
        vol.build(path, size)
        regions = vol.regions(size)
        samples = {}
        with open(path, "rb") as f:
            for name in ("random", "text", "zeros"):
                f.seek(regions[name][0])
                samples[name] = f.read(args.mib * vol.MiB)
    print("%-10s %-7s %12s %7s  %s" % ("operation", "region", "MB/CPU-s", "ratio",
                                       "stdlib zlib decodes"))
    for name, fn, dec in candidates():
        total_in = total_out = total_cpu = 0
        for region, data in samples.items():
            t = cpu()
            out = fn(data)
            spent = max(cpu() - t, 1e-6)
            ratio = "" if dec is None else "%.2f" % (len(data) / len(out))
            check = "" if dec is None else ("yes" if dec(out) == data else "NO")
            print("%-10s %-7s %12.0f %7s  %s" % (name, region, len(data) / 1e6 / spent, ratio,
                                                 check if dec is zlib.decompress else ""))
            # the engine stores a piece raw when it does not shrink (random data)
            total_in, total_out = total_in + len(data), total_out + min(len(out), len(data))
            total_cpu += spent
        if dec is not None:
            print("%-10s %-7s %12.0f %7.2f  (all regions: %.1f MB stored, %.2f CPU-s)"
                  % (name, "all", total_in / 1e6 / total_cpu, total_in / total_out,
                     total_out / 1e6, total_cpu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
