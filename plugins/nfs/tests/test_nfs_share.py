"""backup_share parsing: the three forms Cinder accepts, and one-line errors otherwise."""

import pytest

from ember import errors
from ember_nfs.share import parse_share


@pytest.mark.parametrize("text, host, path", [
    ("nfs.example.org:/srv/backups", "nfs.example.org", "/srv/backups"),
    ("192.0.2.10:/export", "192.0.2.10", "/export"),
    ("[2001:db8::10]:/export/backups", "2001:db8::10", "/export/backups"),
    ("127.0.0.1:/", "127.0.0.1", "/"),
])
def test_valid_shares(text, host, path):
    share = parse_share(text)
    assert (share.text, share.host, share.path) == (text, host, path)


@pytest.mark.parametrize("text", [
    "127.0.0.1", "127.0.0.1:export", ":/export", "[2001:db8::zz]:/export",
    "2001:db8::10:/export", "host:/with space", " 127.0.0.1:/export", "nfs://127.0.0.1/export",
])
def test_invalid_share_is_one_line_config_error(text):
    with pytest.raises(errors.ConfigError) as raised:
        parse_share(text)
    assert str(raised.value) == (
        "backup_share %r is not a valid NFS share: expected host:/path, ipv4:/path or "
        "[ipv6]:/path" % text)


def test_missing_share_says_what_to_set():
    with pytest.raises(errors.ConfigError) as raised:
        parse_share(None)
    assert str(raised.value) == (
        "backup_share is not set: set it to the NFS share holding the repository "
        "(host:/path, ipv4:/path or [ipv6]:/path)")
