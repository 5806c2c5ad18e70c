"""Cinder's backup quotas: show, defaults, update, delete, and enforcement on create and
import, for the API and the CLI alike (both go through the service)."""

import pytest
from ember import errors
from ember.context import RequestContext

ADMIN = RequestContext.default()
MEMBER = RequestContext(user_id="u1", project_id="p1", roles=("member", "reader"))


def test_defaults_come_from_the_configuration(service, conf):
    defaults = service.quota_defaults(ADMIN, "p1")
    assert defaults["backups"] == conf.quota_backups == 10
    assert defaults["backup_gigabytes"] == 1000
    assert defaults["volumes"] == 10 and defaults["per_volume_gigabytes"] == -1


def test_update_show_and_delete(service):
    assert service.update_quotas(ADMIN, "p1", {"backups": 3})["backups"] == 3
    assert service.get_quotas(MEMBER, "p1")["backups"] == 3
    assert service.get_quotas(ADMIN, "p2")["backups"] == 10  # other projects untouched
    shown = service.get_quotas(MEMBER, "p1", usage=True)["backups"]
    assert shown == {"limit": 3, "in_use": 0, "reserved": 0}
    service.delete_quotas(ADMIN, "p1")
    assert service.get_quotas(ADMIN, "p1")["backups"] == 10


@pytest.mark.parametrize("values, message", [
    ({"bogus": 1}, "Bad key(s) in quota set: bogus"),
    ({"backups": -2}, "Quota limit -2 for backups must be an integer from -1"),
    ({"backups": "5"}, "Quota limit '5' for backups must be an integer from -1"),
    ({"backups": True}, "Quota limit True for backups must be an integer from -1"),
])
def test_update_refuses_bad_values(service, values, message):
    with pytest.raises(errors.InvalidInput, match=message.replace("(", r"\(").replace(
            ")", r"\)")):
        service.update_quotas(ADMIN, "p1", values)


def test_members_may_not_update_nor_see_other_projects(service):
    with pytest.raises(errors.PolicyNotAuthorized):
        service.update_quotas(MEMBER, "p1", {"backups": 100})
    with pytest.raises(errors.PolicyNotAuthorized):
        service.get_quotas(MEMBER, "p2")


def test_backups_count_limit_refuses_with_cinders_message(service, volume):
    project = volume["project_id"]
    service.update_quotas(ADMIN, project, {"backups": 1})
    service.create_backup(ADMIN, volume["id"], name="b1")
    with pytest.raises(errors.QuotaExceeded) as exc:
        service.create_backup(ADMIN, volume["id"], name="b2")
    assert str(exc.value) == "Maximum number of backups allowed (1) exceeded"
    assert service.get_volume(ADMIN, volume["id"])["status"] == "available"
    assert [b["name"] for b in service.list_backups(ADMIN)] == ["b1"]
    with pytest.raises(errors.InvalidInput, match="Current usage is 1 and the requested "
                                                  "limit is 0"):
        service.update_quotas(ADMIN, project, {"backups": 0})


def test_backup_gigabytes_limit(service, volume):
    service.update_quotas(ADMIN, volume["project_id"], {"backup_gigabytes": 1})
    service.create_backup(ADMIN, volume["id"], name="b1")  # a 4 MiB volume counts 1 GiB
    with pytest.raises(errors.QuotaExceeded) as exc:
        service.create_backup(ADMIN, volume["id"], name="b2")
    assert str(exc.value) == ("Requested backup exceeds allowed Backup gigabytes quota. "
                              "Requested 1G, quota is 1G and 1G has been consumed.")


def test_deleted_backups_give_their_quota_back(service, volume):
    service.update_quotas(ADMIN, volume["project_id"], {"backups": 1})
    first = service.create_backup(ADMIN, volume["id"])
    service.delete_backup(ADMIN, first["id"])
    service.create_backup(ADMIN, volume["id"])  # allowed again


def test_import_counts_against_the_quota(service, volume):
    backup = service.create_backup(ADMIN, volume["id"])
    record = service.export_record(ADMIN, backup["id"])
    service.delete_backup(ADMIN, backup["id"])  # a deleted row may be imported again
    service.update_quotas(ADMIN, ADMIN.project_id, {"backups": 0})
    with pytest.raises(errors.QuotaExceeded, match=r"allowed \(0\) exceeded"):
        service.import_record(ADMIN, record["backup_service"], record["backup_url"])
