"""Slow clients do not make ember-api unresponsive: with one process of 4 threads, 64
connections that send their headers a byte at a time (and one that stops half-way
through) are held open while ``GET /v3/`` and the stock ``openstack`` client are served,
and each slow client is answered once its headers are complete. (Before, 4 such
connections took every thread; ``benchmarks/slow_clients.py`` measures how many are
held.)
"""

import http.client
import json
import socket
import threading

from ember.testing.services import PATIENCE

SLOW = 64
REQUEST = (b"GET /v3/default/volumes HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           b"X-Auth-Token: admin:default\r\nConnection: close\r\n\r\n")


class SlowClients:
    """``count`` connections, each sending one more byte of ``REQUEST`` whenever
    ``step()`` is called, all in turn."""

    def __init__(self, port: int, count: int):
        self.socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
        self.sent = 0

    def step(self, upto: int) -> None:
        while self.sent < upto:
            for sock in self.socks:
                sock.sendall(REQUEST[self.sent:self.sent + 1])
            self.sent += 1

    def answers(self) -> list[int]:
        statuses = []
        for sock in self.socks:
            sock.settimeout(PATIENCE)
            resp = http.client.HTTPResponse(sock)
            resp.begin()
            statuses.append(resp.status)
            resp.read()
            sock.close()
        return statuses


def get_versions(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=PATIENCE)
    conn.request("GET", "/v3/")
    status = conn.getresponse().status
    conn.close()
    return status


def test_slow_clients_hold_no_thread(api_server, clients):
    slow = SlowClients(api_server.port, SLOW)
    stalled = socket.create_connection(("127.0.0.1", api_server.port))
    stalled.sendall(REQUEST[:20])  # and nothing more: it must not hold a thread either
    for upto in (1, 5, 17, len(REQUEST) // 2, len(REQUEST) - 2):
        slow.step(upto)
        assert get_versions(api_server.port) == 200
    listed = json.loads(clients.openstack("volume", "list", "-f", "json").stdout)
    assert listed == []
    slow.step(len(REQUEST))
    assert slow.answers() == [200] * SLOW
    stalled.close()
    assert get_versions(api_server.port) == 200


def test_pipelined_and_kept_alive_requests_are_served(api_server):
    """A kept-alive connection's next request, and two requests in one packet."""
    conn = http.client.HTTPConnection("127.0.0.1", api_server.port, timeout=PATIENCE)
    for _ in range(3):
        conn.request("GET", "/v3/")
        resp = conn.getresponse()
        assert resp.status == 200
        resp.read()
    conn.close()
    sock = socket.create_connection(("127.0.0.1", api_server.port), timeout=PATIENCE)
    one = b"GET /v3/ HTTP/1.1\r\nHost: x\r\n\r\n"
    sock.sendall(one + one.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    answers = sock.makefile("rb").read()
    sock.close()
    assert answers.count(b"HTTP/1.1 200 OK") == 2, answers[:500]


def test_many_answers_at_once(api_server):
    """Concurrent ordinary clients are all answered (threads are free for them)."""
    statuses = []
    threads = [threading.Thread(target=lambda: statuses.append(
        get_versions(api_server.port))) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 32
