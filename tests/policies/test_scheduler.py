"""ember-scheduler's guarantees, with the clock driven by the test: one active
scheduler across processes (the lease, on SQLite, PostgreSQL and MariaDB), a due time
started once even by two racing passes, catch-up once after downtime, never two
backups of one volume at once, and each run recorded with what failed and why."""

import datetime
import os
import threading

import pytest
from ember.catalog import Catalog
from ember.context import RequestContext
from ember.service import Ember
from ember.testing.memory import MemoryBackupDriver
from ember.testing.services import scratch_database
from ember.workers.scheduler import Scheduler

ADMIN = RequestContext.default()
SERVERS = {
    "postgresql": (os.environ.get("EMBER_TEST_PG_URL",
                                  "postgresql+psycopg2://postgres@127.0.0.1:5432/test"),
                   "bash scripts/servers/postgresql.sh start"),
    "mysql": (os.environ.get("EMBER_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
              "bash scripts/servers/mariadb.sh start"),
}


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield "sqlite:///" + str(tmp_path / "shared.sqlite")
    else:
        with scratch_database(*SERVERS[request.param]) as url:
            yield url


def _services(conf, store, clock, url, count):
    """``count`` services, each with its own connection pool to one catalogue, as
    schedulers on different hosts have."""
    services = []
    for _ in range(count):
        catalog = Catalog(url)
        catalog.migrate()
        services.append(Ember(conf, catalog=catalog, clock=clock,
                              driver=MemoryBackupDriver(conf, store=store)))
    return services


def _race(actions):
    barrier = threading.Barrier(len(actions))
    results = [None] * len(actions)

    def run(i):
        barrier.wait()
        results[i] = actions[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_schedulers_racing_exactly_one_runs(conf, store, clock, db_url, inline_for):
    one, two = _services(conf, store, clock, db_url, 2)
    one.create_volume(ADMIN, "vol", size="1M")
    one.create_policy(ADMIN, "p", schedule="0 * * * *", volumes=["vol"])
    schedulers = [Scheduler(s, inline_for(s), holder=h)
                  for s, h in ((one, "host-a"), (two, "host-b"))]
    for _ in range(5):  # five rounds of the same race
        ran = _race([s.tick for s in schedulers])
        assert sorted(ran) == [False, True]
        clock.advance(hours=1)
    assert len(one.list_backups(ADMIN)) == 5
    assert len(one.get_policy(ADMIN, "p")["runs"]) == 5
    # the holder stops renewing: the other takes over once the lease runs out, not before
    active = next(s for s in schedulers if s.active)
    idle = next(s for s in schedulers if s is not active)
    assert active.tick() and not idle.tick()
    clock.advance(seconds=conf.scheduler_lease_time - 1)
    assert not idle.tick()
    clock.advance(seconds=2)
    assert idle.tick()
    assert not active.tick()


def test_one_due_time_starts_once_even_without_the_lease(conf, store, clock, tmp_path,
                                                        inline_for):
    url = "sqlite:///" + str(tmp_path / "shared.sqlite")
    services = _services(conf, store, clock, url, 3)
    for i in range(3):
        services[0].create_volume(ADMIN, "vol%d" % i, size="1M")
    services[0].create_policy(ADMIN, "p", schedule="0 * * * *",
                              volumes=["vol0", "vol1", "vol2"])
    _race([lambda s=s: s.run_policies(inline_for(s)) for s in services])
    runs = services[0].get_policy(ADMIN, "p")["runs"]
    assert len(runs) == 1 and len(runs[0]["created"]) == 3
    assert len(services[0].list_backups(ADMIN)) == 3


def test_catches_up_once_after_downtime(service, inline, clock):
    service.create_volume(ADMIN, "vol", size="1M")
    service.create_policy(ADMIN, "p", schedule="0 * * * *", volumes=["vol"])
    scheduler = Scheduler(service, inline)
    assert scheduler.tick()  # a new policy runs at once
    clock.advance(days=3, minutes=30)  # 72 hourly times missed
    scheduler.tick()
    scheduler.tick()
    runs = service.get_policy(ADMIN, "p")["runs"]
    assert [r["scheduled_for"] for r in runs] == ["2026-01-04T00:00:00.000000",
                                                  "2026-01-01T00:00:00.000000"]
    assert len(service.list_backups(ADMIN)) == 2


def test_a_volume_being_backed_up_is_skipped_and_the_run_says_so(service, clock):
    class Holding:  # a worker that has not run the backup yet
        def __init__(self):
            self.work = []

        def dispatch(self, ctx, operation, ids):
            self.work.append((ctx, operation, ids))

        def shutdown(self, wait=True):
            pass

    service.create_volume(ADMIN, "vol", size="1M")
    service.create_policy(ADMIN, "p", schedule="* * * * *", volumes=["vol"])
    holding = Holding()
    service.run_policies(holding)
    clock.advance(minutes=1)
    service.run_policies(holding)
    assert len(holding.work) == 1
    first, second = reversed(service.get_policy(ADMIN, "p")["runs"])
    assert first["status"] == "running" and len(first["created"]) == 1
    assert second["status"] == "failed" and second["created"] == []
    assert second["failures"] == [
        'volume vol: Volume to be backed up must be available or in-use, but the current '
        'status is "backing-up".']
    service.run(*holding.work[0])
    service.run_policies(holding)  # the first run ends once its backup has
    assert service.get_policy(ADMIN, "p")["runs"][-1]["status"] == "done"


def test_a_failed_backup_is_recorded_with_its_reason(service, inline, clock):
    vol = service.create_volume(ADMIN, "vol", size="1M")
    service.create_policy(ADMIN, "p", schedule="0 * * * *", volumes=["vol"])
    os.truncate(vol["path"], 0)  # the image lost its data: the backup fails
    service.run_policies(inline)
    run = service.get_policy(ADMIN, "p")["runs"][0]
    assert run["status"] == "failed" and run["created"] == []
    assert len(run["failures"]) == 1 and run["failures"][0].startswith("volume vol: ")


def test_in_use_volumes_need_the_policys_force(service, inline, clock):
    service.create_volume(ADMIN, "vol", size="1M")
    service.attach_volume(ADMIN, "vol", instance="vm-1")
    service.create_policy(ADMIN, "p", schedule="0 * * * *", volumes=["vol"])
    service.run_policies(inline)
    assert service.get_policy(ADMIN, "p")["runs"][0]["failures"] == [
        "volume vol: Backing up an in-use volume must use the force flag."]
    service.update_policy(ADMIN, "p", force=True)
    clock.advance(hours=1)
    service.run_policies(inline)
    run = service.get_policy(ADMIN, "p")["runs"][0]
    assert run["status"] == "done" and len(run["created"]) == 1


def test_a_damaged_backup_fails_the_verification_run(service, inline, clock, store):
    service.create_volume(ADMIN, "vol", size="1M")
    service.create_policy(ADMIN, "p", schedule="0 0 * * *", verify_schedule="0 * * * *",
                          verify_percent=100, volumes=["vol"])
    service.run_policies(inline)
    backup = service.list_backups(ADMIN)[0]
    objects = store.containers[backup["container"]]
    victim = sorted(n for n in objects if not n.endswith(("_metadata", "_sha256file")))[0]
    objects[victim] = b"not what was written"
    clock.advance(hours=1)
    service.run_policies(inline)
    run = service.get_policy(ADMIN, "p")["runs"][0]
    assert (run["kind"], run["status"], run["verified"]) == ("verify", "failed",
                                                             [backup["id"]])
    assert run["failures"] == [
        "verify %s: Backup %s is damaged: 0 missing, 0 extra, 1 corrupt object(s); it cannot "
        "be restored as it is: take a new full backup." % (backup["id"], backup["id"])]
