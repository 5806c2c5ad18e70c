"""``ember-api`` (four gunicorn processes) and four ``ember-backup`` workers started at
once on an empty catalogue, as an init system or an orchestrator starts them: every
process comes up and stays up (before the schema lock, workers died on PostgreSQL's
``UniqueViolation … alembic_version`` and the API failed to boot)."""

import os
import subprocess
import time
import urllib.request

import pytest
from harness.cluster import PG_URL, Cluster, _exe, require_rabbitmq
from harness.listen import free_port, gunicorn_listening, log_size
from ember.testing.services import PATIENCE, scratch_database, tcp_open

MYSQL_URL = os.environ.get("EMBER_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
SERVERS = {"postgresql": (PG_URL, "bash scripts/servers/databases.sh start"),
           "mariadb": (MYSQL_URL, "bash scripts/servers/databases.sh start")}
WORKERS = 4
API_PROCESSES = 4


def _start_all(cluster: Cluster) -> int:
    """The four workers and ember-api at once; the API's port (another one if another
    test run took the first: that start is the one retried)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    for n in range(WORKERS):
        host = cluster.host("w%d" % n)
        worker_log = open(os.path.join(cluster.root, "%s.log" % host), "ab")
        cluster.workers[host] = subprocess.Popen(
            [_exe("ember-backup"), "--config-file", cluster.config, "--host", host],
            stdout=worker_log, stderr=subprocess.STDOUT, env=env)
    path = os.path.join(cluster.root, "ember-api.log")
    for _ in range(5):
        port, since = free_port(), log_size(path)
        api_env = dict(env, OS_DEFAULT__OSAPI_VOLUME_LISTEN="127.0.0.1",
                       OS_DEFAULT__OSAPI_VOLUME_LISTEN_PORT=str(port),
                       OS_DEFAULT__OSAPI_VOLUME_WORKERS=str(API_PROCESSES),
                       OS_DEFAULT__AUTH_STRATEGY="noauth")
        cluster.api = subprocess.Popen([_exe("ember-api"), "--config-file", cluster.config],
                                       stdout=open(path, "ab"), stderr=subprocess.STDOUT,
                                       env=api_env, start_new_session=True)
        if gunicorn_listening(cluster.api, path, port, since):
            return port
    pytest.fail("ember-api found every port taken:\n" + cluster.log("api"))


def _wait_api_serving(cluster: Cluster, port: int, timeout: float = PATIENCE) -> None:
    """Until every gunicorn process has loaded the application (each logs it)."""
    deadline = time.monotonic() + timeout
    while cluster.log("api").count("is serving") < API_PROCESSES:
        assert cluster.api.poll() is None, "ember-api exited:\n" + cluster.log("api")
        assert time.monotonic() < deadline, "ember-api never served:\n" + cluster.log("api")
        time.sleep(0.2)
    assert tcp_open("127.0.0.1", port)


@pytest.mark.parametrize("round_", range(10))
@pytest.mark.parametrize("backend", sorted(SERVERS))
def test_an_api_and_four_workers_started_together_on_an_empty_catalogue_all_run(
        tmp_path, backend, round_):
    require_rabbitmq()
    with scratch_database(*SERVERS[backend]) as db_url:
        cluster = Cluster(tmp_path, db_url)
        try:
            port = _start_all(cluster)
            for host in cluster.workers:
                cluster.wait_up(host)
            _wait_api_serving(cluster, port)
            request = urllib.request.Request("http://127.0.0.1:%d/v3/default/volumes" % port,
                                             headers={"X-Auth-Token": "admin:default"})
            with urllib.request.urlopen(request, timeout=PATIENCE) as answer:
                assert (answer.status, answer.read()) == (200, b'{"volumes": []}')
            assert cluster.api.poll() is None
            assert [h for h, p in cluster.workers.items() if p.poll() is not None] == []
            assert "Traceback" not in cluster.log("api")
        finally:
            cluster.close()


def test_a_worker_refuses_an_old_catalogue_when_auto_migrate_is_off(tmp_path):
    require_rabbitmq()
    with scratch_database(*SERVERS["postgresql"]) as db_url:
        cluster = Cluster(tmp_path, db_url)
        with open(cluster.config, "a") as f:
            f.write("auto_migrate = false\n")  # the last section written is [database]
        worker = subprocess.run([_exe("ember-backup"), "--config-file", cluster.config,
                                 "--host", cluster.host("w")], capture_output=True, text=True,
                                timeout=PATIENCE)
        assert worker.returncode == 1
        assert worker.stderr.strip().endswith(
            "is empty and this Ember needs revision %s; run `ember-manage db sync` first (or "
            "set [database] auto_migrate = true)." % _head())
        manage = [_exe("ember-manage"), "--config-file", cluster.config, "db"]
        synced = subprocess.run(manage + ["sync"], capture_output=True, text=True, timeout=PATIENCE)
        assert (synced.returncode, synced.stdout) == (
            0, "The catalogue was upgraded from an empty database to revision %s.\n" % _head())
        again = subprocess.run(manage + ["sync"], capture_output=True, text=True, timeout=PATIENCE)
        assert again.stdout == "The catalogue is at revision %s already; nothing to do.\n" % _head()
        version = subprocess.run(manage + ["version"], capture_output=True, text=True,
                                 timeout=PATIENCE)
        assert (version.returncode, version.stdout) == (0, _head() + "\n")
        cluster.start_worker("w")  # now it starts
        cluster.close()


def _head() -> str:
    from ember.catalog import schema

    return schema.HEAD
