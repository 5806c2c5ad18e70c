"""``ember-api`` as an operator's first hour meets it (issue 22): a quiet start-up, a
comment kept in a value named at start-up, and the stock client's quota lookup that
needs Keystone (a known client quirk, docs/api.md)."""

import pytest

MiB = 1 << 20


def test_start_up_logs_the_migration_but_not_alembics_plugins(api_server):
    log = api_server.log.read_text()
    assert "Running upgrade" in log  # alembic's own lines stay
    assert "alembic.runtime.plugins" not in log, log


def test_a_comment_kept_in_a_value_is_named_at_start_up(make_server):
    server = make_server("[DEFAULT]\n# a comment on its own line is fine\n"
                         "storage_availability_zone = nova  # the default zone\n").start()
    try:
        log = server.log.read_text()
        assert ("[DEFAULT] storage_availability_zone in %s has a comment in its value "
                "('nova  # the default zone'): oslo.config keeps the text after ' #' as "
                "part of the value; put the comment on its own line"
                % (server.cli.root / ("ember-api-%d.conf" % server.port))) in log, log
    finally:
        server.stop()


@pytest.mark.parametrize("value", ["noauth  # or keystone", "noauth # or keystone"])
def test_a_commented_auth_strategy_is_refused_in_one_line(make_server, value):
    server = make_server("[DEFAULT]\nauth_strategy = %s\n" % value)
    server.env.pop("OS_DEFAULT__AUTH_STRATEGY")
    with pytest.raises(AssertionError) as failed:
        server.start()
    assert "invalid value for [DEFAULT] auth_strategy" in str(failed.value)


def test_quota_show_needs_keystone_as_documented_and_cinder_quota_show_works(clients):
    refused = clients.openstack("quota", "show", "--volume", "default", check=False)
    assert refused.returncode == 1
    assert "/v3/default/projects?name=default" in refused.stderr  # the identity lookup
    shown = clients.cinder("quota-show", "default").stdout
    assert "backups" in shown and "backup_gigabytes" in shown
