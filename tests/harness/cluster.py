"""A cluster of Ember processes on this machine, for the worker tests and benchmark: a
catalogue database of its own on the real PostgreSQL, the real RabbitMQ, a posix
repository and volume directory that every "host" shares, ``ember-backup`` workers
started as real processes with their own ``--host`` names, and optionally ``ember-api``.
Heartbeats are fast by default (``report_interval = 1``, ``service_down_time = 8``) so a
killed worker is noticed within seconds (8: a busy worker on two loaded cores may beat a
few seconds late).
"""

import atexit
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import uuid

import pytest
from ember.testing.services import PATIENCE, require, tcp_open
from harness.listen import free_port, gunicorn_listening, log_size

PG_URL = os.environ.get("EMBER_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
#: set, it is used as it is (its virtual host is then the caller's to keep to itself)
RABBIT_URL = os.environ.get("EMBER_TEST_RABBIT_URL")
_vhost: list[str] = []
OSCLIENTS = os.environ.get("EMBER_OSCLIENTS_BASE", "/tmp/ember-osclients")
MiB = 1 << 20
BUSY = {"creating", "restoring", "deleting"}


def _exe(name: str) -> str:
    """A console script of this venv."""
    return shutil.which(name, path=os.path.dirname(sys.executable)) or name


def _require_openstack_client() -> None:
    require(os.access(OSCLIENTS + "/bin/openstack", os.X_OK),
            "python-openstackclient (%s)" % OSCLIENTS, "bash scripts/servers/osclients.sh install")


def require_rabbitmq() -> str:
    """Skip (fail under CI=true) without RabbitMQ; this test run's transport URL."""
    require(tcp_open("127.0.0.1", 5672), "RabbitMQ on 127.0.0.1:5672 (guest/guest)",
            "bash scripts/servers/databases.sh start")
    return run_transport_url()


def run_transport_url() -> str:
    """A virtual host of this test run's own on the shared RabbitMQ (made on first use,
    deleted when the run ends), so a second run's workers never consume its queues and
    ``close_all_connections --vhost`` cuts only its own connections. Without a RabbitMQ
    (a test that needs none, as the API-process cluster): its default URL."""
    if RABBIT_URL:
        return RABBIT_URL
    if not _vhost:
        if not tcp_open("127.0.0.1", 5672):
            return "rabbit://guest:guest@127.0.0.1:5672/"
        require(shutil.which("rabbitmqctl") is not None, "rabbitmqctl (to make a virtual "
                "host per test run; or set EMBER_TEST_RABBIT_URL)",
                "bash scripts/servers/databases.sh install")
        name = "ember-test-%d-%s" % (os.getpid(), uuid.uuid4().hex[:8])
        _rabbitmqctl("add_vhost", name)
        _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        atexit.register(_rabbitmqctl, "delete_vhost", name)
        _vhost.append(name)
    return "rabbit://guest:guest@127.0.0.1:5672/" + _vhost[0]


def rabbit_vhost() -> str:
    """The virtual host of ``require_rabbitmq()``'s URL."""
    return urllib.parse.unquote(urllib.parse.urlsplit(require_rabbitmq()).path[1:]) or "/"


def _rabbitmqctl(*args) -> None:
    proc = subprocess.run(["rabbitmqctl", "--quiet", *args], capture_output=True, text=True,
                          timeout=PATIENCE)
    assert proc.returncode == 0, "rabbitmqctl %s: %s" % (" ".join(args), proc.stderr)


class Cluster:
    """Config file, workers and the begin side (this test process, as ``ember-api``)."""

    def __init__(self, root, db_url, **options):
        self.root = str(root)
        self.db_url = db_url
        self.tag = uuid.uuid4().hex[:6]  # host names unique on a RabbitMQ others share
        self.transport_url = run_transport_url()
        self.shared = os.path.join(self.root, "shared")
        self.repo = os.path.join(self.root, "repo")
        # the repository and the shared paths exist before any host starts, as an
        # operator makes and mounts them (Ember refuses a missing one)
        for path in (self.shared, self.repo, os.path.join(self.root, "state", "volumes")):
            os.makedirs(path)
        self.config = os.path.join(self.root, "ember.conf")
        self.options = options
        self.write_config()
        self.workers: dict[str, subprocess.Popen] = {}
        self._service = None
        self._dispatcher = None
        self.api = None

    def write_config(self, **extra) -> None:
        values = {"state_path": os.path.join(self.root, "state"),
                  "transport_url": self.transport_url,
                  "backup_driver": "posix", "backup_posix_path": self.repo,
                  "backup_file_size": MiB, "backup_compression_algorithm": "none",
                  "backup_engine_threads": 2, "report_interval": 1,
                  "service_down_time": 8, "backup_max_operations": 4,
                  "backup_shared_volume_paths": "%s,%s" % (
                      self.shared, os.path.join(self.root, "state", "volumes")),
                  "quota_backups": -1, "quota_backup_gigabytes": -1, "quota_volumes": -1,
                  "quota_snapshots": -1, "quota_gigabytes": -1,
                  "host": "api-" + self.tag}
        values.update(self.options)
        values.update(extra)
        with open(self.config, "w") as f:
            f.write("[DEFAULT]\n")
            f.writelines("%s = %s\n" % item for item in values.items())
            f.write("[database]\nconnection = %s\n" % self.db_url)

    def start_api(self, processes: int = 1) -> str:
        """``ember-api`` (noauth, ``processes`` gunicorn workers) on this cluster; returns
        its URL once it listens (on another port if another test run took the first).
        With ``transport_url`` set it hands all work to the workers."""
        path = os.path.join(self.root, "ember-api.log")
        for _ in range(5):
            port = free_port()
            since = log_size(path)
            env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
            env.update(OS_DEFAULT__OSAPI_VOLUME_LISTEN="127.0.0.1",
                       OS_DEFAULT__OSAPI_VOLUME_LISTEN_PORT=str(port),
                       OS_DEFAULT__OSAPI_VOLUME_WORKERS=str(processes),
                       OS_DEFAULT__AUTH_STRATEGY="noauth")
            self.api = subprocess.Popen([_exe("ember-api"), "--config-file", self.config],
                                        stdout=open(path, "ab"), stderr=subprocess.STDOUT,
                                        env=env, start_new_session=True)
            if gunicorn_listening(self.api, path, port, since):
                return "http://127.0.0.1:%d" % port
        pytest.fail("ember-api found every port taken:\n" + self.log("api"))

    require_openstack_client = staticmethod(_require_openstack_client)

    def openstack(self, url: str, *args) -> subprocess.CompletedProcess:
        """The stock ``openstack`` client against ``url`` (project ``default``)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env["HOME"] = self.root
        return subprocess.run([OSCLIENTS + "/bin/openstack", "--os-auth-type", "none",
                               "--os-endpoint", url + "/v3/default", *args],
                              capture_output=True, text=True, env=env, timeout=PATIENCE)

    def ember(self, *args) -> str:
        """``ember`` (the CLI) on this cluster's configuration; its stdout."""
        return self.finish(self.start_ember(*args))

    def start_ember(self, *args) -> subprocess.Popen:
        """``ember`` started, not waited for (``finish`` waits)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        return subprocess.Popen([_exe("ember"), "--config-file", self.config, *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)

    @staticmethod
    def finish(proc: subprocess.Popen) -> str:
        out, err = proc.communicate(timeout=PATIENCE)
        assert proc.returncode == 0, "%s: %s" % (" ".join(proc.args), err)
        return out

    def host(self, name: str) -> str:
        return "%s-%s" % (name, self.tag)

    def start_worker(self, name: str, *extra_args) -> subprocess.Popen:
        host = self.host(name)
        log = open(os.path.join(self.root, "%s.log" % host), "ab")
        proc = subprocess.Popen([_exe("ember-backup"), "--config-file", self.config,
            "--host", host, *extra_args], stdout=log, stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("OS_")})
        self.workers[host] = proc
        self.wait_up(host)
        return proc

    def wait_up(self, host: str, timeout: float = PATIENCE) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state_of(host) == "up":
                return
            proc = self.workers.get(host)
            if proc is not None and proc.poll() is not None:
                pytest.fail("ember-backup --host %s exited %s:\n%s"
                            % (host, proc.returncode, self.log(host)))
            time.sleep(0.2)
        pytest.fail("ember-backup --host %s never reported up:\n%s" % (host, self.log(host)))

    def state_of(self, host: str) -> str | None:
        from ember.context import RequestContext

        for row in self.service.list_services(RequestContext.default(), host=host):
            return row["state"]
        return None

    def log(self, host: str) -> str:
        """The log of the worker on ``host`` (or of ``ember-api`` for "api")."""
        name = "ember-api" if host == "api" else host
        with open(os.path.join(self.root, "%s.log" % name), errors="replace") as f:
            return f.read()

    def kill(self, host: str) -> None:
        proc = self.workers[host]
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    @property
    def service(self):
        if self._service is None:
            from ember import config
            from ember.service import Ember

            self._service = Ember(config.load([self.config]))
        return self._service

    @property
    def dispatcher(self):
        if self._dispatcher is None:
            from ember.workers.dispatcher import RPCDispatcher

            self._dispatcher = RPCDispatcher(self.service)
        return self._dispatcher

    # --- work -------------------------------------------------------------------------
    def backups(self) -> list[dict]:
        from ember.context import RequestContext

        return self.service.list_backups(RequestContext.default(), all_projects=True)

    def begin_backups(self, volumes, clients: int = 4) -> list[str]:
        """Begin one backup per volume id from ``clients`` threads at once, each handed to
        the workers as ember-api does; returns the backup ids."""
        import concurrent.futures

        from ember.context import RequestContext

        ctx = RequestContext.default()
        service, dispatcher = self.service, self.dispatcher

        def one(volume_id):
            return service.submit_create_backup(ctx, volume_id, dispatcher=dispatcher,
                                                name="b-" + volume_id)["id"]

        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            return list(pool.map(one, volumes))

    def wait_settled(self, ids, timeout: float = PATIENCE) -> dict:
        """Wait until none of the backups ``ids`` is busy; returns {id: backup}."""
        deadline = time.monotonic() + timeout
        while True:
            rows = {b["id"]: b for b in self.backups() if b["id"] in ids}
            busy = [b for b in rows.values() if b["status"] in BUSY]
            if not busy and len(rows) == len(set(ids)):
                return rows
            if time.monotonic() > deadline:
                pytest.fail("still busy after %ds: %s\n%s" % (timeout, busy, "\n".join(
                    self.log(h)[-3000:] for h in self.workers)))
            time.sleep(0.2)

    def taken(self, operation: str = "create") -> dict[str, list[str]]:
        """{backup id: [host, ...]} of every ``operation`` a worker took, from the logs."""
        runs: dict[str, list[str]] = {}
        for host in self.workers:
            for backup_id in re.findall(r"Took %s of backup (\S+) " % operation,
                                        self.log(host)):
                runs.setdefault(backup_id, []).append(host)
        return runs

    def close(self) -> None:
        if self.api is not None and self.api.poll() is None:
            os.killpg(self.api.pid, signal.SIGTERM)  # gunicorn's master and its worker
            self.api.wait(timeout=PATIENCE)
        for proc in self.workers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers.values():
            try:
                proc.wait(timeout=PATIENCE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._dispatcher is not None:
            self._dispatcher.shutdown()
        if self._service is not None:
            self._service.catalog.close()
