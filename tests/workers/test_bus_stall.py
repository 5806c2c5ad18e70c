"""RabbitMQ stalled for real (a TCP proxy between Ember and RabbitMQ that keeps every
connection open and forwards nothing, as under a memory alarm), twice, while the API
process hands backups to a worker: each stall ends with the waiting backup taken and
finished, and afterwards new work is still handed out (a failed publisher connection is
dropped and reopened, not reused). An offer that is the first call on its connections
does not fail during a stall but waits for RabbitMQ (oslo.messaging opens the reply
queue with no limit on retries), and is reported as waiting.
"""

import logging

import json
import os
import time
import urllib.parse
import urllib.request

import pytest
from ember.context import RequestContext
from harness.cluster import PG_URL, Cluster, require_rabbitmq
from ember.testing.services import PATIENCE, scratch_database
from ember.workers.dispatcher import OFFER_REPORTED_AFTER

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


def offered_in_vain(dispatcher, backup_id: str, timeout: float = PATIENCE) -> None:
    """Until the dispatcher has offered ``backup_id`` without a taker: an offer failed,
    or one was reported as waiting on the bus (the first call on new connections)."""
    deadline = time.monotonic() + timeout
    while not any(w.backup_id == backup_id and (w.offers or w.reported_waiting)
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
        offered_in_vain(cluster.dispatcher, ids[-1])
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


def test_a_first_offer_waits_out_a_stall_and_is_reported(stalled_bus, caplog):
    """The dispatcher's first offer, on connections never used, made while RabbitMQ is
    stalled: it neither fails nor is lost; past OFFER_REPORTED_AFTER it is logged as
    waiting on the bus, and once RabbitMQ answers the worker takes the backup."""
    caplog.set_level(logging.WARNING, logger="ember.workers.dispatcher")
    cluster, proxy = stalled_bus
    cluster.start_worker("w1")
    dispatcher = cluster.dispatcher  # no call made on its connections yet
    proxy.set("hang")
    backup_id = begin_backup(cluster, "first")
    waited = "Offering create of backup %s has waited" % backup_id
    deadline = time.monotonic() + PATIENCE
    while not any(r.getMessage().startswith(waited) for r in caplog.records):
        assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
        time.sleep(0.2)
    (work,) = [w for w in dispatcher._pending if w.backup_id == backup_id]
    assert work.offering and work.reported_waiting
    assert time.monotonic() - work.offer_began > OFFER_REPORTED_AFTER
    proxy.set("pass")
    rows = cluster.wait_settled([backup_id])
    assert rows[backup_id]["status"] == "available", rows
    assert cluster.taken() == {backup_id: [cluster.host("w1")]}


def post_backup(url: str, volume_id: str, name: str) -> str:
    """POST /v3/default/backups to ``ember-api`` (noauth); the new backup's id."""
    body = json.dumps({"backup": {"volume_id": volume_id, "name": name}}).encode()
    request = urllib.request.Request(
        url + "/v3/default/backups", data=body, method="POST",
        headers={"Content-Type": "application/json", "X-Auth-Token": "admin:default"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert answer.status == 202, answer.status
        return json.loads(answer.read())["backup"]["id"]


def log_count(cluster, text: str) -> int:
    return cluster.log("api").count(text)


def connections_lost(cluster) -> int:
    return sum(log_count(cluster, text) for text in CONNECTION_LOST)


#: what oslo.messaging logs when it gives a connection up: its heartbeat found it dead,
#: or a send or a reconnect on it timed out (which one comes first depends on what the
#: process was doing when the stall began)
CONNECTION_LOST = ("A recoverable connection/channel error occurred, trying to reconnect",
                   "Connection failed: timed out", "Unable to connect to AMQP server")
#: backups waiting to be handed out during each stall (offered at once, on several
#: pooled connections)
PER_STALL = 2


def offers_held_up(cluster) -> int:
    """Offers that failed on the bus (the RPC call, or opening a pooled connection), or
    were reported as waiting on it (the first call on new connections)."""
    return sum(log_count(cluster, text) for text in (
        "did not answer (", "Could not offer ", "has waited"))


def wait_for_log(cluster, what: str, check, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "never: %s\n%s" % (
            what, cluster.log("api")[-6000:])
        time.sleep(0.2)


def test_api_under_gunicorn_hands_out_work_after_two_long_stalls(stalled_bus):
    """The report of issue 24 item 2, as it happened: ``ember-api`` (gunicorn) hands
    backups to a worker over a RabbitMQ that stalls twice, each time long enough for the
    heartbeats to declare the connections dead (``heartbeat_timeout_threshold``), while
    a backup waits to be handed out; once RabbitMQ answers again, the waiting backup and
    every new one are taken (the report: every offer failed with ``connection already
    closed ... after 0 tries`` and new backups stayed ``creating``). Note: this passes
    on the code before the fix (4355073^) too: the report's lasting failure was not
    reproduced here; it guards the path end to end."""
    cluster, proxy = stalled_bus
    cluster.start_worker("w1")
    url = cluster.start_api()
    volumes = {}
    for name in ["before", "after"] + ["stall-%d-%d" % (s, n) for s in (1, 2)
                                       for n in range(PER_STALL)]:
        path = os.path.join(cluster.shared, name + ".img")
        with open(path, "wb") as f:
            f.write(os.urandom(2 * MiB))
        volumes[name] = cluster.service.create_volume(ADMIN, name, path=path)["id"]
    ids = [post_backup(url, volumes["before"], "before")]
    cluster.wait_settled(ids)
    for stall in (1, 2):
        lost, held_up = connections_lost(cluster), offers_held_up(cluster)
        proxy.set("hang")
        for n in range(PER_STALL):
            name = "stall-%d-%d" % (stall, n)
            ids.append(post_backup(url, volumes[name], name))
        # the API has given a connection up (nothing came back for
        # heartbeat_timeout_threshold, or a send timed out) and its offers failed or
        # waited meanwhile (waited: the stall came before any call on connections the
        # API opened anew after the stall before)
        wait_for_log(cluster, "a connection given up",
                     lambda: connections_lost(cluster) > lost)
        wait_for_log(cluster, "an offer held up",
                     lambda: offers_held_up(cluster) > held_up)
        proxy.set("pass")
        cluster.wait_settled(ids, timeout=90)
    ids.append(post_backup(url, volumes["after"], "after"))
    rows = cluster.wait_settled(ids, timeout=60)
    assert {b["status"] for b in rows.values()} == {"available"}, rows
    assert sorted(cluster.taken()) == sorted(ids)
    assert {v["status"] for v in cluster.service.list_volumes(ADMIN, all_projects=True)} \
        == {"available"}

