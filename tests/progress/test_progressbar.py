"""The terminal progress bar: drawn on stderr when it is a terminal (a real
pseudo-terminal here), absent when stderr is a pipe or with ``-q``."""

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios

import pytest
from ember.testing.services import PATIENCE


def _on_terminal(ember, args, columns):
    """Run ``ember ARGS`` with stderr on a pseudo-terminal of ``columns`` columns (0: a
    terminal that reports no size); returns (returncode, stdout, terminal output)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24 if columns else 0,
                                                       columns, 0, 0))
    proc = subprocess.Popen(ember.argv(*args), env=ember.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    screen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=PATIENCE), proc.stdout.read().decode(), screen.decode()


@pytest.mark.parametrize("columns", [100, 0])
def test_bar_on_a_terminal_for_create_and_restore(ember, columns):
    ember.volume("v", 8)
    code, out, screen = _on_terminal(
        ember, ("volume", "backup", "create", "v", "--name", "b", "-f", "value", "-c",
                "status"), columns)
    assert (code, out) == (0, "available\n"), screen
    final = screen.replace("\r\n", "\n").split("\r")[-1]
    assert final.startswith("Backing up: 100%|") and "8.00M/8.00M" in final, screen
    assert final.endswith("\n") and final.count("\n") == 1
    assert all(len(line) <= (columns or 80) for line in screen.replace("\n", "\r")
               .split("\r")), screen

    code, out, screen = _on_terminal(
        ember, ("volume", "backup", "restore", "b", "r", "-f", "value", "-c", "volume_name"),
        columns)
    assert (code, out) == (0, "r\n"), screen
    assert screen.replace("\r\n", "\n").split("\r")[-1].startswith("Restoring: 100%|")


def test_no_bar_when_stderr_is_not_a_terminal_or_with_quiet(ember):
    ember.volume("v", 4)
    piped = ember.run("volume", "backup", "create", "v", "--name", "b", "-f", "value",
                      "-c", "status")
    assert (piped.returncode, piped.stdout, piped.stderr) == (0, "available\n", "")
    code, out, screen = _on_terminal(ember, ("-q", "volume", "backup", "restore", "b", "r",
                                             "-f", "value", "-c", "volume_name"), 100)
    assert (code, out, screen) == (0, "r\n", "")


def test_verify_draws_a_bar_and_says_intact_in_words(ember):
    ember.volume("v", 8)
    ember.ok("volume", "backup", "create", "v", "--name", "b")
    backup_id = ember.json("volume", "backup", "show", "b")["id"]
    code, out, screen = _on_terminal(ember, ("volume", "backup", "verify", "b"), 100)
    assert code == 0, screen
    assert screen.replace("\r\n", "\n").split("\r")[-1].startswith("Verifying: 100%|"), screen
    # no empty table (a blank line): the verdict itself, on stdout
    assert out == ("Backup %s is intact: 8 objects of 1 backup read, 8388608 bytes "
                   "checked.\n" % backup_id)
    piped = ember.run("volume", "backup", "verify", "b")
    assert (piped.returncode, piped.stdout, piped.stderr) == (0, out, "")
