"""RabbitMQ stalled for real (a TCP proxy between Ember and RabbitMQ that keeps every
connection open and forwards nothing, as under a memory alarm), twice, while the API
process hands backups to a worker: each stall ends with the waiting backup taken and
finished, and afterwards new work is still handed out (a failed publisher connection is
dropped and reopened, not reused).
"""

import os
import time
import urllib.parse

import pytest
from ember.context import RequestContext
from harness.cluster import PG_URL, Cluster, require_rabbitmq
from ember.testing.services import PATIENCE, scratch_database

pytestmark = pytest.mark.slow

ADMIN = RequestContext.default()
MiB = 1 << 20


@pytest.fixture
def stalled_bus(tmp_path, fault_proxy):
    """(cluster, proxy): the cluster reaches RabbitMQ through a fault proxy."""
    url = urllib.parse.urlsplit(require_rabbitmq())
    with scratch_database(PG_URL, "bash scripts/servers/databases.sh start") as db_url:
        proxy = fault_proxy(url.port or 5672)
        bus = url._replace(netloc="%s@127.0.0.1:%d" % (url.netloc.rpartition("@")[0],
                                                       proxy.port)).geturl()
        cluster = Cluster(tmp_path, db_url, transport_url=bus)
        with open(cluster.config, "a") as f:
            # heartbeats missed for 4 s (not 60) count as a dead connection: a stall of
            # a few seconds then does what a long one does in production
            f.write("[oslo_messaging_rabbit]\nheartbeat_timeout_threshold = 4\n")
        try:
            yield cluster, proxy
        finally:
            proxy.set("pass")
            cluster.close()


def begin_backup(cluster, name: str) -> str:
    path = os.path.join(cluster.shared, name + ".img")
    with open(path, "wb") as f:
        f.write(os.urandom(2 * MiB))
    volume = cluster.service.create_volume(ADMIN, name, path=path)
    backup = cluster.service.begin_create_backup(ADMIN, volume["id"], name=name)
    cluster.dispatcher.dispatch(ADMIN, "create", {"backup_id": backup["id"]})
    return backup["id"]


def offers_failed(dispatcher, backup_id: str, times: int, timeout: float = PATIENCE) -> None:
    """Until the dispatcher has offered ``backup_id`` ``times`` times without a taker."""
    deadline = time.monotonic() + timeout
    while not any(w.backup_id == backup_id and w.offers >= times
                  for w in list(dispatcher._pending)):
        assert time.monotonic() < deadline, "backup %s was never offered in vain" % backup_id
        time.sleep(0.2)


def test_two_stalls_then_work_is_still_handed_out(stalled_bus):
    cluster, proxy = stalled_bus
    cluster.start_worker("w1")
    ids = [begin_backup(cluster, "before")]
    cluster.wait_settled(ids)
    for stall in ("first", "second"):
        proxy.set("hang")
        opened = proxy.accepted
        ids.append(begin_backup(cluster, stall))
        offers_failed(cluster.dispatcher, ids[-1], 1)
        # new connections tried on the stalled bus (they hang too)
        proxy.wait(lambda p: p.accepted >= opened + 2)
        proxy.set("pass")
        cluster.wait_settled(ids)
    ids.append(begin_backup(cluster, "after"))
    rows = cluster.wait_settled(ids)
    assert {b["status"] for b in rows.values()} == {"available"}, rows
    assert sorted(cluster.taken()) == sorted(ids)
    assert {v["status"] for v in cluster.service.list_volumes(ADMIN, all_projects=True)} \
        == {"available"}
