"""The fault proxy itself (``tests/harness/faultproxy.py``): a peer that resets its
connection while the proxy holds bytes for it ends that pair quietly, with no exception
left in the proxy's thread (CI once saw ``ConnectionResetError`` from
``pair.server.sendall(pair.held)`` as a PytestUnhandledThreadExceptionWarning)."""

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
