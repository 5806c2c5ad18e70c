"""Tests that need a real server: skip with a reason on a machine without it,
fail under ``CI=true`` (where .ci/run starts every server, so nothing may be skipped)."""

import os
import socket

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def tcp_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require(available: bool, what: str, how: str) -> None:
    """Skip (or, in CI, fail) unless ``available``. ``what`` names the server,
    ``how`` says how to start it, e.g. ``bash scripts/servers/swift.sh start``."""
    if available:
        return
    message = "%s is not available (start it with: %s)" % (what, how)
    if in_ci():
        pytest.fail(message + " -- CI=true, so this is a failure, not a skip", pytrace=False)
    pytest.skip(message)
