"""The format's CPU floor for each step on this machine, from per-core rates measured
on the volume being benchmarked (Ember's venv: ``.venv/bin/python floors.py VOLUME``).

For each region of the seeded volume (random, text, zeros; the hole costs what zeros
cost, minus the reading) it times, in CPU seconds per byte, Ember's own primitives:
reading (``pread`` from the page cache), md5, the per-block SHA-256 (zero blocks are a
memcmp), each codec's compression as the engine runs it, and decompression. Summed
over the volume, that gives the CPU a step cannot avoid; divided by the cores, the
floor compare.py prints beside Ember's wall time:

* full: (read + md5 + SHA-256 + compression of the whole volume) / cores;
* read-everything incremental: (read + SHA-256 of the whole volume, plus read, md5
  and compression of the changed blocks it stores) / cores;
* restore: (decompression of the objects + SHA-256 of the image it checks) / cores;
* restore, serial (with ``--object-size``): one object is one zlib stream, inflated by
  one thread, and the image is checked after the last write, so at least
  max(decompression / cores, the largest object's decompression) + SHA-256 / cores
  (a 1 GiB volume in Cinder's 1,999,994,880-byte posix objects is one object).

Prints one JSON object: per-byte costs, and per codec the floors in seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import volume as vol  # noqa: E402

SAMPLE = 32 << 20
BLOCK = 32768
PIECE = 4 << 20


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def per_byte(fn, data, repeat: int = 1) -> float:
    """CPU seconds per byte of ``fn`` over ``data`` (piece by piece, as the engine)."""
    start = cpu()
    for _ in range(repeat):
        for off in range(0, len(data), PIECE):
            fn(data[off:off + PIECE])
    return max(cpu() - start, 1e-9) / (len(data) * repeat)


def costs(samples: dict, fd: int, offsets: dict) -> dict:
    from ember.engine import blocks, compression

    out = {}
    for region, data in samples.items():
        c = {"read": per_byte(lambda p, o=offsets[region]: os.pread(fd, len(p), o), data),
             "md5": per_byte(lambda p: hashlib.md5(p, usedforsecurity=False).digest(), data),
             "sha256": per_byte(lambda p: blocks.block_digests(p, BLOCK), data)}
        for codec in ("zlib", "zstd"):
            level = compression.level_for(codec, None)
            pieces = []

            def compress(p, codec=codec, level=level):
                sc = compression.StreamCompressor(codec, len(p), level)
                if codec == "zlib":
                    stored = not blocks.is_zero(p) and compression.samples_pieces(codec, level) \
                        and compression.looks_incompressible(p)
                    body = compression.deflate_piece(p, level, last=False, stored=stored)
                    pieces.append(sc.feed(p, body) + sc.finish())
                else:
                    pieces.append(sc.feed(p) + sc.finish())

            c[codec] = per_byte(compress, data)
            packed = list(pieces)
            start = cpu()
            for body in packed:
                compression.decompress(codec, body)
            c[codec + "-inflate"] = max(cpu() - start, 1e-9) / len(data)
        out[region] = c
    return out


def largest_object(c: dict, regions: dict, op: str, object_size: int) -> float:
    """CPU seconds of ``op`` over the costliest object of ``object_size`` bytes (the hole
    is left out: it is an object of its own that a restore does not read)."""
    size = sum(n for _, n in regions.values())
    worst = 0.0
    for start in range(0, size, object_size):
        end = min(size, start + object_size)
        worst = max(worst, sum(
            max(0, min(end, off + n) - max(start, off)) * c[region][op]
            for region, (off, n) in regions.items() if region != "hole"))
    return worst


def floors(c: dict, regions: dict, changed: int, cores: int,
           object_size: int | None = None) -> dict:
    def total(op, skip_hole=False):
        s = 0.0
        for region, (_, length) in regions.items():
            if region == "hole" and skip_hole:
                continue
            s += length * c["zeros" if region == "hole" else region][op]
        return s

    mix = {op: total(op) / sum(n for _, n in regions.values()) for op in c["text"]}
    read_all = total("read", skip_hole=True)  # holes are not read
    result = {}
    for codec in ("zlib", "zstd"):
        full = read_all + total("md5") + total("sha256") + total(codec)
        incremental = read_all + total("sha256") + changed * (
            mix["read"] + mix["md5"] + mix[codec])
        restore = total(codec + "-inflate") + total("sha256")
        result[codec] = {"full": full / cores, "incremental": incremental / cores,
                         "restore": restore / cores,
                         "full_cpu": full, "incremental_cpu": incremental,
                         "restore_cpu": restore}
        if object_size:
            inflate = total(codec + "-inflate")
            result[codec]["restore_serial"] = max(
                inflate / cores, largest_object(c, regions, codec + "-inflate",
                                                object_size)) + total("sha256") / cores
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("volume", help="the seeded benchmark volume (see volume.py)")
    p.add_argument("--changed", type=int, default=0,
                   help="bytes the incremental stores (changed blocks)")
    p.add_argument("--cores", type=int, default=os.cpu_count())
    p.add_argument("--object-size", type=int,
                   help="backup_file_size: also the restore's serial floor")
    args = p.parse_args(argv)
    size = os.path.getsize(args.volume)
    regions = vol.regions(size)
    fd = os.open(args.volume, os.O_RDONLY)
    try:
        samples, offsets = {}, {}
        for name in ("random", "text", "zeros"):
            off, length = regions[name]
            offsets[name] = off
            samples[name] = os.pread(fd, min(SAMPLE, length), off)
        c = costs(samples, fd, offsets)
    finally:
        os.close(fd)
    print(json.dumps({"per_byte": c, "cores": args.cores,
                      "floors": floors(c, regions, args.changed, args.cores,
                                                args.object_size)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
