"""The fault proxy itself (``tests/harness/faultproxy.py``): a peer that resets its
connection while the proxy holds bytes for it ends that pair quietly, with no exception
left in the proxy's thread (CI once saw ``ConnectionResetError`` from
``pair.server.sendall(pair.held)`` as a PytestUnhandledThreadExceptionWarning); a ``cut`` a trigger makes has closed every
connection by the time its event is set."""

import socket
import struct
import threading

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
    proxy = FaultProxy(server.getsockname()[1])
    try:
        clients = [socket.create_connection(("127.0.0.1", proxy.port)) for _ in range(3)]
        upstreams = []
        for client in clients:  # each pair is up (in the proxy's set): a byte went through
            client.sendall(b"x")
            upstreams.append(server.accept()[0])
            assert upstreams[-1].recv(1) == b"x"
        cut = proxy.when(b"LAST WRITE", "cut")
        clients[0].sendall(b"LAST WRITE")
        assert cut.wait(10)
        # checked at once, without waiting: the cut has already happened in full
        assert proxy.closed_by_fault == 3
        assert not proxy._pairs or all(pair.closed for pair in list(proxy._pairs))
        for client in clients:
            client.settimeout(10)
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
