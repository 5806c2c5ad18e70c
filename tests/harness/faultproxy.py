"""A TCP proxy between Ember and one real server on 127.0.0.1, for making network faults
for real inside a test (the ``fault_proxy`` fixture of ``tests/conftest.py``).

Modes, switched at any time with ``set`` (or by ``when``, the moment a client sends a
given byte string, before it is forwarded):

* ``pass`` — bytes flow both ways;
* ``hang`` — connections are accepted and kept open but nothing is forwarded (a stalled
  server: RabbitMQ under a memory alarm, a frozen network); what was held flows once the
  proxy passes again;
* ``cut`` — every open connection is closed on both sides, and new ones are closed as
  soon as they are accepted (a database restart, a dropped route);
* ``503`` — an HTTP front end that answers every request ``503 Service Unavailable``.

Counters (``accepted``, ``refused``: connections closed at once while cut,
``closed_by_fault``: every connection the fault closed) let a test wait for an observed
state (say, a client trying again: ``wait(lambda p: p.refused >= 2)``) instead of
sleeping.
"""

from __future__ import annotations

import select
import socket
import threading
import time

from ember.testing.services import PATIENCE

MODES = ("pass", "hang", "cut", "503")
_HTTP_503 = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
             b"Content-Length: 20\r\nConnection: close\r\n\r\nService Unavailable\n")


class FaultProxy:
    """Listens on 127.0.0.1:``port`` (a free one) and forwards to ``upstream``."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.mode = "pass"
        self.accepted = 0
        self.refused = 0
        self.closed_by_fault = 0
        self._triggers: list[tuple[bytes, str, threading.Event]] = []
        self._changed = threading.Condition()
        self._pairs: set[_Pair] = set()
        self._closing = False
        threading.Thread(target=self._accept, name="fault-proxy-%d" % self.port,
                         daemon=True).start()

    # --- what a test calls ------------------------------------------------------------
    def set(self, mode: str) -> None:
        assert mode in MODES, mode
        with self._changed:
            self.mode = mode
            pairs = list(self._pairs) if mode == "cut" else []
            self._changed.notify_all()
        for pair in pairs:
            self._drop(pair)

    def when(self, pattern: bytes, mode: str) -> threading.Event:
        """Switch to ``mode`` as soon as a client sends ``pattern`` (that chunk is then
        held, cut or answered as ``mode`` says, never forwarded first); the event is set
        once the switch has taken effect: for ``cut``, after every open connection was
        closed, so a test that lets the proxy pass again on seeing it has no connection
        of before the cut left to lose mid-transaction."""
        fired = threading.Event()
        with self._changed:
            self._triggers.append((pattern, mode, fired))
        return fired

    def wait(self, predicate, timeout: float | None = None) -> None:
        """Until ``predicate(self)`` holds (counters change under the proxy's lock)."""
        deadline = time.monotonic() + (PATIENCE if timeout is None else timeout)
        with self._changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                assert left > 0, "fault proxy: %r never held (mode %s, %d accepted, %d " \
                    "refused, %d closed by fault)" % (predicate, self.mode, self.accepted,
                                                      self.refused, self.closed_by_fault)
                self._changed.wait(min(left, 0.5))

    def close(self) -> None:
        with self._changed:
            self._closing = True
            pairs = list(self._pairs)
            self._changed.notify_all()
        self._listener.close()
        for pair in pairs:
            pair.close()

    # --- inside ------------------------------------------------------------------------
    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._changed:
                self.accepted += 1
                mode = self.mode
                self.refused += mode == "cut"
                self._changed.notify_all()
            if mode == "cut":
                self._count_fault()
                _close(client)
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            _close(client)
            return
        pair = _Pair(client, server)
        with self._changed:
            if self._closing:
                pair.close()
                return
            self._pairs.add(pair)
        try:
            self._pump(pair)
        finally:
            with self._changed:
                self._pairs.discard(pair)
            pair.close()

    def _pump(self, pair: _Pair) -> None:
        while not pair.closed:
            with self._changed:
                while self.mode == "hang" and not pair.closed and not self._closing:
                    self._changed.wait(0.5)  # nothing read, so nothing forwarded
                mode = self.mode
            if mode == "cut":
                return self._drop(pair)  # the cut's, even if this thread saw it first
            if pair.closed or self._closing:
                return
            if pair.held and mode == "503":
                return self._answer_503(pair)
            try:
                if pair.held:  # what a trigger held back, now that the proxy passes again
                    pair.server.sendall(pair.held)
                    pair.held = b""
                readable, _, _ = select.select([pair.client, pair.server], [], [], 0.5)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is pair.client:
                        if self._triggered(data) or self.mode != "pass":
                            pair.held += data
                            break
                        pair.server.sendall(data)
                    else:
                        pair.client.sendall(data)
            except OSError:  # a peer reset or closed its end: the pair is done
                return

    def _triggered(self, data: bytes) -> bool:
        with self._changed:
            for trigger in list(self._triggers):
                pattern, mode, fired = trigger
                if pattern in data:
                    self._triggers.remove(trigger)
                    self.mode = mode
                    pairs = list(self._pairs) if mode == "cut" else []
                    self._changed.notify_all()
                    break
            else:
                return False
        for pair in pairs:
            self._drop(pair)
        fired.set()  # only now: see ``when``
        return True

    def _answer_503(self, pair: _Pair) -> None:
        try:
            pair.client.sendall(_HTTP_503)
        except OSError:
            pass
        self._count_fault()

    def _drop(self, pair: _Pair) -> None:
        if pair.close():
            self._count_fault()

    def _count_fault(self) -> None:
        with self._changed:
            self.closed_by_fault += 1
            self._changed.notify_all()


class _Pair:
    def __init__(self, client: socket.socket, server: socket.socket):
        self.client, self.server = client, server
        self.held = b""
        self.closed = False
        self._lock = threading.Lock()

    def close(self) -> bool:
        """Close both ends; True if this call closed them. Once any call returns, both
        are closed (a second caller waits for the first), so a trigger's event set after
        its drops never runs ahead of a socket still open."""
        with self._lock:
            if self.closed:
                return False
            _close(self.client)
            _close(self.server)
            self.closed = True
            return True


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
