#!/usr/bin/env bash
# The stock OpenStack clients (python-openstackclient and python-cinderclient from PyPI)
# in a venv of their own, for the tests that drive ember-api with them. Not a server:
# start and stop only check, so .ci/run can treat it as one.
#
# Usage:  scripts/servers/osclients.sh install|start|stop|status|purge   (default: start)
# Env:    EMBER_OSCLIENTS_BASE  the venv (default /tmp/ember-osclients); the tests find
#                               the clients at $EMBER_OSCLIENTS_BASE/bin/{openstack,cinder}
set -euo pipefail
SERVER=osclients
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

VENV=${EMBER_OSCLIENTS_BASE:-/tmp/ember-osclients}
PIP_SPECS=${EMBER_OSCLIENTS_PIP_SPECS:-"python-openstackclient==10.5.* python-cinderclient==9.10.*"}

installed() { [ -x "$VENV/bin/openstack" ] && [ -x "$VENV/bin/cinder" ]; }

install() {
  installed && return 0
  log "installing $PIP_SPECS into $VENV"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  # shellcheck disable=SC2086  # the specs are words
  "$VENV/bin/pip" install -q --disable-pip-version-check $PIP_SPECS
}

status() {
  if installed; then log "installed: $("$VENV/bin/openstack" --version 2>&1), $("$VENV/bin/cinder" --version 2>&1)"
  else log "not installed"; return 1; fi
}

start() { install; status; }
stop() { :; }
purge() { rm -rf "$VENV"; }

run_command "install start stop status purge" "${1:-start}"
