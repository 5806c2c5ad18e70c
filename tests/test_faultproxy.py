"""The fault proxy itself (``tests/harness/faultproxy.py``): a peer that resets its
connection while the proxy holds bytes for it ends that pair quietly, with no exception
left in the proxy's thread (CI once saw ``ConnectionResetError`` from
``pair.server.sendall(pair.held)`` as a PytestUnhandledThreadExceptionWarning); a ``cut``
a trigger makes has closed every connection by the time its event is set."""

import socket
import struct
import threading

from ember.testing.services import PATIENCE
from harness.faultproxy import FaultProxy


def test_a_peer_reset_while_bytes_are_held_ends_the_pair_quietly(monkeypatch):
    errors = []
    monkeypatch.setattr(threading, "excepthook", errors.append)
    server = socket.create_server(("127.0.0.1", 0))
    proxy = FaultProxy(server.getsockname()[1])
    try:
        client = socket.create_connection(("127.0.0.1", proxy.port))
        upstream, _ = server.accept()
        held = proxy.when(b"HOLD", "hang")
        client.sendall(b"HOLD")
        assert held.wait(10)
        # the server end resets (RST, not FIN) while the proxy holds b"HOLD" for it
        upstream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        upstream.close()
        proxy.set("pass")
        # the proxy gave the pair up: the client sees its end closed
        client.settimeout(10)
        try:
            assert client.recv(1) == b""
        except ConnectionResetError:
            pass
        proxy.wait(lambda p: not p._pairs, timeout=10)
        client.close()
    finally:
        proxy.close()
        server.close()
    assert errors == []


def test_a_triggered_cut_has_closed_every_connection_when_its_event_is_set():
    """CI once saw a catalogue test lose its own connection at COMMIT after the proxy
    passed again: the trigger set its event before dropping the connections, the test let
    the proxy pass at once, and a connection of before the cut was still open to be used,
    then dropped mid-transaction."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(PATIENCE)  # a failure here is an error, never a hang
    proxy = FaultProxy(server.getsockname()[1])
    clients, upstreams = [], []
    try:
        # one client at a time, so the one connection the proxy opens upstream is this
        # client's (three at once, it opened them in any order: a run once waited
        # forever on another client's upstream for this client's byte)
        for _ in range(3):
            clients.append(socket.create_connection(("127.0.0.1", proxy.port),
                                                    timeout=PATIENCE))
            upstreams.append(server.accept()[0])
            upstreams[-1].settimeout(PATIENCE)
            clients[-1].sendall(b"x")  # through it: the pair is up, in the proxy's set
            assert upstreams[-1].recv(1) == b"x"
        pairs = list(proxy._pairs)
        assert len(pairs) == 3
        cut = proxy.when(b"LAST WRITE", "cut")
        clients[0].sendall(b"LAST WRITE")
        assert cut.wait(PATIENCE)
        # checked at once, without waiting: the cut has already happened in full, and
        # each pair counts once, whichever thread of the proxy closed it
        assert all(pair.closed for pair in pairs)
        assert proxy.closed_by_fault == 3
        for client in clients:
            try:
                assert client.recv(1) == b""
            except ConnectionResetError:
                pass
            client.close()
        for upstream in upstreams:
            upstream.close()
    finally:
        proxy.close()
        server.close()
