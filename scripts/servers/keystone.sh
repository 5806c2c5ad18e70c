#!/usr/bin/env bash
# A real Keystone (identity v3) on 127.0.0.1 for the ember-api keystone-mode tests:
# keystone from PyPI in its own venv, SQLite, fernet tokens, `keystone-manage bootstrap`,
# served by gunicorn. Start also makes two projects with a member each.
#
# Usage:  scripts/servers/keystone.sh install|start|stop|status|purge   (default: start)
#   install  create the venv and install keystone and gunicorn (no-op when installed)
#   start    install if needed, write the config, sync the database, bootstrap, start
#            gunicorn if not running, wait for /v3, and make the test projects and users
#   stop     SIGTERM gunicorn, wait, SIGKILL leftovers
#   purge    stop, then delete the database, keys, config and logs (keeps the venv)
# Env:    EMBER_KEYSTONE_BASE  base dir (default /tmp/ember-keystone)
#         EMBER_KEYSTONE_PORT  port (default 15357)
# After start: http://127.0.0.1:15357/v3, region RegionOne, domain Default;
#   admin/admin-secret (role admin on project admin),
#   ember-member1/member-secret (member on ember-p1), ember-member2/member-secret
#   (member on ember-p2), ember-admin/admin-secret (admin on ember-p1).
# tests/api/test_keystone.py mints an expired token with keystone's own fernet formatter
# through $BASE/venv/bin/python, $BASE/etc/keystone.conf and its key repository.
set -euo pipefail
SERVER=keystone
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

BASE=${EMBER_KEYSTONE_BASE:-/tmp/ember-keystone}
PORT=${EMBER_KEYSTONE_PORT:-15357}
VENV=$BASE/venv
BIN=$VENV/bin
ETC=$BASE/etc
RUN=$BASE/run
LOG=$BASE/log
PIP_SPECS=${EMBER_KEYSTONE_PIP_SPECS:-"keystone==30.* gunicorn"}
URL=http://127.0.0.1:$PORT/v3

install() {
  if [ -x "$BIN/keystone-manage" ] && [ -x "$BIN/gunicorn" ]; then return 0; fi
  log "installing $PIP_SPECS into $VENV"
  mkdir -p "$BASE"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  # shellcheck disable=SC2086  # the specs are words
  "$BIN/pip" install -q --disable-pip-version-check $PIP_SPECS
}

write_config() {
  mkdir -p "$ETC" "$RUN" "$LOG" "$BASE/fernet-keys" "$BASE/credential-keys"
  cat >"$ETC/keystone.conf" <<CONF
[DEFAULT]
log_file = $LOG/keystone.log
[database]
connection = sqlite:///$BASE/keystone.db
[token]
provider = fernet
expiration = 3600
[fernet_tokens]
key_repository = $BASE/fernet-keys
[fernet_receipts]
key_repository = $BASE/fernet-keys
[credential]
key_repository = $BASE/credential-keys
CONF
  # keystone parses sys.argv as its own options: hide gunicorn's from it
  cat >"$ETC/keystone_wsgi.py" <<'PY'
import sys
sys.argv = sys.argv[:1]
from keystone.wsgi.api import application  # noqa: E402,F401
PY
}

manage() { OS_KEYSTONE_CONFIG_FILES=$ETC/keystone.conf "$BIN/keystone-manage" --config-file "$ETC/keystone.conf" "$@"; }

bootstrap() {
  [ -f "$BASE/bootstrapped" ] && return 0
  log "syncing the database and bootstrapping"
  manage db_sync
  manage fernet_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)"
  manage credential_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)"
  manage bootstrap --bootstrap-password admin-secret --bootstrap-admin-url "$URL" \
    --bootstrap-public-url "$URL" --bootstrap-internal-url "$URL" \
    --bootstrap-region-id RegionOne
  touch "$BASE/bootstrapped"
}

# make_test_identities: the projects, users and role assignments the tests use
# (idempotent: whatever exists is kept)
make_test_identities() {
  "$BIN/python" - "$URL" <<'PY'
import json, sys, urllib.request, urllib.error
url = sys.argv[1]
def call(method, path, body=None, token=None):
    req = urllib.request.Request(url + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          **({"X-Auth-Token": token} if token else {})})
    with urllib.request.urlopen(req) as resp:
        return resp.headers.get("X-Subject-Token"), (json.loads(resp.read() or b"null"))
token, _ = call("POST", "/auth/tokens", {"auth": {"identity": {"methods": ["password"],
    "password": {"user": {"name": "admin", "domain": {"id": "default"},
                          "password": "admin-secret"}}},
    "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
def find_or_make(kind, name, body):
    _, found = call("GET", "/%ss?name=%s" % (kind, name), token=token)
    if found[kind + "s"]:
        return found[kind + "s"][0]["id"]
    _, made = call("POST", "/%ss" % kind, {kind: dict(body, name=name)}, token=token)
    return made[kind]["id"]
roles = {r["name"]: r["id"] for r in call("GET", "/roles", token=token)[1]["roles"]}
projects = {p: find_or_make("project", p, {"domain_id": "default"})
            for p in ("ember-p1", "ember-p2")}
for user, password, project, role in (("ember-member1", "member-secret", "ember-p1", "member"),
                                      ("ember-member2", "member-secret", "ember-p2", "member"),
                                      ("ember-admin", "admin-secret", "ember-p1", "admin")):
    uid = find_or_make("user", user, {"domain_id": "default", "password": password})
    call("PUT", "/projects/%s/users/%s/roles/%s" % (projects[project], uid, roles[role]),
         token=token)
PY
}

start() {
  install
  write_config
  bootstrap
  if ! pid_alive "$RUN/keystone.pid"; then
    log "starting gunicorn on 127.0.0.1:$PORT"
    OS_KEYSTONE_CONFIG_FILES=$ETC/keystone.conf spawn "$RUN/keystone.pid" "$LOG/gunicorn.log" \
      "$BIN/gunicorn" --bind "127.0.0.1:$PORT" --workers 2 --timeout 120 --pythonpath "$ETC" \
      keystone_wsgi:application
  fi
  wait_up keystone 120 "$LOG/gunicorn.log" "$RUN/keystone.pid" \
    bash -c "curl -fsS '$URL' >/dev/null 2>&1 || '$BIN/python' -c 'import urllib.request; urllib.request.urlopen(\"$URL\")' 2>/dev/null"
  make_test_identities
  log "ready: $URL (admin/admin-secret, ember-member1, ember-member2, ember-admin)"
}

stop() { stop_pidfiles "$RUN/keystone.pid"; }

status() {
  if pid_alive "$RUN/keystone.pid"; then echo "keystone: running (pid $(cat "$RUN/keystone.pid"))"
  else echo "keystone: stopped"; return 1; fi
}

purge() {
  stop
  rm -rf "$ETC" "$RUN" "$LOG" "$BASE/keystone.db" "$BASE/fernet-keys" "$BASE/credential-keys" \
    "$BASE/bootstrapped"
}

run_command "install start stop status purge" "${1:-start}"
