#!/usr/bin/env bash
# A real single-node OpenStack Swift ("SAIO": proxy, account, container and object
# servers, one replica, tempauth) on 127.0.0.1, for the swift plugin's tests and the
# benchmarks. Swift 2.38 from PyPI lives in its own venv under the base dir; tempauth
# issues stateless fernet tokens, so no memcached is needed.
#
# Usage:  scripts/servers/swift.sh install|start|stop|status|purge   (default: start)
#   install  create the venv and install swift (no-op when already installed)
#   start    install if needed, write config and rings, start what is not running, and
#            wait until auth plus a container PUT/DELETE succeed (quick when running)
#   stop     SIGTERM the four servers, wait, SIGKILL leftovers
#   purge    stop, then delete data, config and logs (keeps the venv)
# Env:    EMBER_SWIFT_BASE   base dir (default /tmp/ember-swift)
#         EMBER_SWIFT_PORT   proxy port (default 8080); storage servers use
#                            EMBER_SWIFT_{OBJ,CONT,ACC}_PORT (default 6200/6201/6202)
#         EMBER_SWIFT_TMPFS  1 = keep the data on a tmpfs (default 0: a plain dir, with a
#                            tmpfs or a loop-mounted image as fallback when the dir
#                            has no user.* xattrs, which Swift's object server needs)
# After start: auth URL http://127.0.0.1:8080/auth/v1.0, user test:tester key testing
#              (also test2:tester2/testing2 and admin:admin/admin),
#              storage URL http://127.0.0.1:8080/v1/AUTH_test
set -euo pipefail
SERVER=swift
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

BASE=${EMBER_SWIFT_BASE:-/tmp/ember-swift}
VENV=$BASE/venv
PORT=${EMBER_SWIFT_PORT:-8080}
OBJ_PORT=${EMBER_SWIFT_OBJ_PORT:-6200}
CONT_PORT=${EMBER_SWIFT_CONT_PORT:-6201}
ACC_PORT=${EMBER_SWIFT_ACC_PORT:-6202}
PIP_SPEC=${EMBER_SWIFT_PIP_SPEC:-swift==2.38.*}
BIN=$VENV/bin
ETC=$BASE/etc
DEV=$BASE/srv/node
RUN=$BASE/run
LOG=$BASE/log
SERVERS="account container object proxy"

install() {
  if [ -x "$BIN/swift-proxy-server" ] && [ -x "$BIN/swift-ring-builder" ]; then return 0; fi
  log "installing $PIP_SPEC into $VENV"
  mkdir -p "$BASE"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "$PIP_SPEC"
}

# port_of KIND: the port of the account, container or object server
port_of() {
  case $1 in object) echo "$OBJ_PORT";; container) echo "$CONT_PORT";; account) echo "$ACC_PORT";; esac
}

# Swift keeps object metadata in user.* xattrs; ext4 holds all of an inode's xattrs in
# one block, so probe with a realistic size rather than a byte.
xattr_ok() {
  "$BIN/python" - "$1" <<'PY'
import os, sys, tempfile
fd, p = tempfile.mkstemp(dir=sys.argv[1])
try:
    os.setxattr(p, "user.swift.probe", b"x" * 1024)
    assert os.getxattr(p, "user.swift.probe") == b"x" * 1024
finally:
    os.close(fd); os.unlink(p)
PY
}

ensure_storage() {
  mkdir -p "$DEV" "$RUN" "$LOG" "$ETC"
  if [ "${EMBER_SWIFT_TMPFS:-0}" = 1 ] && ! mountpoint -q "$DEV"; then
    mount -t tmpfs -o size=2g,mode=0755 tmpfs "$DEV"
  fi
  mkdir -p "$DEV/d1"
  if xattr_ok "$DEV/d1" 2>/dev/null; then return 0; fi
  log "no user xattrs on $DEV; trying a tmpfs (kernels >= 6.6 allow user.* there)"
  if ! mountpoint -q "$DEV"; then mount -t tmpfs -o size=2g,mode=0755 tmpfs "$DEV"; mkdir -p "$DEV/d1"; fi
  if xattr_ok "$DEV/d1" 2>/dev/null; then return 0; fi
  umount "$DEV"
  log "tmpfs lacks user xattrs; using a loop-mounted image"
  truncate -s 2G "$BASE/swift-disk.img"
  # small ext4 images default to 1 KiB blocks (xattrs of ~1 KB at most): force 4 KiB
  if command -v mkfs.xfs >/dev/null; then mkfs.xfs -q -f "$BASE/swift-disk.img"
  else mkfs.ext4 -q -F -b 4096 -I 1024 "$BASE/swift-disk.img"; fi
  mount -o loop "$BASE/swift-disk.img" "$DEV"
  mkdir -p "$DEV/d1"
  xattr_ok "$DEV/d1" || { log "no xattr support anywhere; set EMBER_SWIFT_BASE to an ext4/xfs dir"; exit 1; }
}

write_config() {
  local user fkey common
  user=$(id -un)
  if [ -f "$ETC/fernet.key" ]; then fkey=$(cat "$ETC/fernet.key"); else
    fkey=$("$BIN/python" -c 'import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())')
    echo "$fkey" > "$ETC/fernet.key"
  fi
  cat > "$ETC/swift.conf" <<CONF
[swift-hash]
swift_hash_path_prefix = ember-saio-prefix
swift_hash_path_suffix = ember-saio-suffix

[storage-policy:0]
name = Policy-0
default = yes
CONF
  common="[DEFAULT]
bind_ip = 127.0.0.1
workers = 0
user = $user
swift_dir = $ETC
devices = $DEV
mount_check = false
disable_fallocate = true
log_level = INFO"
  local kind
  for kind in account container object; do
    cat > "$ETC/$kind-server.conf" <<CONF
$common
bind_port = $(port_of "$kind")

[pipeline:main]
pipeline = healthcheck $kind-server

[app:$kind-server]
use = egg:swift#$kind

[filter:healthcheck]
use = egg:swift#healthcheck
CONF
  done
  cat > "$ETC/proxy-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $PORT
workers = 0
user = $user
swift_dir = $ETC
log_level = INFO

[pipeline:main]
# no "cache" filter: tempauth's fernet tokens are stateless, so no memcached
pipeline = catch_errors gatekeeper healthcheck proxy-logging listing_formats bulk tempurl tempauth copy slo dlo versioned_writes proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

[filter:tempauth]
use = egg:swift#tempauth
user_admin_admin = admin .admin .reseller_admin
user_test_tester = testing .admin
user_test2_tester2 = testing2 .admin
fernet_key_k1 = $fkey
active_fernet_key_id = k1
token_life = 86400

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:tempurl]
use = egg:swift#tempurl
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
[filter:versioned_writes]
use = egg:swift#versioned_writes
allow_versioned_writes = true
CONF
}

build_rings() {
  local rb="$BIN/swift-ring-builder" t rc
  # the ports are baked into the rings: rebuild them when the ports change
  if [ "$(cat "$ETC/ring.ports" 2>/dev/null)" != "$OBJ_PORT $CONT_PORT $ACC_PORT" ]; then
    rm -f "$ETC"/*.ring.gz "$ETC"/*.builder
    echo "$OBJ_PORT $CONT_PORT $ACC_PORT" > "$ETC/ring.ports"
  fi
  for t in object container account; do
    [ -f "$ETC/$t.ring.gz" ] && continue
    rm -f "$ETC/$t.builder"
    "$rb" "$ETC/$t.builder" create 8 1 1 >/dev/null
    "$rb" "$ETC/$t.builder" add "r1z1-127.0.0.1:$(port_of "$t")/d1" 100 >/dev/null
    rc=0; "$rb" "$ETC/$t.builder" rebalance >/dev/null || rc=$?
    [ "$rc" -le 1 ] || { log "ring rebalance failed for $t (exit $rc)"; exit 1; }   # 1 = warning
  done
}

start_one() {
  local s=$1
  pid_alive "$RUN/$s.pid" && return 0
  # -v logs to stdout (our log file); otherwise swift logs to syslog
  spawn "$RUN/$s.pid" "$LOG/$s.log" "$BIN/swift-$s-server" "$ETC/$s-server.conf" -v
}

# Ready = ports open, /healthcheck OK, auth works and a container PUT+DELETE (which goes
# through all four servers) succeeds.
probe() {
  port_open "$ACC_PORT" && port_open "$CONT_PORT" && port_open "$OBJ_PORT" || return 1
  [ "$(curl -s "http://127.0.0.1:$PORT/healthcheck" 2>/dev/null)" = OK ] || return 1
  local hdrs url tok
  hdrs=$(curl -s -D - -o /dev/null -H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' \
         "http://127.0.0.1:$PORT/auth/v1.0" | tr -d '\r')
  url=$(sed -n 's/^X-Storage-Url: //Ip' <<<"$hdrs"); tok=$(sed -n 's/^X-Auth-Token: //Ip' <<<"$hdrs")
  [ -n "$tok" ] &&
    curl -sf -X PUT -H "X-Auth-Token: $tok" "$url/ember-readiness-probe" -o /dev/null &&
    curl -sf -X DELETE -H "X-Auth-Token: $tok" "$url/ember-readiness-probe" -o /dev/null
}

wait_ready() {
  local i s
  for i in $(seq 1 150); do
    probe && return 0
    for s in $SERVERS; do
      pid_alive "$RUN/$s.pid" || { log "$s server died; see $LOG/$s.log"; tail -20 "$LOG/$s.log" >&2; return 1; }
    done
    sleep 0.2
  done
  log "not ready after 30 s; see $LOG/"; return 1
}

all_running() { local s; for s in $SERVERS; do pid_alive "$RUN/$s.pid" || return 1; done; }

start() {
  install
  if all_running && probe; then log "already running on 127.0.0.1:$PORT"; return 0; fi
  # storage policies come from /etc/swift/swift.conf at import time (swift_dir only moves
  # the hash settings and rings), so extra policies there would break this cluster
  if grep -qE '^\[storage-policy:[1-9]' /etc/swift/swift.conf 2>/dev/null; then
    log "WARNING: /etc/swift/swift.conf defines storage policies other than 0; they override $ETC/swift.conf"
  fi
  ensure_storage
  write_config
  build_rings
  for s in $SERVERS; do start_one "$s"; done
  wait_ready
  log "ready: auth http://127.0.0.1:$PORT/auth/v1.0 user test:tester key testing"
}

stop() {
  local s pidfiles=()
  for s in $SERVERS; do pidfiles+=("$RUN/$s.pid"); done
  stop_pidfiles "${pidfiles[@]}"   # each server takes 1-2 s to exit; they do so in parallel
}

status() {
  local s rc=0
  for s in $SERVERS; do
    if pid_alive "$RUN/$s.pid"; then echo "$s: running (pid $(cat "$RUN/$s.pid"))"; else echo "$s: stopped"; rc=1; fi
  done
  return $rc
}

purge() {
  stop
  if mountpoint -q "$DEV" 2>/dev/null; then umount "$DEV"; fi
  rm -rf "$BASE/srv" "$ETC" "$RUN" "$LOG" "$BASE/swift-disk.img"
}

run_command "install start stop status purge" "${1:-start}"
