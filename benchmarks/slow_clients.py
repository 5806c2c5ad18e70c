#!/usr/bin/env python3
"""How many slow clients one API process survives: connections that send their request
headers a byte a second are opened in growing numbers (1, 2, 4, ... up to ``--max``),
and after each step ``GET /v3/`` must answer within ``--answer`` seconds. The figure is
the most slow connections held while it still answered.

Two servers in the same run, one gunicorn process of 4 threads each, serving
``ember.api.wsgi:application``: the baseline is gunicorn's stock ``gthread`` worker
(what ember-api ran before issue 24), then ember-api's ``HeaderFirstWorker``.

    .venv/bin/python benchmarks/slow_clients.py [--max 1024] [--answer 5]
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

REQUEST = b"GET /v3/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"x" * 4096


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(worker_class: str, state: str, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(OS_DEFAULT__STATE_PATH=state, OS_DEFAULT__AUTH_STRATEGY="noauth")
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    proc = subprocess.Popen(
        [gunicorn, "-k", worker_class, "--threads", "4", "-w", "1",
         "--worker-connections", "4096", "-b", "127.0.0.1:%d" % port,
         "ember.api.wsgi:application"], env=env, stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(state, "gunicorn.log"), "ab"), start_new_session=True)
    deadline = time.monotonic() + 60
    while answers(port, 2) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("gunicorn -k %s did not start" % worker_class)
        time.sleep(0.2)
    return proc


def answers(port: int, timeout: float) -> float | None:
    """Seconds ``GET /v3/`` took, or None when it did not answer in ``timeout``."""
    started = time.monotonic()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("GET", "/v3/")
        ok = conn.getresponse().status == 200
        conn.close()
    except OSError:
        return None
    return time.monotonic() - started if ok else None


class Trickle:
    """Slow clients: each sends one more byte of its headers every second."""

    def __init__(self, port: int):
        self.port, self.socks, self.sent = port, [], []
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def open(self, count: int) -> None:
        while len(self.socks) < count:
            sock = socket.create_connection(("127.0.0.1", self.port))
            sock.setblocking(False)
            sock.send(REQUEST[:1])
            self.socks.append(sock)
            self.sent.append(1)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            for i, sock in enumerate(list(self.socks)):
                try:
                    sock.send(REQUEST[self.sent[i]:self.sent[i] + 1])
                    self.sent[i] += 1
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        for sock in self.socks:
            sock.close()


def survived(worker_class: str, most: int, timeout: float) -> tuple[int, list]:
    state = tempfile.mkdtemp(prefix="ember-slow-")
    port = free_port()
    proc = start(worker_class, state, port)
    trickle, held, steps = Trickle(port), 0, []
    try:
        count = 1
        while count <= most:
            trickle.open(count)
            took = answers(port, timeout)
            steps.append((count, took))
            if took is None:
                break
            held, count = count, count * 2
    finally:
        trickle.close()
        os.killpg(proc.pid, 15)
        proc.wait()
    return held, steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, default=1024)
    parser.add_argument("--answer", type=float, default=5.0,
                        help="seconds GET /v3/ has to answer")
    args = parser.parse_args()
    results = {}
    for name, worker in (("gthread (baseline)", "gthread"),
                         ("HeaderFirstWorker", "ember.api.worker.HeaderFirstWorker")):
        held, steps = survived(worker, args.max, args.answer)
        results[name] = held
        print("%-20s %5d slow connections held while GET /v3/ answered; steps: %s" % (
            name, held, ", ".join("%d:%s" % (n, "%.2fs" % t if t is not None else "no answer")
                                  for n, t in steps)))
    base = results["gthread (baseline)"] or 1
    print("ratio: %.0fx the baseline's slow connections" % (results["HeaderFirstWorker"] / base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
