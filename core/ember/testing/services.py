"""Tests that need a real server: skip with a reason on a machine without it,
fail under ``CI=true`` (where .ci/run starts every server, so nothing may be skipped)."""

import contextlib
import os
import socket
import uuid

import pytest


#: How long a test waits for a state it can observe (a row, a port, a log line) or for a
#: process it started, before it calls it a hang. Only a bound: a working test never
#: waits it out. Generous because two ``make test`` runs and more share two cores (load
#: 15-20 was seen), where a start-up taking 5 s idle takes a minute; EMBER_TEST_PATIENCE
#: (seconds) changes it.
PATIENCE = float(os.environ.get("EMBER_TEST_PATIENCE") or 300)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released): an endpoint or
    proxy that refuses connections, for real."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_unreachable_is_retried(driver, container: str) -> None:
    """``driver`` points at a ``closed_port()``: wrapped in a RetryingDriver, a put is
    tried three times with doubling back-off, then refused as transient, saying so."""
    from ember import errors
    from ember.wrappers import RetryingDriver

    delays = []
    retrying = RetryingDriver(driver, attempts=3, backoff=0.5, sleep=delays.append)
    with pytest.raises(errors.TransientDriverError, match=r"\(gave up after 3 attempts\)$"):
        retrying.put_object(container, "x", b"1")
    assert delays == [0.5, 1.0]


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


@contextlib.contextmanager
def scratch_database(server_url: str, how: str):
    """A new, empty database ``ember_test_<random>`` on the server of the SQLAlchemy URL
    ``server_url`` (whose user may create databases), dropped afterwards; yields its URL.
    Skips (fails in CI) when the server is not listening; ``how`` says how to start it."""
    import sqlalchemy as sa

    base = sa.engine.make_url(server_url)
    backend = base.get_backend_name()
    require(tcp_open(base.host or "127.0.0.1", base.port), "%s at %s:%s"
            % (backend, base.host, base.port), how)
    name = "ember_test_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE DATABASE " + name)
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        force = " WITH (FORCE)" if backend == "postgresql" else ""
        with admin.connect() as conn:
            conn.exec_driver_sql("DROP DATABASE IF EXISTS " + name + force)
        admin.dispose()
