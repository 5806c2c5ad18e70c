"""Cinder's default policy (docs/format.md, Policy and notifications): members are
confined to their project, admin-only
operations refuse members, and a policy file overrides the defaults."""

import pytest
from ember import errors
from ember.context import RequestContext
from ember.service import Ember
from ember.testing.memory import CINDER_SERVICE as MEMORY_SERVICE, MemoryBackupDriver
from oslo_policy import opts as policy_opts

ADMIN = RequestContext.default()
ALICE = RequestContext("alice", "p1", ("member", "reader"))
BOB = RequestContext("bob", "p2", ("member", "reader"))
READER = RequestContext("rita", "p1", ("reader",))


def _backup_of(service, ctx, name, tools):
    vol = service.create_volume(ctx, name, size="2M")
    tools.write(vol["path"], 0, b"data of " + name.encode())
    return service.create_backup(ctx, name, name=name + "-b")


def test_default_context_is_admin_in_project_default():
    ctx = RequestContext.default()
    assert (ctx.user_id, ctx.project_id, ctx.is_admin) == ("admin", "default", True)
    assert not ALICE.is_admin


def test_members_see_only_their_projects_backups(service, tools):
    a = _backup_of(service, ALICE, "a", tools)
    b = _backup_of(service, BOB, "b", tools)
    assert [x["id"] for x in service.list_backups(ALICE)] == [a["id"]]
    assert [x["id"] for x in service.list_backups(BOB)] == [b["id"]]
    assert {x["id"] for x in service.list_backups(ADMIN, all_projects=True)} == {a["id"],
                                                                                  b["id"]}
    with pytest.raises(errors.NotFound) as info:
        service.get_backup(ALICE, b["id"])
    assert str(info.value) == "No backup with a name or ID of '%s' exists." % b["id"]
    with pytest.raises(errors.NotFound):
        service.delete_backup(ALICE, "b-b")
    with pytest.raises(errors.PolicyNotAuthorized) as info:
        service.list_backups(ALICE, all_projects=True)
    assert str(info.value) == ("Policy doesn't allow ember:all_projects to be performed "
                               "(user alice, project p1).")
    assert a["project_id"] == "p1" and a["user_id"] == "alice"


def test_admin_only_operations_refuse_members(service, tools):
    a = _backup_of(service, ALICE, "a", tools)
    for call in (lambda: service.delete_backup(ALICE, a["id"], force=True),
                 lambda: service.reset_backup_status(ALICE, a["id"], "error"),
                 lambda: service.export_record(ALICE, a["id"])):
        with pytest.raises(errors.PolicyNotAuthorized):
            call()
    assert service.get_backup(ALICE, a["id"])["status"] == "available"
    service.delete_backup(ALICE, a["id"])  # a plain delete of one's own backup is fine
    assert service.list_backups(ALICE) == []


def test_readers_may_look_but_not_create(service, tools):
    a = _backup_of(service, ALICE, "a", tools)
    assert service.get_backup(READER, a["id"])["id"] == a["id"]
    with pytest.raises(errors.PolicyNotAuthorized) as info:
        service.create_backup(READER, "a")
    assert str(info.value) == ("Policy doesn't allow backup:create to be performed "
                               "(user rita, project p1).")
    assert len(service.list_backups(ADMIN, all_projects=True)) == 1


def test_policy_file_overrides_a_default(conf, store, tmp_path, tools):
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text('"backup:export-import": "role:member"\n')
    policy_opts.set_defaults(conf, policy_file=str(policy_file))  # [oslo_policy] policy_file
    service = Ember(conf, driver=MemoryBackupDriver(conf, store=store))
    a = _backup_of(service, ALICE, "a", tools)
    assert service.export_record(ALICE, a["id"])["backup_service"] == \
        MEMORY_SERVICE


def test_admin_names_resolve_in_the_own_project_first(service, tools):
    theirs = service.create_volume(ALICE, "same", size="2M")
    mine = service.create_volume(ADMIN, "same", size="2M")
    assert service.get_volume(ADMIN, "same")["id"] == mine["id"]
    assert service.get_volume(ADMIN, theirs["id"])["project_id"] == "p1"
    assert service.get_volume(ALICE, "same")["id"] == theirs["id"]
