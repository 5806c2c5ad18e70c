"""Waiting for a server a test started on a port it chose (``free_port``: bound, then
released). Another test run on the same machine may take that port in between, or even
start its own server on it, so "something answers on the port" is not proof: a server is
up once its own log says it listens there, and a taken port means "choose another"."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time

from ember.testing.services import PATIENCE

#: what gunicorn (under ``ember-api``) logs when its binds worked: one address, or several
#: separated by commas ("Listening at: http://H:P,http://H:M (pid)")
LISTENING = r"Listening at: (\S*,)?http://%s:%d[ ,]"
#: ... or failed for good
TAKEN = ("Connection in use", "Address already in use", "Can't connect to")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_size(path) -> int:
    """Where the next start's lines begin in a log that is appended to."""
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def _read(path, since: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(since)
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def gunicorn_listening(proc: subprocess.Popen, log_path, port: int, since: int = 0,
                       host: str = "127.0.0.1", timeout: float = PATIENCE) -> bool:
    """Until ``proc`` (gunicorn, logging to ``log_path`` from byte ``since`` on) listens
    on ``host``:``port``: True; False if it exited because the port was taken; fails the
    test otherwise."""
    deadline = time.monotonic() + timeout
    wanted = re.compile(LISTENING % (re.escape(host), port))
    while True:
        log = _read(log_path, since)
        if wanted.search(log) and proc.poll() is None:
            return True
        if proc.poll() is not None:
            if any(sign in log for sign in TAKEN):
                return False
            raise AssertionError("%s exited %s before it listened on %d:\n%s" % (
                os.path.basename(str(proc.args[0])), proc.returncode, port, log[-3000:]))
        assert time.monotonic() < deadline, "never listened on %d:\n%s" % (port, log[-3000:])
        time.sleep(0.1)
