"""The dashboard's protection states: a volume under a backup policy is judged by its
schedule (late after 1.5 of its periods, red after 3), any other by ``backup_max_age``;
a member's dashboard holds its own project only.

Backups cannot be made in the past, so their data times are moved back in the catalogue
(the one fake here: the passing of time)."""

import datetime
import os

import sqlalchemy as sa
from ember.catalog.models import Backup
from ember.context import RequestContext

MEMBER_1 = RequestContext(user_id="u1", project_id="p1", roles=("member", "reader"))
MEMBER_2 = RequestContext(user_id="u2", project_id="p2", roles=("member", "reader"))
ADMIN = RequestContext.default()


def age_backups(service, volume_id, **delta):
    then = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - \
        datetime.timedelta(**delta)
    with service.catalog.session() as session:
        session.execute(sa.update(Backup).where(Backup.volume_id == volume_id)
                        .values(data_timestamp=then, created_at=then))


def states(service, ctx):
    return {v["name"]: (v["state"], v["policy"]) for v in service.monitoring.dashboard(ctx).volumes}


def test_policy_schedules_colour_the_volumes(service):
    ids = {}
    for ctx, name in ((MEMBER_1, "minutely"), (MEMBER_1, "daily"), (MEMBER_2, "plain"),
                      (MEMBER_1, "never")):
        ids[name] = service.create_volume(ctx, name, size="1M")["id"]
    service.create_policy(MEMBER_1, "every-minute", schedule="* * * * *",
                          volumes=["minutely"])
    service.create_policy(MEMBER_1, "rest", schedule="@daily", project_default=True)
    for ctx, name in ((MEMBER_1, "minutely"), (MEMBER_1, "daily"), (MEMBER_2, "plain")):
        service.create_backup(ctx, name)
        age_backups(service, ids[name], minutes=10)
    assert states(service, ADMIN) == {
        "minutely": ("stale", "every-minute"),  # 10 min > 3 periods of a minute
        "daily": ("ok", "rest"), "plain": ("ok", None), "never": ("never", "rest")}
    age_backups(service, ids["daily"], hours=40)  # > 1.5 days, < 3 days
    age_backups(service, ids["plain"], hours=27)  # > backup_max_age (26 h), < 52 h
    assert states(service, ADMIN)["daily"] == ("late", "rest")
    assert states(service, ADMIN)["plain"] == ("late", None)
    assert set(states(service, MEMBER_2)) == {"plain"}
    assert service.monitoring.dashboard(MEMBER_2).workers is None  # admins only


def test_a_failed_backup_after_the_last_good_one_is_failing(service, tools):
    vol = service.create_volume(MEMBER_1, "v", size="1M")
    service.create_backup(MEMBER_1, "v")
    os.remove(vol["path"])
    os.mkdir(vol["path"])  # not an image any more: the next backup's run fails
    try:
        service.create_backup(MEMBER_1, "v")
    except Exception as exc:  # noqa: BLE001 - the failure is the point
        reason = str(exc)
    page = service.monitoring.dashboard(MEMBER_1)
    assert [v["state"] for v in page.volumes] == ["failing"]
    [failure] = page.failures
    assert failure["kind"] == "create" and failure["reason"] == reason.splitlines()[0]


def test_verify_that_finds_damage(service, store, tools):
    vol = service.create_volume(MEMBER_1, "v", size="1M")
    tools.write(vol["path"], 0, b"data" * 4096)
    backup = service.create_backup(MEMBER_1, "v")
    assert not service.verify_backup(MEMBER_1, backup["id"]).damaged
    [row] = service.monitoring.dashboard(MEMBER_1).volumes
    assert (row["state"], row["damaged"]) == ("ok", 0) and row["last_verify"]
    with store.lock:  # one data object's bytes damaged in the repository
        objects = next(iter(store.containers.values()))
        name = min(n for n in objects if n.endswith("-00001"))
        objects[name] = b"damaged" + objects[name][7:]
    report = service.verify_backup(MEMBER_1, backup["id"])
    assert report.damaged
    [row] = service.monitoring.dashboard(MEMBER_1).volumes
    assert (row["state"], row["damaged"]) == ("damaged", 1)
    [failure] = service.monitoring.dashboard(MEMBER_1).failures
    assert (failure["kind"], failure["reason"]) == ("verify", report.summary())
    [summary] = service.monitoring.metrics(ADMIN).volumes
    assert summary.damaged == 1
    assert service.monitoring.metrics(ADMIN).operations[("verify", "failed")] == 1
