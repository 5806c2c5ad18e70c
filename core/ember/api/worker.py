"""``ember-api``'s gunicorn worker: gthread's, except that a connection is given a thread
only once its request headers have all arrived.

gthread hands a new (or kept-alive) connection to a thread as soon as a byte arrives,
and the thread then blocks reading the rest of the headers: a handful of clients sending
their headers a byte a second held every thread, and the API answered nobody. Here the
worker's event loop reads the headers without blocking, as eventlet's server does for
Cinder, and a thread parses them once they are complete (or too long, or the client
closed): slow clients cost a socket each, not a thread. Headers not complete within
``HEADER_DEADLINE`` seconds close the connection.

This leans on gthread's internals (``TConn``, the poller, ``murder_pending``), so the
gunicorn it runs on is pinned in ``pyproject.toml``.
"""

from __future__ import annotations

import collections
import errno
import selectors
import time
from functools import partial

from gunicorn.workers import gthread

#: seconds a client has to send its request headers
HEADER_DEADLINE = 60.0
#: bytes of headers read before a thread takes over (its parser enforces the limits)
HEADER_BUFFER = 1 << 20


class HeaderFirstWorker(gthread.ThreadWorker):
    """gthread, with request headers read by the event loop."""

    def init_process(self):
        self._reading: collections.deque = collections.deque()
        super().init_process()

    def accept(self, listener):
        try:
            sock, client = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        self._read_headers(gthread.TConn(self.cfg, sock, client, listener.getsockname()))

    def on_client_socket_readable(self, conn, client):
        """A kept-alive connection's next request: its headers are read here too."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._read_headers(conn)

    def _read_headers(self, conn) -> None:
        conn.sock.setblocking(False)
        conn.head = bytearray()
        conn.head_deadline = time.monotonic() + HEADER_DEADLINE
        self._reading.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ,
                             partial(self._on_header_bytes, conn))

    def _on_header_bytes(self, conn, sock) -> None:
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        conn.head += data
        if data and len(conn.head) < HEADER_BUFFER and not _headers_end(conn.head):
            return
        self.poller.unregister(sock)
        self._reading.remove(conn)
        if not conn.head:  # closed before sending anything
            self.nr_conns -= 1
            conn.close()
            return
        conn.data_ready = True
        self.enqueue_req(conn)

    def handle(self, conn):
        head = getattr(conn, "head", None)
        if head:
            conn.head = None
            conn.init()  # makes the socket blocking and the parser (once per connection)
            conn.sock.setblocking(True)
            conn.parser.unreader.unread(bytes(head))
        return super().handle(conn)

    def murder_pending(self):
        super().murder_pending()
        now = time.monotonic()
        while self._reading and self._reading[0].head_deadline <= now:
            conn = self._reading.popleft()
            try:
                self.poller.unregister(conn.sock)
            except (OSError, KeyError, ValueError):
                pass
            self.nr_conns -= 1
            conn.close()


def _headers_end(head: bytearray) -> bool:
    return b"\r\n\r\n" in head or b"\n\n" in head
