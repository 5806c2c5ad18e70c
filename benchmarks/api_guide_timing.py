#!/usr/bin/env python3
"""The seed guide's commands (full backup, incremental, list, show, restore to a new
volume, delete both) timed through ``openstack`` against ``ember-api`` and through
``ember``, on one volume and one installation. A command that answers 202 is timed until
its work is done (polled in the catalogue, read-only), so both columns measure the same
work; the ratio ``openstack / ember`` is the cost of the client and the API.

    .venv/bin/python benchmarks/api_guide_timing.py [--size-mib 64]
        [--osclients /tmp/ember-osclients]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

MiB = 1 << 20
BIN = os.path.dirname(sys.executable)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Setup:
    def __init__(self, root: str):
        self.root = root
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        self.env.update(HOME=root, OS_DEFAULT__STATE_PATH=os.path.join(root, "state"),
                        OS_DEFAULT__AUTH_STRATEGY="noauth")

    def ember(self, *args) -> str:
        proc = subprocess.run([os.path.join(BIN, "ember"), *args], env=self.env,
                              capture_output=True, text=True)
        assert proc.returncode == 0, (args, proc.stderr)
        return proc.stdout

    def query(self, sql: str, *params):
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.root, "state",
                                                               "ember.sqlite"), uri=True)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    def wait(self, sql: str, *params) -> None:
        while not self.query(sql, *params):
            time.sleep(0.02)


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--osclients", default=os.environ.get("EMBER_OSCLIENTS_BASE",
                                                              "/tmp/ember-osclients"))
    args = parser.parse_args()
    data = random.Random(7).randbytes(args.size_mib * MiB // 2) + bytes(args.size_mib * MiB
                                                                        // 2)
    with tempfile.TemporaryDirectory(prefix="ember-guide-") as root:
        s = Setup(root)
        port = free_port()
        env = dict(s.env, OS_DEFAULT__OSAPI_VOLUME_LISTEN="127.0.0.1",
                   OS_DEFAULT__OSAPI_VOLUME_LISTEN_PORT=str(port),
                   OS_DEFAULT__OSAPI_VOLUME_WORKERS="1")
        server = subprocess.Popen([os.path.join(BIN, "ember-api")], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        try:
            for name in ("vol-osc", "vol-ember"):
                path = json.loads(s.ember("volume", "create", "--size",
                                          "%dM" % args.size_mib, name, "-f", "json"))["path"]
                with open(path, "r+b") as f:
                    f.write(data)
            time.sleep(3)
            osc = [os.path.join(args.osclients, "bin", "openstack"), "--os-auth-type", "none",
                   "--os-endpoint", "http://127.0.0.1:%d/v3/default" % port]

            def openstack(*a):
                proc = subprocess.run([*osc, *a], env=s.env, capture_output=True, text=True)
                assert proc.returncode == 0, (a, proc.stderr)
                return proc.stdout

            def osc_backup(name, *extra):
                openstack("volume", "backup", "create", "--name", name, *extra, "vol-osc")
                s.wait("SELECT 1 FROM backups WHERE display_name = ? AND status = "
                       "'available'", name)

            def osc_restore():
                openstack("volume", "backup", "restore", "osc-incr", "osc-restored")
                s.wait("SELECT 1 FROM volumes WHERE display_name = 'osc-restored' AND "
                       "status = 'available'")

            def osc_delete(name):
                openstack("volume", "backup", "delete", name)
                s.wait("SELECT 1 FROM backups WHERE display_name = ? AND deleted", name)

            steps = [
                ("backup create (full)", lambda: osc_backup("osc-full"),
                 lambda: s.ember("volume", "backup", "create", "--name", "e-full",
                                 "vol-ember")),
                ("backup create --incremental", lambda: osc_backup("osc-incr",
                                                                   "--incremental"),
                 lambda: s.ember("volume", "backup", "create", "--incremental", "--name",
                                 "e-incr", "vol-ember")),
                ("backup list", lambda: openstack("volume", "backup", "list"),
                 lambda: s.ember("volume", "backup", "list")),
                ("backup show", lambda: openstack("volume", "backup", "show", "osc-incr"),
                 lambda: s.ember("volume", "backup", "show", "e-incr")),
                ("backup restore (new volume)", osc_restore,
                 lambda: s.ember("volume", "backup", "restore", "e-incr", "e-restored")),
                ("backup delete (incremental)", lambda: osc_delete("osc-incr"),
                 lambda: s.ember("volume", "backup", "delete", "e-incr")),
                ("backup delete (full)", lambda: osc_delete("osc-full"),
                 lambda: s.ember("volume", "backup", "delete", "e-full")),
            ]
            print("%-30s %10s %10s %7s" % ("command (%d MiB volume)" % args.size_mib,
                                          "openstack", "ember", "ratio"))
            total_o = total_e = 0.0
            for label, through_osc, through_ember in steps:
                o, e = timed(through_osc), timed(through_ember)
                total_o, total_e = total_o + o, total_e + e
                print("%-30s %9.2fs %9.2fs %7.2f" % (label, o, e, o / e))
            print("%-30s %9.2fs %9.2fs %7.2f" % ("total", total_o, total_e,
                                                  total_o / total_e))
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
