"""``ember.service.quick``: ``volume list`` read with the standard library's sqlite3 gives
exactly ``Ember.list_volumes``'s answer, and gives way (None) to the full service
whenever the full open would do something first; the default policy rules evaluated
without oslo.policy decide exactly as oslo.policy does."""

import itertools
import sqlite3

import pytest
from ember import errors
from ember import policy as rules
from ember.catalog import quickread
from ember.catalog.states import BackupStatus, SnapshotStatus, VolumeStatus
from ember.context import RequestContext
from ember.service import quick
from oslo_policy import opts as policy_opts

ADMIN = RequestContext.default()
ALICE = RequestContext("alice", "p1", ("member", "reader"))
BOB = RequestContext("bob", "p2", ("Member", "Reader"))
NOBODY = RequestContext("nina", "p1", ("observer",))


@pytest.fixture
def volumes(service):
    made = [service.create_volume(ALICE, "a1", size="1M", metadata={"k": "v", "n": "1"}),
            service.create_volume(ALICE, "a2", size="2M", description="second"),
            service.create_volume(BOB, "b1", size="1M"),
            service.create_volume(ADMIN, "x", size="1M")]
    service.update_volume(ALICE, "a2", name="a2", description="changed")
    service.create_snapshot(ALICE, "a1", "s1")
    service.create_backup(ALICE, "a2", name="b")
    service.delete_volume(ADMIN, "x")
    return made


@pytest.mark.parametrize("ctx,options", [
    (ALICE, {}), (BOB, {}), (ADMIN, {}), (ADMIN, {"all_projects": True}),
    (ALICE, {"name": "a2"}), (ALICE, {"status": "available"}), (ALICE, {"status": "error"}),
    (ADMIN, {"all_projects": True, "name": "b1"}),
])
def test_the_quick_list_is_the_services(service, conf, volumes, ctx, options):
    expected = service.list_volumes(ctx, **options)
    assert quick.list_volumes(conf, ctx, **options) == expected


def test_the_quick_list_refuses_as_the_service(service, conf, volumes):
    for ctx, options in ((NOBODY, {}), (ALICE, {"all_projects": True})):
        with pytest.raises(errors.PolicyNotAuthorized) as theirs:
            service.list_volumes(ctx, **options)
        with pytest.raises(errors.PolicyNotAuthorized) as ours:
            quick.list_volumes(conf, ctx, **options)
        assert str(ours.value) == str(theirs.value)


def test_the_quick_list_gives_way_when_the_full_open_has_work(service, conf, volumes):
    path = quickread._sqlite_path(quickread.default_url(conf))
    assert len(service.list_volumes(ADMIN, all_projects=True)) == 3
    assert quick.list_volumes(conf, ADMIN) is not None
    for table, statuses in quickread.BUSY.items():
        for status in statuses:
            with sqlite3.connect(path) as db:  # as a crashed process leaves a row
                row_id, was = db.execute("SELECT id, status FROM %s WHERE deleted = 0 LIMIT 1"
                                         % table).fetchone()
                db.execute("UPDATE %s SET status = ? WHERE id = ?" % table, (status, row_id))
            assert quick.list_volumes(conf, ADMIN) is None, (table, status)
            with sqlite3.connect(path) as db:  # as repair leaves it
                db.execute("UPDATE %s SET status = ? WHERE id = ?" % table, (was, row_id))
            assert quick.list_volumes(conf, ADMIN) is not None, (table, status)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alembic_version SET version_num = '0001'")
    assert quick.list_volumes(conf, ADMIN) is None  # the full open migrates (or refuses)


def test_only_a_plain_sqlite_file_is_read_quickly(conf, tmp_path):
    assert quickread._sqlite_path("sqlite:////abs/ember.sqlite") == "/abs/ember.sqlite"
    assert quickread._sqlite_path("sqlite:///rel.sqlite") == "rel.sqlite"
    for url in ("sqlite://", "sqlite:///:memory:", "sqlite+pysqlite:///x.sqlite",
                "sqlite:///x.sqlite?timeout=3", "postgresql://h/db", "mysql+pymysql://h/db"):
        assert quickread._sqlite_path(url) is None, url
    assert quick.list_volumes(conf, ADMIN) is None  # no catalogue yet: the full open makes it


def test_busy_statuses_are_the_ones_repair_acts_on():
    assert quickread.BUSY == {
        "backups": (BackupStatus.CREATING, BackupStatus.RESTORING, BackupStatus.DELETING),
        "volumes": (VolumeStatus.BACKING_UP, VolumeStatus.RESTORING_BACKUP),
        "snapshots": (SnapshotStatus.BACKING_UP,)}


def _no_policy_file(conf, tmp_path):
    """No file, whatever another test left as oslo.policy's default (its set_defaults
    changes the option shared by every ConfigOpts)."""
    policy_opts._register(conf)
    conf.set_override("policy_file", str(tmp_path / "none.yaml"), group="oslo_policy")
    conf.set_override("policy_dirs", [], group="oslo_policy")


def test_default_rules_decide_as_oslo_policy(conf, tmp_path):
    _no_policy_file(conf, tmp_path)
    quick_policy, oslo = rules.Policy(conf), rules.Policy(conf)
    oslo.enforcer  # built: every check goes through oslo.policy
    assert quick_policy.defaults_only()
    roles = ("admin", "Admin", "reader", "member", "READER", "observer")
    contexts = [RequestContext(user, project, combo)
                for user, project in (("u", "p1"), ("u", "p2"))
                for n in range(4) for combo in itertools.combinations(roles, n)]
    checked = 0
    for rule, _, _ in rules._RULES:
        for ctx in contexts:
            for target in (None, "p1", "p2"):
                assert quick_policy.allowed(ctx, rule, target) == \
                    oslo.allowed(ctx, rule, target), (rule, ctx, target)
                checked += 1
    assert quick_policy._enforcer is None and checked > 8000


def test_a_policy_file_is_obeyed_without_a_restart(conf, tmp_path):
    _no_policy_file(conf, tmp_path)
    policy = rules.Policy(conf)
    assert policy.allowed(ALICE, rules.VOLUME_GET_ALL)
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text('"volume:get_all": "role:admin"\n')
    conf.set_override("policy_file", str(policy_file), group="oslo_policy")
    assert not policy.defaults_only()
    assert not policy.allowed(ALICE, rules.VOLUME_GET_ALL)
    assert policy.allowed(ADMIN, rules.VOLUME_GET_ALL)
