"""``/v3/{project_id}/backup-policies`` (an Ember extension): create, list, show with
runs, update, apply/remove volumes, delete; bad bodies and values are one-line 400s
that change nothing."""

import pytest


@pytest.fixture
def volume(api):
    resp = api("POST", "volumes", {"volume": {"size": 1, "name": "vol"}})
    assert resp.status_int == 202, resp.text
    return resp.json["volume"]


def test_the_life_of_a_policy(api, volume):
    body = {"backup_policy": {"name": "hourly", "schedule": "0 * * * *", "full_every": 24,
                              "retention": {"keep_hourly": 24, "keep_daily": 7},
                              "verify_schedule": "0 3 * * 0", "verify_percent": 10,
                              "volumes": [volume["id"]]}}
    resp = api("POST", "backup-policies", body)
    assert resp.status_int == 201, resp.text
    made = resp.json["backup_policy"]
    assert (made["name"], made["project_id"], made["volumes"]) == ("hourly", "p1",
                                                                   [volume["id"]])
    assert made["links"][0]["href"].endswith("/v3/p1/backup-policies/" + made["id"])
    listed = api("GET", "backup-policies").json["backup_policies"]
    assert [p["id"] for p in listed] == [made["id"]]
    shown = api("GET", "backup-policies/hourly").json["backup_policy"]
    assert shown["runs"] == [] and shown["retention"] == {"keep_hourly": 24, "keep_daily": 7}
    resp = api("PUT", "backup-policies/" + made["id"],
               {"backup_policy": {"retention": {"keep_weekly": 4}, "force": "true"}})
    assert resp.status_int == 200, resp.text
    assert resp.json["backup_policy"]["retention"] == {"keep_hourly": 24, "keep_daily": 7,
                                                       "keep_weekly": 4}
    assert resp.json["backup_policy"]["force"] is True
    resp = api("POST", "backup-policies/hourly/action",
               {"remove": {"volumes": [volume["id"]]}})
    assert resp.status_int == 200 and resp.json["backup_policy"]["volumes"] == []
    resp = api("POST", "backup-policies/hourly/action", {"apply": {"volumes": ["vol"]}})
    assert resp.json["backup_policy"]["volumes"] == [volume["id"]]
    assert api("DELETE", "backup-policies/hourly").status_int == 204
    assert api("GET", "backup-policies/hourly").status_int == 404


@pytest.mark.parametrize("body, message", [
    ({"backup_policy": {"name": "p", "schedule": "99 * * * *"}},
     "Invalid schedule '99 * * * *': use five cron fields"),
    ({"backup_policy": {"name": "p", "schedule": "@daily", "verify_schedule": "@weekly",
                        "verify_percent": 0}}, "Invalid verify-percent 0"),
    ({"backup_policy": {"name": "p", "schedule": "@daily", "full_every": "many"}},
     "Invalid full-every 'many'"),
    ({"backup_policy": {"name": "p", "schedule": "@daily",
                        "retention": {"keep_daily": 7, "keep_forever": 1}}},
     "Additional properties are not allowed ('keep_forever' was unexpected)"),
    ({"backup_policy": {"schedule": "@daily"}}, "'name' is a required property"),
    ({"backup_policy": {"name": "p", "schedule": "@daily", "volumes": ["nope"]}},
     "No volume with a name or ID of 'nope' exists."),
])
def test_bad_bodies_are_refused_and_change_nothing(api, volume, body, message):
    resp = api("POST", "backup-policies", body)
    assert resp.status_int in (400, 404), resp.text
    fault = next(iter(resp.json.values()))
    assert message in fault["message"] and "\n" not in fault["message"]
    assert api("GET", "backup-policies").json["backup_policies"] == []


def test_another_projects_url_is_refused(api):
    resp = api.as_("u1:p2", "p1")("GET", "backup-policies")
    assert resp.status_int == 400
