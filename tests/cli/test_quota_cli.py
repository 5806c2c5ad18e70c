"""The backup quotas hold for the CLI too: the service enforces them for every caller."""


def test_the_cli_is_refused_over_quota_with_cinders_message(ember):
    env = {"OS_DEFAULT__QUOTA_BACKUPS": "1"}
    ember.create_volume("v", size="1M", data=ember.pattern(1, 1 << 20))
    ember.ok("volume", "backup", "create", "--name", "first", "v", env=env)
    before = ember.catalogue()
    assert ember.fails("volume", "backup", "create", "--name", "second", "v", env=env) == (
        "ember: Maximum number of backups allowed (1) exceeded")
    assert ember.catalogue() == before  # nothing claimed, no row
