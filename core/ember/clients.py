"""One client per thread, for drivers whose client library is not thread-safe
(swiftclient connections, google-cloud-storage's HTTP sessions, libnfs contexts)."""

from __future__ import annotations

import threading
from typing import Callable, Generic, TypeVar

C = TypeVar("C")


class PerThread(Generic[C]):
    """``get()`` returns the calling thread's client, made by ``build()`` on its first
    use; ``close()`` closes every client made so far (with ``close_client``) and
    forgets them, so threads that ask again get new ones. Thread-safe."""

    def __init__(self, build: Callable[[], C], close_client: Callable[[C], None]):
        self._build = build
        self._close_client = close_client
        self._local = threading.local()
        self._lock = threading.Lock()
        self._made: list[C] = []

    def get(self) -> C:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._build()  # may raise: nothing is remembered then
            self._local.client = client
            with self._lock:
                self._made.append(client)
        return client

    def current(self) -> C | None:
        """The calling thread's client if it has one (nothing is built)."""
        return getattr(self._local, "client", None)

    def close(self) -> None:
        with self._lock:
            made, self._made = self._made, []
            self._local = threading.local()
        for client in made:
            self._close_client(client)
