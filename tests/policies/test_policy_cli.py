"""``ember backup policy …``: what it stores and shows, and every bad value refused in
one line with nothing changed."""

import pytest

MiB = 1 << 20


@pytest.fixture(scope="module")
def populated(shared_ember):
    ember = shared_ember
    ember.create_volume("vol1", "4M", ember.pattern(7, MiB))
    ember.create_volume("vol2", "4M")
    ember.ok("backup", "policy", "create", "hourly", "--schedule", "0 * * * *",
             "--full-every", "24", "--keep-hourly", "24", "--keep-daily", "7",
             "--volume", "vol1")
    return ember


@pytest.mark.parametrize("args, message", [
    (["create", "p", "--schedule", "61 * * * *"],
     "ember: Invalid schedule '61 * * * *': use five cron fields 'minute hour day month "
     "weekday' (for example '0 * * * *' for hourly) or one of @hourly, @daily, @midnight, "
     "@weekly, @monthly, @yearly."),
    (["create", "p", "--schedule", "* * * * * *"], "ember: Invalid schedule '* * * * * *'"),
    (["create", "p", "--schedule", "@daily", "--keep-daily", "-1"],
     "ember: Invalid keep-daily '-1': use a whole number from 0 to 100000."),
    (["create", "p", "--schedule", "@daily", "--full-every", "0"],
     "ember: Invalid full-every '0': use a whole number from 1 to 100000."),
    (["create", "p", "--schedule", "@daily", "--keep-within", "3x"],
     "ember: keep-within: Invalid duration '3x'"),
    (["create", "p", "--schedule", "@daily", "--verify-schedule", "@weekly",
      "--verify-percent", "150"],
     "ember: Invalid verify-percent '150': use a whole percentage from 1 to 100"),
    (["create", "p", "--schedule", "@daily", "--verify-percent", "10"],
     "ember: verify-percent needs a verify-schedule"),
    (["create", "a/b", "--schedule", "@daily"], "ember: Invalid policy name 'a/b'"),
    (["create", "hourly", "--schedule", "@daily"],
     "ember: A backup policy named 'hourly' exists already in this project"),
    (["create", "p", "--schedule", "@daily", "--volume", "nope"],
     "ember: No volume with a name or ID of 'nope' exists."),
    (["set", "hourly", "--schedule", "every hour"], "ember: Invalid schedule 'every hour'"),
    (["show", "nope"], "ember: No backup policy with a name or ID of 'nope' exists."),
    (["apply", "nope", "vol2"], "ember: No backup policy with a name or ID of 'nope'"),
    (["remove", "hourly", "vol2"], "ember: Volume vol2 is not in policy hourly"),
])
def test_bad_input_is_one_line_and_changes_nothing(populated, args, message):
    ember = populated
    before = ember.catalogue()
    assert ember.fails("backup", "policy", *args).startswith(message)
    assert ember.catalogue() == before


def test_a_volume_is_in_one_policy_at_a_time(populated):
    ember = populated
    ember.ok("backup", "policy", "create", "other", "--schedule", "@daily")
    before = ember.catalogue()
    assert ember.fails("backup", "policy", "apply", "other", "vol1") == (
        "ember: Volume vol1 is already in policy hourly; remove it there first (ember backup "
        "policy remove hourly vol1).")
    assert ember.catalogue() == before
    ember.ok("backup", "policy", "delete", "other")


def test_create_set_show_apply_remove(populated):
    ember = populated
    shown = ember.json("backup", "policy", "show", "hourly")
    assert shown["schedule"] == "0 * * * *" and shown["full_every"] == 24
    assert shown["retention"] == {"keep_hourly": 24, "keep_daily": 7}
    assert shown["volumes"] == [ember.json("volume", "show", "vol1")["id"]]
    assert shown["runs"] == []
    ember.ok("backup", "policy", "set", "hourly", "--keep-weekly", "4", "--verify-schedule",
             "0 3 * * 0", "--verify-percent", "10%", "--force")
    ember.ok("backup", "policy", "apply", "hourly", "vol2")
    shown = ember.json("backup", "policy", "show", "hourly")
    assert shown["retention"] == {"keep_hourly": 24, "keep_daily": 7, "keep_weekly": 4}
    assert (shown["verify_schedule"], shown["verify_percent"], shown["force"]) == (
        "0 3 * * 0", 10, True)
    assert len(shown["volumes"]) == 2
    ember.ok("backup", "policy", "remove", "hourly", "vol2")
    listed = ember.json("backup", "policy", "list")
    assert [p["Name"] for p in listed] == ["hourly"]


def test_project_default_is_one_per_project(ember):
    ember.ok("backup", "policy", "create", "all", "--schedule", "@daily", "--project-default")
    before = ember.catalogue()
    assert ember.fails("backup", "policy", "create", "all2", "--schedule", "@daily",
                       "--project-default").startswith(
        "ember: Policy all is the project's default already")
    assert ember.catalogue() == before
