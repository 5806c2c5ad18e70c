"""``auth_strategy = keystone`` against a real Keystone (scripts/servers/keystone.sh):
keystonemiddleware checks the tokens, a member sees only its project, an admin more,
and a bad, revoked or expired token is refused. Driven by the stock clients and by plain HTTP."""

import json
import os
import subprocess
import urllib.error
import urllib.request

import pytest
from ember.testing.services import PATIENCE, require, tcp_open
from harness.listen import free_port

NEEDS_BEGIN = pytest.mark.skipif(
    not hasattr(__import__("ember.service").service.Ember, "begin_create_backup"),
    reason="needs the service's begin/run split (being landed)")
KEYSTONE = "http://127.0.0.1:%s/v3" % os.environ.get("EMBER_KEYSTONE_PORT", "15357")
OSCLIENTS = os.environ.get("EMBER_OSCLIENTS_BASE", "/tmp/ember-osclients")
KEYSTONE_BASE = os.environ.get("EMBER_KEYSTONE_BASE", "/tmp/ember-keystone")
# Keystone's own fernet token formatter, run in its venv with its config and key repository:
# a genuine project-scoped token for argv user and project expiring argv seconds from now
# (the token lifetime is one global setting, so an expired token cannot be asked for)
MINT_TOKEN = """
import datetime, sys
import keystone.conf
keystone.conf.configure()
keystone.conf.CONF([], project="keystone", default_config_files=[sys.argv[1]])
from keystone.common import utils
from keystone.token import provider, token_formatters
user_id, project_id, seconds = sys.argv[2], sys.argv[3], int(sys.argv[4])
expires = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
expires += datetime.timedelta(seconds=seconds)
print(token_formatters.TokenFormatter().create_token(
    user_id, utils.isotime(expires, subsecond=True), [provider.random_urlsafe_str()],
    token_formatters.ProjectScopedPayload, methods=["password"], project_id=project_id))
"""


def keystone_call(method, path, body=None, token=None):
    req = urllib.request.Request(KEYSTONE + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          **({"X-Auth-Token": token} if token else {})})
    with urllib.request.urlopen(req, timeout=PATIENCE) as resp:
        return resp.headers.get("X-Subject-Token"), json.loads(resp.read() or b"null")


def issue_token(user, password, project):
    """(token, Keystone's token document) for ``user`` scoped to ``project``."""
    token, body = keystone_call("POST", "/auth/tokens", {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}})
    return token, body["token"]


def token_for(user, password, project):
    token, document = issue_token(user, password, project)
    return token, document["project"]["id"]


def api_call(url, method="GET", token=None, body=None, version="3.64"):
    req = urllib.request.Request(url, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"OpenStack-API-Version": "volume " + version,
                                          "Content-Type": "application/json",
                                          **({"X-Auth-Token": token} if token else {})})
    try:
        with urllib.request.urlopen(req, timeout=PATIENCE) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, raw.decode(errors="replace")


#: [DEFAULT] and [keystone_authtoken] of an ember-api checking tokens with the Keystone
KEYSTONE_CONFIG = """[DEFAULT]
auth_strategy = keystone
[keystone_authtoken]
www_authenticate_uri = %(url)s
auth_url = %(url)s
auth_type = password
username = admin
password = admin-secret
project_name = admin
user_domain_id = default
project_domain_id = default
""" % {"url": KEYSTONE}


@pytest.fixture
def keystone_server(make_server):
    """An ember-api with auth_strategy = keystone, not started (its ``env`` may be
    changed first)."""
    require(tcp_open("127.0.0.1", int(KEYSTONE.split(":")[2].split("/")[0])),
            "Keystone on %s" % KEYSTONE, "bash scripts/servers/keystone.sh start")
    return make_server(config_text=KEYSTONE_CONFIG, auth_strategy="keystone")


@pytest.fixture
def keystone_api(keystone_server):
    return keystone_server.start()


def minted_token(user_id, project_id, seconds):
    """A fernet token made by Keystone's formatter, expiring ``seconds`` from now."""
    python = KEYSTONE_BASE + "/venv/bin/python"
    require(os.access(python, os.X_OK), "Keystone's venv (%s)" % python,
            "bash scripts/servers/keystone.sh install")
    proc = subprocess.run([python, "-c", MINT_TOKEN, KEYSTONE_BASE + "/etc/keystone.conf",
                           user_id, project_id, str(seconds)],
                          capture_output=True, text=True, timeout=PATIENCE)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def tokens():
    """(member1, p1, member2, p2, admin, admin's project): tokens and project ids."""
    return (*token_for("ember-member1", "member-secret", "ember-p1"),
            *token_for("ember-member2", "member-secret", "ember-p2"),
            *token_for("ember-admin", "admin-secret", "ember-p1"))


def test_members_admins_and_refused_tokens(keystone_api):
    member1, p1, member2, p2, admin, admin_project = tokens()
    base = keystone_api.url + "/v3/"

    status, body = api_call(base + p1 + "/volumes", "POST", member1,
                            {"volume": {"size": 1, "name": "kv1"}})
    assert status == 202, body
    volume_id = body["volume"]["id"]
    # a member sees its own project only; another project's member gets 404
    status, body = api_call(base + p1 + "/volumes/" + volume_id, token=member1)
    assert status == 200 and "os-vol-tenant-attr:tenant_id" not in body["volume"]
    status, body = api_call(base + p2 + "/volumes/" + volume_id, token=member2)
    assert status == 404 and "itemNotFound" in body
    # nor may a member use another project's URL, list every project, or set quotas
    status, body = api_call(base + p1 + "/backups", token=member2)
    assert (status, body) == (400, {"badRequest": {"code": 400,
                                                   "message": "Malformed request url"}})
    status, body = api_call(base + p1 + "/backups?all_tenants=1", token=member1)
    assert status == 403 and body["forbidden"]["message"].startswith(
        "Policy doesn't allow ember:all_projects to be performed")
    status, body = api_call(base + p1 + "/os-quota-sets/" + p1, "PUT", member1,
                            {"quota_set": {"backups": 1}})
    assert status == 403 and "forbidden" in body
    assert api_call(base + p1 + "/os-services", token=member1)[0] == 403
    # the admin (role admin in ember-p1) sees the owner, other projects and services
    status, body = api_call(base + p1 + "/volumes/" + volume_id, token=admin)
    assert status == 200 and body["volume"]["os-vol-tenant-attr:tenant_id"] == p1
    status, body = api_call(base + admin_project + "/volumes?all_tenants=1", token=admin)
    assert status == 200 and volume_id in [v["id"] for v in body["volumes"]]
    status, body = api_call(base + p1 + "/os-quota-sets/" + p2, "PUT", admin,
                            {"quota_set": {"backups": 5}})
    assert status == 200 and body["quota_set"]["backups"] == 5
    assert api_call(base + p1 + "/os-services", token=admin)[0] == 200

    # a bad token, no token, and a revoked one are refused by keystonemiddleware
    assert api_call(base + p1 + "/volumes", token="not-a-token")[0] == 401
    assert api_call(base + p1 + "/volumes")[0] == 401
    # (a revoked token that ember-api validated before stays good until keystonemiddleware's
    # token_cache_time passes, as in Cinder)
    revoked, _ = token_for("ember-member1", "member-secret", "ember-p1")
    req = urllib.request.Request(KEYSTONE + "/auth/tokens", method="DELETE",
                                 headers={"X-Auth-Token": admin, "X-Subject-Token": revoked})
    urllib.request.urlopen(req, timeout=PATIENCE)
    assert api_call(base + p1 + "/volumes", token=revoked)[0] == 401
    # the version documents need no token (the clients discover first)
    assert api_call(keystone_api.url + "/v3/")[0] == 200


def test_an_expired_token_is_refused(keystone_api):
    _, document = issue_token("ember-member1", "member-secret", "ember-p1")
    user_id, p1 = document["user"]["id"], document["project"]["id"]
    url = keystone_api.url + "/v3/" + p1 + "/volumes"
    # the same formatter's token with a future expiry is accepted: only the expiry differs
    assert api_call(url, token=minted_token(user_id, p1, 600))[0] == 200
    expired = minted_token(user_id, p1, -60)
    req = urllib.request.Request(url, headers={"X-Auth-Token": expired})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=PATIENCE)
    # keystonemiddleware's refusal, as Cinder answers
    assert refused.value.code == 401
    assert refused.value.headers["WWW-Authenticate"] == 'Keystone uri="%s"' % KEYSTONE
    assert json.loads(refused.value.read()) == {"error": {
        "code": 401, "title": "Unauthorized",
        "message": "The request you have made requires authentication."}}


@NEEDS_BEGIN
def test_backups_are_scoped_to_the_project(keystone_api):
    member1, p1, member2, p2, admin, _ = tokens()
    base = keystone_api.url + "/v3/"
    _, body = api_call(base + p1 + "/volumes", "POST", member1,
                       {"volume": {"size": 1, "name": "kv1"}})
    status, body = api_call(base + p1 + "/backups", "POST", member1,
                            {"backup": {"volume_id": body["volume"]["id"], "name": "kb1"}})
    assert status == 202, body
    backup_id = body["backup"]["id"]
    status, body = api_call(base + p1 + "/backups/" + backup_id, token=member1)
    assert status == 200 and "os-backup-project-attr:project_id" not in body["backup"]
    assert api_call(base + p2 + "/backups/" + backup_id, token=member2)[0] == 404
    status, body = api_call(base + p1 + "/backups/%s/action" % backup_id, "POST", member1,
                            {"os-reset_status": {"status": "error"}})
    assert status == 403 and "forbidden" in body
    status, body = api_call(base + p1 + "/backups/" + backup_id, token=admin)
    assert status == 200 and body["backup"]["os-backup-project-attr:project_id"] == p1


@NEEDS_BEGIN
def test_stock_clients_with_keystone(keystone_api, tmp_path):
    require(os.access(OSCLIENTS + "/bin/openstack", os.X_OK),
            "python-openstackclient (%s)" % OSCLIENTS,
            "bash scripts/servers/osclients.sh install")
    _, p1 = token_for("ember-member1", "member-secret", "ember-p1")
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(json.dumps({"clouds": {"ember": {
        "auth_type": "password",
        "auth": {"auth_url": KEYSTONE, "username": "ember-member1",
                 "password": "member-secret", "project_name": "ember-p1",
                 "user_domain_id": "default", "project_domain_id": "default"},
        "block_storage_endpoint_override": "%s/v3/%s" % (keystone_api.url, p1)}}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(OS_CLIENT_CONFIG_FILE=str(clouds), HOME=str(tmp_path))

    def openstack(*args):
        proc = subprocess.run([OSCLIENTS + "/bin/openstack", "--os-cloud", "ember", *args],
                              capture_output=True, text=True, env=env, timeout=PATIENCE)
        return proc

    made = openstack("volume", "create", "--size", "1", "kvol", "-f", "json")
    assert made.returncode == 0, made.stderr
    backup = openstack("volume", "backup", "create", "--name", "kb", "kvol", "-f", "json")
    assert backup.returncode == 0, backup.stderr
    listed = openstack("volume", "backup", "list", "-f", "json")
    assert "kb" in [b["Name"] for b in json.loads(listed.stdout)]
    refused = openstack("volume", "backup", "list", "--all-projects")
    assert refused.returncode == 1
    assert "Policy doesn't allow ember:all_projects to be performed" in refused.stderr

    cinder = subprocess.run([OSCLIENTS + "/bin/cinder", "--os-auth-url", KEYSTONE,
                             "--os-username", "ember-member1", "--os-password",
                             "member-secret", "--os-project-name", "ember-p1",
                             "--os-user-domain-id", "default", "--os-project-domain-id",
                             "default", "--os-endpoint", "%s/v3/%s" % (keystone_api.url, p1),
                             "backup-list"], capture_output=True, text=True, env=env,
                            timeout=PATIENCE)
    assert cinder.returncode == 0, cinder.stderr
    assert "kb" in cinder.stdout


def _settled(url, token, timeout=PATIENCE):
    """The backup at ``url`` once it leaves ``creating`` (polls the API)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        status, body = api_call(url, token=token)
        assert status == 200, body
        if body["backup"]["status"] != "creating":
            return body["backup"]
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def _get(url, token=None):
    req = urllib.request.Request(url, headers={"X-Auth-Token": token} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=PATIENCE) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


@NEEDS_BEGIN
def test_metrics_and_dashboard_by_token(keystone_server, browser):
    """/metrics: administrators only on the API port, anyone on metrics_listen_port
    (and only /metrics there); /dashboard: a member sees its project only, in a browser."""
    from prometheus_client.parser import text_string_to_metric_families

    metrics_port = free_port()
    keystone_server.env["OS_DEFAULT__METRICS_LISTEN_PORT"] = str(metrics_port)
    server = keystone_server.start()
    member1, p1, member2, p2, admin, _ = tokens()
    base = server.url + "/v3/" + p1
    _, body = api_call(base + "/volumes", "POST", member1,
                       {"volume": {"size": 1, "name": "dash-vol"}})
    volume_id = body["volume"]["id"]
    _, body = api_call(base + "/backups", "POST", member1,
                       {"backup": {"volume_id": volume_id, "name": "dash-ok"}})
    good = _settled(base + "/backups/" + body["backup"]["id"], member1)
    image = server.cli.state / "volumes" / ("volume-" + volume_id)
    os.remove(image)
    os.mkdir(image)  # not an image any more: the next backup's run fails
    _, body = api_call(base + "/backups", "POST", member1,
                       {"backup": {"volume_id": volume_id, "name": "dash-bad"}})
    bad = _settled(base + "/backups/" + body["backup"]["id"], member1)
    assert (good["status"], bad["status"]) == ("available", "error")

    assert _get(server.url + "/metrics")[0] == 401
    status, text = _get(server.url + "/metrics", member1)
    assert status == 403 and "ember:metrics" in text
    status, text = _get(server.url + "/metrics", admin)
    assert status == 200
    listener = "http://127.0.0.1:%d" % metrics_port
    status, unauthenticated = _get(listener + "/metrics")
    assert status == 200
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in
               text_string_to_metric_families(unauthenticated) for s in f.samples}
    assert samples[("ember_volume_backups", (("project_id", p1), ("volume_id", volume_id)))] == 1
    assert _get(listener + "/v3/" + p1 + "/volumes")[0] == 404
    assert _get(listener + "/dashboard", member1)[0] == 404

    browser.sign_in(server.url, member1)
    assert [r.get_attribute("data-volume-id") for r in
            browser.driver.find_elements("css selector", "tr.volume")] == [volume_id]
    [failure] = browser.texts("tr.failure")
    assert "dash-bad" in failure and bad["fail_reason"] in failure
    assert browser.driver.find_elements("id", "workers") == []  # not a member's to see
    browser.screenshot("dashboard-member.png")

    browser.sign_in(server.url, member2)
    assert browser.driver.find_elements("css selector", "tr.volume") == []
    assert browser.driver.find_elements("css selector", "tr.failure") == []
    page = browser.driver.page_source
    assert volume_id not in page and "dash-" not in page and p1 not in page
    browser.screenshot("dashboard-other-project.png")
