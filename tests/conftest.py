"""Fixtures shared by every core test directory: the real ``ember`` executable with a
private state (``ember.testing.cli.EmberCLI``). A directory needing a different ``ember``
(``tests/cancel``, ``tests/progress``) overrides the fixture in its own conftest."""

import pytest
from ember.testing.cli import EmberCLI, require_posix_plugin


@pytest.fixture
def ember(tmp_path) -> EmberCLI:
    require_posix_plugin()
    return EmberCLI(tmp_path)


@pytest.fixture(scope="module")
def shared_ember(tmp_path_factory) -> EmberCLI:
    """One state for a module whose tests each leave it unchanged (and assert so)."""
    require_posix_plugin()
    return EmberCLI(tmp_path_factory.mktemp("ember"))


@pytest.fixture(scope="module")
def cli_class():
    """``EmberCLI`` itself, for module-scoped set-ups (``tests/crash``)."""
    return EmberCLI


@pytest.fixture
def fault_proxy():
    """``fault_proxy(port)``: a ``FaultProxy`` (``tests/harness/faultproxy.py``) in front
    of the real server on 127.0.0.1:``port``, closed after the test."""
    from harness.faultproxy import FaultProxy

    proxies = []

    def make(port: int):
        proxies.append(FaultProxy(port))
        return proxies[-1]

    yield make
    for proxy in proxies:
        proxy.close()
