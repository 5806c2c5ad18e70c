"""Every quota the API shows is enforced, with Cinder's 413 overLimit, through the stock
clients against a real ember-api: ``volumes``, ``snapshots`` and ``gigabytes`` (volumes
and snapshots), a restore into a new volume counted like a new volume; volume listings
honour ``osapi_max_limit``; and on the real PostgreSQL, volume creates racing for the
last places of a quota get exactly those places (the usage rows are locked).
"""

import concurrent.futures
import http.client
import json

import pytest
from ember import errors
from ember.context import RequestContext
from ember.service import Ember
from ember.testing.config import make_conf
from ember.testing.memory import MemoryBackupDriver, MemoryStore
from ember.testing.services import PATIENCE, scratch_database
from harness.cluster import PG_URL


def refused(result, message: str) -> None:
    assert result.returncode != 0, result.stdout
    assert message in result.stderr and "413" in result.stderr, result.stderr


def test_volume_snapshot_and_gigabyte_quotas_through_the_clients(clients):
    clients.cinder("quota-update", "--volumes", "2", "--snapshots", "1", "--gigabytes", "5",
                   "default")
    for name in ("v1", "v2"):
        clients.openstack("volume", "create", "--size", "1", name)
    refused(clients.openstack("volume", "create", "--size", "1", "v3", check=False),
            "Maximum number of volumes allowed (2) exceeded for quota 'volumes'.")
    clients.openstack("volume", "snapshot", "create", "--volume", "v1", "s1")
    refused(clients.openstack("volume", "snapshot", "create", "--volume", "v1", "s2",
                              check=False),
            "Maximum number of snapshots allowed (1) exceeded for quota 'snapshots'.")
    clients.cinder("quota-update", "--volumes", "10", "default")
    refused(clients.openstack("volume", "create", "--size", "3", "big", check=False),
            "Requested volume or snapshot exceeds allowed gigabytes quota. Requested 3G, "
            "quota is 5G and 3G has been consumed.")
    usage = clients.cinder("quota-usage", "default").stdout
    assert [line.split("|")[2].strip() for line in usage.splitlines()
            if line.startswith("| volumes ") or line.startswith("| snapshots ")] == [
        "1", "2"], usage  # In_use of snapshots, then volumes
    names = {v["Name"] for v in clients.openstack_json("volume", "list")}
    assert names == {"v1", "v2"}


def test_a_restore_into_a_new_volume_counts(clients):
    clients.openstack("volume", "create", "--size", "1", "v1")
    backup = clients.openstack_json("volume", "backup", "create", "--name", "b", "v1")
    wait_status(clients, "backup", backup["id"], "available")
    clients.cinder("quota-update", "--volumes", "1", "default")
    refused(clients.cinder("backup-restore", backup["id"], check=False),
            "Maximum number of volumes allowed (1) exceeded for quota 'volumes'.")
    assert clients.openstack_json("volume", "backup", "show", backup["id"])[
        "status"] == "available"
    assert [v["Name"] for v in clients.openstack_json("volume", "list")] == ["v1"]
    clients.cinder("quota-update", "--volumes", "2", "default")
    clients.cinder("backup-restore", backup["id"])  # now there is room for one more


def wait_status(clients, kind, ident, status):
    import time

    deadline = time.monotonic() + PATIENCE
    while clients.openstack_json("volume", kind, "show", ident)["status"] != status:
        assert time.monotonic() < deadline, "%s %s never %s" % (kind, ident, status)
        time.sleep(0.3)


def test_volume_listings_honour_osapi_max_limit(make_server, ember):
    for n in range(3):
        ember.json("volume", "create", "--size", "1M", "v%d" % n)
    server = make_server("[DEFAULT]\nosapi_max_limit = 2\n").start()
    for path in ("/v3/default/volumes", "/v3/default/volumes/detail",
                 "/v3/default/volumes?limit=5"):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=PATIENCE)
        conn.request("GET", path, headers={"X-Auth-Token": "admin:default"})
        body = json.loads(conn.getresponse().read())
        conn.close()
        assert len(body["volumes"]) == 2, (path, body)


def test_racing_volume_creates_get_exactly_the_places_left(tmp_path):
    with scratch_database(PG_URL, "bash scripts/servers/databases.sh start") as url:
        conf = make_conf(state_path=str(tmp_path / "state"), backup_driver="memory")
        conf.set_override("connection", url, group="database")
        service = Ember(conf, driver=MemoryBackupDriver(conf, store=MemoryStore()))
        ctx = RequestContext(user_id="u", project_id="racers", roles=("admin",))
        service.update_quotas(ctx, "racers", {"volumes": 3})

        def create(n):
            try:
                return service.create_volume(ctx, "v%d" % n, size="1M")["id"]
            except errors.QuotaExceeded:
                return None

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            made = [i for i in pool.map(create, range(8)) if i]
        assert len(made) == 3
        assert len(service.list_volumes(ctx)) == 3
        assert len(list((tmp_path / "state" / "volumes").iterdir())) == 3  # no orphan image
        service.catalog.close()


@pytest.fixture
def clients(api_server, clients_for):
    return clients_for(api_server)
