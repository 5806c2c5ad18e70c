"""Kernel mounts of remote shares for the shared-filesystem drivers (nfs, glusterfs).

What os-brick's ``RemoteFsClient`` does for Cinder, reduced to what Ember needs: a share
is mounted at ``<base>/<md5 hex of the share string>`` with
``mount -t <fstype> [-o <options>] <share> <mount point>``, an existing mount there is
reused, and a failing mount is retried. Cinder and Ember therefore agree on the mount
point of a share, so either one finds the other's backups under it.

:class:`MountedShare` is the driver side shared by the family: a posix driver whose base
directory is such a mount, made on first use.
"""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import time
from dataclasses import dataclass
from typing import Callable, ClassVar, Sequence

from ember import errors
from ember.driver import DriverCapabilities

PROC_MOUNTS = "/proc/mounts"

#: runs a command and returns the finished process (tests may substitute a recorder)
Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def share_hash(share: str) -> str:
    """The directory name of a share's mount point: md5 hex of the share string, as
    os-brick computes it (the string exactly as configured, no normalisation)."""
    return hashlib.md5(share.encode("utf-8")).hexdigest()


def mount_point_for(base: str, share: str) -> str:
    """``<base>/<md5hex(share)>``."""
    return os.path.join(base, share_hash(share))


def _unescape(field: str) -> str:
    # /proc/mounts writes space, tab, newline and backslash as octal escapes (\040 ...)
    return field.encode("latin-1").decode("unicode_escape")


def _mounts(mounts_file: str):
    """``(source, mount point, fstype)`` of each line of ``mounts_file``, in order."""
    try:
        with open(mounts_file, encoding="utf-8", errors="replace") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) >= 3:
                    yield _unescape(fields[0]), _unescape(fields[1]), fields[2]
    except FileNotFoundError:
        return


def mounted_source(mount_point: str, mounts_file: str = PROC_MOUNTS) -> str | None:
    """The source mounted at ``mount_point`` (the last mount wins), or None."""
    target = os.path.realpath(mount_point)
    source = None
    for src, point, _ in _mounts(mounts_file):
        if point == target:
            source = src
    return source


#: ``/proc/mounts`` types whose every call crosses a network
NETWORK_FSTYPES = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "fuse.glusterfs",
    "lustre", "gpfs", "afs", "9p", "fuse.sshfs", "fuse.s3fs", "fuse.rclone", "fuse.cephfs"})


def filesystem_type(path: str, mounts_file: str = PROC_MOUNTS) -> str | None:
    """The type of the file system ``path`` is on (it need not exist yet): that of the
    deepest mount point above it, the last mount there winning; None if none is known."""
    target = os.path.realpath(path)
    depth, fstype = -1, None
    for _, point, kind in _mounts(mounts_file):
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= depth:
            depth, fstype = len(point), kind
    return fstype


@dataclass(frozen=True)
class MountSpec:
    """One share to mount: ``mount -t fstype [-o options] share mount_point``."""

    fstype: str
    share: str
    mount_point: str
    options: str | None = None

    def command(self) -> list[str]:
        """The exact command line that mounts the share (as os-brick builds it)."""
        cmd = ["mount", "-t", self.fstype]
        if self.options:
            cmd += ["-o", self.options]
        return cmd + [self.share, self.mount_point]


def _run(cmd: Sequence[str]) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(list(cmd), capture_output=True, text=True, check=False)


#: lines mount(8) adds to every failure that say nothing about this one
_BOILERPLATE = ("dmesg(1) may have more information",)


def what_went_wrong(text: str) -> str:
    """Every line of mount's output that says what went wrong, joined with "; ".

    util-linux writes the cause first and a generic dmesg hint after it (``unknown
    filesystem type 'nfs'.`` then ``dmesg(1) may have more information ...``), so
    keeping only one line would lose the cause on a machine without the client package.
    """
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "; ".join(line for line in lines
                     if line and not any(noise in line for noise in _BOILERPLATE))


def is_dead_mount(mount_point: str) -> bool:
    """True if a mount at ``mount_point`` lost its server side: a FUSE mount whose client
    process died (killed, or a failed glusterfs attempt that daemonized before failing)
    stays in the mount table and fails every access with ENOTCONN."""
    try:
        os.stat(mount_point)
    except OSError as exc:
        return exc.errno == errno.ENOTCONN
    return False


def clear_dead_mount(spec: MountSpec, runner: Runner = _run) -> None:
    """Unmount (lazily) a dead mount at the mount point, so that it is neither reused as
    if it worked nor blocks the next mount (mount.glusterfs says "Mount point does not
    exist" of it)."""
    if not is_dead_mount(spec.mount_point):
        return
    done = runner(["umount", "-l", spec.mount_point])
    if is_dead_mount(spec.mount_point):
        raise errors.PermanentDriverError(
            "share %s: the mount at %s is dead (Transport endpoint is not connected) and "
            "could not be unmounted: %s; unmount it by hand (umount -l %s)"
            % (spec.share, spec.mount_point,
               what_went_wrong(done.stderr) or "exit status %d" % done.returncode,
               spec.mount_point))


#: how long a failed attempt's mount may linger before the next step goes on regardless
SETTLE_TIMEOUT = 15.0


def settle_failed_mount(spec: MountSpec, runner: Runner = _run,
                        mounts_file: str = PROC_MOUNTS, timeout: float = SETTLE_TIMEOUT) -> None:
    """After a failed mount: wait until what the attempt left at the mount point is gone
    or dead, then clear a dead one. mount.glusterfs can fail while the client it started
    is still mounted there, and that client unmounts only as it exits: taken for a
    mount, it would answer the next try "already mounted", and the repository would be
    written into the bare directory under it once it went. Kernel mounts leave nothing,
    so this returns at once for them."""
    deadline = time.monotonic() + timeout
    while (mounted_source(spec.mount_point, mounts_file) is not None
           and not is_dead_mount(spec.mount_point) and time.monotonic() < deadline):
        time.sleep(0.05)
    clear_dead_mount(spec, runner)


def ensure_mounted(spec: MountSpec, attempts: int = 3, *, delay: float = 1.0,
                   runner: Runner = _run, mounts_file: str = PROC_MOUNTS) -> bool:
    """Mount ``spec`` unless something is already mounted at its mount point.

    Returns True if this call mounted it, False if a mount was already there. Tries
    ``attempts`` times, ``delay`` seconds apart (doubling); when every try failed,
    raises ``PermanentDriverError`` with every line of the mount command's own message
    that says what went wrong (:func:`what_went_wrong`), on one line. A dead mount is
    cleared first; what a failed try left is waited out and cleared before the next try
    and before the error (:func:`settle_failed_mount`).
    """
    clear_dead_mount(spec, runner)
    if mounted_source(spec.mount_point, mounts_file) is not None:
        return False
    try:
        os.makedirs(spec.mount_point, exist_ok=True)
    except OSError as exc:
        raise errors.PermanentDriverError(
            "cannot create mount point %s for share %s: %s"
            % (spec.mount_point, spec.share, exc.strerror)) from exc
    message = ""
    for attempt in range(1, max(1, attempts) + 1):
        try:
            done = runner(spec.command())
        except FileNotFoundError:
            raise errors.PermanentDriverError(
                "cannot mount share %s: the mount command is not installed" % spec.share) from None
        if done.returncode == 0:
            return True
        message = (what_went_wrong(done.stderr) or what_went_wrong(done.stdout)
                   or "exit status %d" % done.returncode)
        # another process mounted it first (as os-brick, trust the message only when the
        # mount is really there: a failing FUSE mount can show up in /proc/mounts briefly)
        if "already mounted" in done.stderr and mounted_source(spec.mount_point, mounts_file):
            return False
        settle_failed_mount(spec, runner, mounts_file)
        if attempt < attempts:
            time.sleep(delay * 2 ** (attempt - 1))
            clear_dead_mount(spec, runner)  # a client that mounted after it had failed
    raise errors.PermanentDriverError(
        "mounting share %s at %s failed after %d attempt(s): %s (command: %s)"
        % (spec.share, spec.mount_point, max(1, attempts), message, " ".join(spec.command())))


class MountedShare:
    """Mixin for a posix-family driver whose repository is a remote share mounted at
    ``<mount base>/<md5 hex of the share string>`` on first use, as Cinder's nfs and
    glusterfs drivers do: ``class D(mount.MountedShare, PosixBackupDriver)``.

    It provides ``base_path`` (mounts once, then returns the mount point),
    ``check_setup`` (mounting is the check) and ``describe``. The subclass sets
    ``fstype``, ``share_option`` and ``mount_base_option`` and implements
    ``parse_share`` (a one-line ``ConfigError`` for a missing or malformed share).
    """

    #: the ``mount -t`` file system type
    fstype: ClassVar[str]
    #: the option holding the share string (used exactly as configured)
    share_option: ClassVar[str]
    #: the option holding the directory the mount point is made in
    mount_base_option: ClassVar[str]
    #: how many times a failing mount is tried (a subclass may read it from its options)
    mount_attempts: int = 3
    #: a share's every call crosses the network (said here: asking the mount would mount)
    capabilities: ClassVar[DriverCapabilities] = DriverCapabilities(max_concurrency=8,
                                                                    round_trips=True)

    def __init__(self, conf):
        super().__init__(conf)
        self._mounted_at: str | None = None

    def parse_share(self, text: str | None):
        """The parsed share (an object whose ``text`` is ``text`` unchanged)."""
        raise NotImplementedError

    def mount_options(self) -> str | None:
        """What ``mount -o`` gets (None: no ``-o``)."""
        return None

    def before_mount(self, spec: MountSpec) -> None:
        """Called when nothing is mounted at the mount point yet, before mounting: a
        place to raise a clearer error than the mount command would give."""

    def mount_spec(self) -> MountSpec:
        """What this driver mounts: the exact command is ``mount_spec().command()``."""
        share = self.parse_share(getattr(self.conf, self.share_option))
        return MountSpec(fstype=self.fstype, share=share.text,
                         mount_point=mount_point_for(getattr(self.conf, self.mount_base_option),
                                                     share.text),
                         options=self.mount_options())

    @property
    def base_path(self) -> str:
        """The posix base directory: the share's mount point, mounted on first use."""
        if self._mounted_at is None:
            spec = self.mount_spec()
            clear_dead_mount(spec)
            if mounted_source(spec.mount_point) is None:
                self.before_mount(spec)
            ensure_mounted(spec, self.mount_attempts)
            self._mounted_at = spec.mount_point
        return self._mounted_at

    def check_setup(self) -> None:
        self.base_path  # noqa: B018 -- mounting is the check
        super().check_setup()

    def describe(self) -> str:
        """``<fstype> share <share> mounted at <mount point>`` (mounts nothing, and does
        not fail on a share that is not set)."""
        share = getattr(self.conf, self.share_option) or ""
        return "%s share %s mounted at %s" % (
            self.fstype, share, mount_point_for(getattr(self.conf, self.mount_base_option),
                                                share))
