"""The ``glusterfs_backup_share`` string: ``<host>:<volname>`` (``<host>:/<volname>``,
the form ``mount.glusterfs`` also takes, is accepted too)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ember import errors

# volume names: letters, digits, '-', '_' (gluster's own rule); hosts: a name, an IPv4
# address or a bracketed IPv6 address
_SHARE = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):/?(?P<volume>[A-Za-z0-9_-]+)$")


@dataclass(frozen=True)
class GlusterShare:
    """A parsed share; ``text`` is the string exactly as configured (its md5 names the
    mount point, so it is never normalised)."""

    text: str
    host: str
    volume: str

    def __str__(self) -> str:
        return self.text


def parse_share(text: str | None) -> GlusterShare:
    """Parse ``glusterfs_backup_share``; missing or malformed is a one-line ``ConfigError``."""
    if not text:
        raise errors.ConfigError(
            "glusterfs_backup_share is not set: set it to the GlusterFS volume holding the "
            "repository, as <host>:<volname>")
    match = _SHARE.match(text)
    if not match:
        raise errors.ConfigError(
            "glusterfs_backup_share %r is not a valid GlusterFS share: expected "
            "<host>:<volname>" % text)
    return GlusterShare(text=text, host=match["host"].strip("[]"), volume=match["volume"])
