"""A TCP proxy in front of a real server that cuts every connection once the server has
sent ``cut_after`` bytes on it: a download whose connection breaks mid-body, after the
server declared the whole length (Content-Length). A fault in the middle, on purpose: a
healthy local server never drops a connection by itself; everything else (the stored
object, the answers) is the real server's."""

from __future__ import annotations

import socket
import threading


class CuttingProxy:
    """``with CuttingProxy(port, cut_after) as proxy``: listens on
    ``127.0.0.1:proxy.port`` and forwards to ``127.0.0.1:<port>``."""

    def __init__(self, upstream_port: int, cut_after: int):
        self.upstream_port, self.cut_after = upstream_port, cut_after
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stopped = threading.Event()

    def __enter__(self) -> "CuttingProxy":
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopped.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed by __exit__
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(client, upstream, None),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, self.cut_after),
                             daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while limit is None or sent < limit:
                data = source.recv(65536 if limit is None else min(65536, limit - sent))
                if not data:
                    break
                sink.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def cut_read_errors(driver, container: str, name: str) -> tuple[str, str]:
    """Read ``name`` through ``driver`` (set up to reach its server through a
    ``CuttingProxy``) both ways, streamed and whole; each must fail with
    ``TransientDriverError``, never return a short object. Returns the two messages and
    closes ``driver``."""
    import pytest

    from ember import errors

    try:
        with pytest.raises(errors.TransientDriverError) as streamed:
            with driver.open_reader(container, name) as reader:
                reader.read()
        with pytest.raises(errors.TransientDriverError) as whole:
            driver.get_object(container, name)
    finally:
        driver.close()
    return str(streamed.value), str(whole.value)
