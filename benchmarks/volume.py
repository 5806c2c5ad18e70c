"""The benchmark volume: seeded, reproducible, and shaped like a real disk image.

Layout of a volume of ``size`` bytes (region boundaries on 1 MiB):

    [ random (1/3) | compressible text (1/3) | written zeros (1/6) | hole (1/6) ]

* random: ``random.Random(seed).randbytes`` - incompressible, like media or encrypted data;
* text: words drawn from a fixed pseudo-vocabulary, so zlib reaches about 3:1 and no
  two megabytes repeat (content-defined deduplication gains nothing a disk would not give);
* written zeros: allocated blocks full of zeros (freshly formatted, never used);
* hole: never written, so ``SEEK_HOLE`` finds it (thin image file).

``mutate`` then applies 1 % of the volume as random 4 KiB writes at 4 KiB-aligned
offsets, also seeded: the "scattered 1 % change" the incremental backups measure.
Same seed, same bytes, on every machine.
"""

from __future__ import annotations

import hashlib
import os
import random

MiB = 1 << 20
WRITE = 4096


def _vocabulary(rng: random.Random, words: int = 4096) -> list[bytes]:
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    weights = [26 - i for i in range(26)]
    return ["".join(rng.choices(letters, weights, k=rng.randint(2, 10))).encode()
            for _ in range(words)]


def _text(rng: random.Random, vocab: list[bytes], n: int) -> bytes:
    """``n`` bytes of word soup with punctuation and line breaks."""
    out = bytearray()
    while len(out) < n:
        line = b" ".join(rng.choices(vocab, k=12))
        out += line + (b".\n" if rng.random() < 0.3 else b",\n")
    return bytes(out[:n])


def regions(size: int) -> dict[str, tuple[int, int]]:
    """``name -> (offset, length)`` of the four regions."""
    third = (size // 3) // MiB * MiB
    sixth = (size - 2 * third) // 2 // MiB * MiB
    return {
        "random": (0, third),
        "text": (third, third),
        "zeros": (2 * third, sixth),
        "hole": (2 * third + sixth, size - 2 * third - sixth),
    }


#: ``build(layout="mixed")``: the same kinds of data in the same proportions, but
#: interleaved in extents of 4 KiB to 1 MiB, as a file system places files: every object
#: and every engine piece holds several kinds, so a sample of one spot says little about
#: the rest (the "mixed volume" of issue 18 item 4)
LAYOUTS = ("regions", "mixed")
_MIX = (("random", 2), ("text", 2), ("zeros", 1), ("hole", 1))


def build(path: str, size: int, seed: int = 2024, layout: str = "regions") -> str:
    """Write the volume to ``path`` (replacing it) and return its sha256."""
    if layout == "mixed":
        return _build_mixed(path, size, seed)
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    r = regions(size)
    with open(path, "wb") as f:
        f.truncate(size)
        f.seek(r["random"][0])
        for off in range(0, r["random"][1], 8 * MiB):
            f.write(rng.randbytes(min(8 * MiB, r["random"][1] - off)))
        f.seek(r["text"][0])
        for off in range(0, r["text"][1], 8 * MiB):
            f.write(_text(rng, vocab, min(8 * MiB, r["text"][1] - off)))
        f.seek(r["zeros"][0])
        zeros = bytes(8 * MiB)
        for off in range(0, r["zeros"][1], 8 * MiB):
            f.write(zeros[: min(8 * MiB, r["zeros"][1] - off)])
        f.flush()
        os.fsync(f.fileno())
    return sha256_of(path)


def _build_mixed(path: str, size: int, seed: int) -> str:
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    kinds = [k for k, weight in _MIX for _ in range(weight)]
    with open(path, "wb") as f:
        f.truncate(size)
        pos = 0
        while pos < size:
            length = min(size - pos, WRITE * rng.randint(1, 256))
            kind = rng.choice(kinds)
            if kind != "hole":
                f.seek(pos)
                f.write(rng.randbytes(length) if kind == "random" else
                        _text(rng, vocab, length) if kind == "text" else bytes(length))
            pos += length
        f.flush()
        os.fsync(f.fileno())
    return sha256_of(path)


def mutate(path: str, seed: int = 2025, fraction: float = 0.01,
           span: int | None = None) -> list[int]:
    """Overwrite ``fraction`` of the volume (or of its first ``span`` bytes) with random
    4 KiB writes; returns offsets."""
    rng = random.Random(seed)
    size = span or os.path.getsize(path)
    slots = size // WRITE
    offsets = sorted(rng.sample(range(slots), max(1, int(slots * fraction))))
    with open(path, "r+b") as f:
        for slot in offsets:
            f.seek(slot * WRITE)
            f.write(rng.randbytes(WRITE))
    return [s * WRITE for s in offsets]


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 * MiB):
            h.update(chunk)
    return h.hexdigest()


def warm(path: str, length: int | None = None) -> None:
    """Read the file (or its first ``length`` bytes) once so every tool starts from the
    same warm page cache."""
    with open(path, "rb") as f:
        done = 0
        while (length is None or done < length) and f.read(8 * MiB):
            done += 8 * MiB
