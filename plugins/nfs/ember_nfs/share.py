"""The ``backup_share`` string: ``host:/path``, ``ipv4:/path`` or ``[ipv6]:/path``."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from ember import errors

_SHARE = re.compile(r"^(?:\[(?P<ipv6>[^\]]+)\]|(?P<host>[^:\[\]/\s]+)):(?P<path>/(?!/)\S*)$")


@dataclass(frozen=True)
class NFSShare:
    """A parsed share. ``text`` is the string exactly as configured: its md5 names the
    mount point, so it is never normalised."""

    text: str
    host: str   #: hostname or address, IPv6 without brackets
    path: str   #: the exported path, absolute

    def __str__(self) -> str:
        return self.text


def parse_share(text: str | None) -> NFSShare:
    """Parse ``backup_share``; a missing or malformed value is a one-line ``ConfigError``."""
    if not text:
        raise errors.ConfigError(
            "backup_share is not set: set it to the NFS share holding the repository "
            "(host:/path, ipv4:/path or [ipv6]:/path)")
    match = _SHARE.match(text)
    if match and match["ipv6"]:
        try:
            ipaddress.IPv6Address(match["ipv6"])
        except ValueError:
            match = None
    if not match:
        raise errors.ConfigError(
            "backup_share %r is not a valid NFS share: expected host:/path, ipv4:/path "
            "or [ipv6]:/path" % text)
    return NFSShare(text=text, host=match["ipv6"] or match["host"], path=match["path"])
