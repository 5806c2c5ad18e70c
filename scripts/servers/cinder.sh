#!/usr/bin/env bash
# Cinder 29 itself (cinder>=29,<30 from PyPI) in the throwaway venv the interop check and
# the benchmarks use (benchmarks/work/cinder-venv of this checkout), for the tests that
# prove Cinder restores what Ember writes (tests/retention/test_consolidate_cinder.py).
# Never an Ember dependency. Not a server: start and stop only check.
#
# Usage:  scripts/servers/cinder.sh install|start|stop|status|purge   (default: start)
set -euo pipefail
SERVER=cinder
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=$ROOT/benchmarks/work/cinder-venv
SPEC="cinder>=29,<30"

installed() { "$VENV/bin/python" -c "import cinder.backup.drivers.posix" 2>/dev/null; }

install() {
  installed && return 0
  log "installing $SPEC into $VENV"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "$SPEC"
}

status() {
  if installed; then log "installed: cinder $("$VENV/bin/pip" show cinder 2>/dev/null | sed -n 's/^Version: //p')"
  else log "not installed"; return 1; fi
}

start() { install; status; }
stop() { :; }
purge() { rm -rf "$VENV"; }

run_command "install start stop status purge" "${1:-start}"
