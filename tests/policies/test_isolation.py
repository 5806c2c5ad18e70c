"""Policies are project resources with the same policy checks as backups: members manage
their project's, readers only look, nobody reaches another project's."""

import pytest
from ember import errors
from ember.context import RequestContext

MEMBER_1 = RequestContext("u1", "p1", ("member", "reader"))
READER_1 = RequestContext("u3", "p1", ("reader",))
MEMBER_2 = RequestContext("u2", "p2", ("member", "reader"))


def test_projects_do_not_see_each_others_policies(service):
    service.create_volume(MEMBER_1, "vol1", size="1M")
    service.create_volume(MEMBER_2, "vol2", size="1M")
    service.create_policy(MEMBER_1, "p", schedule="@daily", volumes=["vol1"])
    assert service.list_policies(MEMBER_2) == []
    for call in (lambda: service.get_policy(MEMBER_2, "p"),
                 lambda: service.update_policy(MEMBER_2, "p", schedule="@hourly"),
                 lambda: service.delete_policy(MEMBER_2, "p"),
                 lambda: service.apply_policy(MEMBER_2, "p", ["vol2"])):
        with pytest.raises(errors.NotFound, match="No backup policy with a name or ID of 'p'"):
            call()
    with pytest.raises(errors.NotFound, match="No volume with a name or ID of 'vol1'"):
        service.create_policy(MEMBER_2, "q", schedule="@daily", volumes=["vol1"])
    with pytest.raises(errors.PolicyNotAuthorized):
        service.list_policies(MEMBER_2, all_projects=True)


def test_readers_look_but_do_not_change(service):
    service.create_policy(MEMBER_1, "p", schedule="@daily")
    assert [p["name"] for p in service.list_policies(READER_1)] == ["p"]
    assert service.get_policy(READER_1, "p")["name"] == "p"
    with pytest.raises(errors.PolicyNotAuthorized, match="ember:backup_policy:create"):
        service.create_policy(READER_1, "q", schedule="@daily")
    with pytest.raises(errors.PolicyNotAuthorized, match="ember:backup_policy:update"):
        service.update_policy(READER_1, "p", schedule="@hourly")
    with pytest.raises(errors.PolicyNotAuthorized, match="ember:backup_policy:delete"):
        service.delete_policy(READER_1, "p")


def test_a_project_default_covers_only_its_projects_unnamed_volumes(service, inline):
    service.create_volume(MEMBER_1, "a", size="1M")
    service.create_volume(MEMBER_1, "b", size="1M")
    service.create_volume(MEMBER_2, "c", size="1M")
    service.create_policy(MEMBER_1, "named", schedule="@daily", volumes=["a"])
    service.create_policy(MEMBER_1, "rest", schedule="@daily", project_default=True)
    service.run_policies(inline)
    made = {b["name"].split()[0]: b["volume_id"] for b in service.list_backups(MEMBER_1)}
    ids = {v["name"]: v["id"] for v in service.list_volumes(MEMBER_1)}
    assert made == {"named": ids["a"], "rest": ids["b"]}
    assert service.list_backups(MEMBER_2) == []
