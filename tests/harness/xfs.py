"""A real XFS file system with reflink for tests: a sparse image made by the test,
formatted with ``mkfs.xfs -m reflink=1`` and loop-mounted (needs root, a loop device
and xfsprogs: ``bash scripts/servers/xfs.sh install``). Skips with the reason when any
is missing, fails under ``CI=true``."""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import subprocess
import tempfile

from ember.testing.services import require

HOW = "run as root with loop devices, and bash scripts/servers/xfs.sh install"


def _run(*argv) -> tuple[bool, str]:
    proc = subprocess.run(argv, capture_output=True, text=True)
    return proc.returncode == 0, (proc.stderr or proc.stdout).strip()


@contextlib.contextmanager
def mounted_xfs(workdir: str, size: str = "1G"):
    """Yield the mount point of a fresh reflink XFS; unmounted and removed afterwards."""
    require(os.geteuid() == 0, "root (to loop-mount a test XFS)", HOW)
    require(shutil.which("mkfs.xfs") is not None, "mkfs.xfs (xfsprogs)", HOW)
    image = os.path.join(workdir, "xfs.img")
    mountpoint = tempfile.mkdtemp(prefix="xfs-", dir=workdir)
    with open(image, "wb") as f:
        f.truncate(_bytes(size))
    ok, why = _run("mkfs.xfs", "-q", "-f", "-m", "reflink=1", image)
    require(ok, "mkfs.xfs -m reflink=1 (%s)" % why, HOW)
    ok, why = _run("mount", "-o", "loop", image, mountpoint)
    require(ok, "a loop mount of an XFS image (%s)" % why, HOW)
    try:
        yield mountpoint
    finally:
        gc.collect()  # catalogue connections of finished tests still hold files open
        if not _run("umount", mountpoint)[0]:
            _run("umount", "-l", mountpoint)  # detached now, freed when the last file closes
        os.unlink(image)


def _bytes(size: str) -> int:
    units = {"M": 1 << 20, "G": 1 << 30}
    return int(size[:-1]) * units[size[-1]]
