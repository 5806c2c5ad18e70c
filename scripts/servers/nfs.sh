#!/usr/bin/env bash
# Ember's NFS test server: nfs-ganesha (Debian, FSAL VFS) exporting a local directory
# over NFSv3 (+v4) on 127.0.0.1. This machine's kernel has no NFS client, so the tests
# talk to it from user space through libnfs (the nfs plugin's "userspace" mode).
#
# Usage:  nfs.sh install|start|stop|status     (idempotent; default: start)
# Env:    EMBER_NFS_BASE   base dir (default /tmp/ember-nfs); exported dir = $BASE/export,
#                          served as 127.0.0.1:/export (NFSv3 mount path = v4 pseudo path)
#         EMBER_NFS_PORT   NFS port (default 2049); MOUNT (v3) port 20048
# Two more exports exist for the error tests: 127.0.0.1:/export-ro (read-only, $BASE/ro)
# and 127.0.0.1:/export-full ($BASE/full, a 1 MiB tmpfs, so a share can fill up).
# NFSv3 needs rpcbind; it is one per machine, so a running one is reused. Debian's
# rpcbind 1.2.6 aborts with "-h 127.0.0.1", so it listens on the wildcard address.
set -euo pipefail
SERVER=nfs
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

BASE=${EMBER_NFS_BASE:-/tmp/ember-nfs}
PORT=${EMBER_NFS_PORT:-2049}
MNT_PORT=${EMBER_NFS_MNT_PORT:-20048}
EXPORT=$BASE/export
RO=$BASE/ro
FULL=$BASE/full
RUN=$BASE/run
LOG=$BASE/log
CONF=$BASE/ganesha.conf
GPID=$RUN/ganesha.pid
RPID=$RUN/rpcbind.pid

install() {
  # libnfs-dev: the nfs plugin's [userspace] extra (PyPI libnfs) builds against it, and
  # the Makefile installs that extra only when `pkg-config --exists libnfs` succeeds.
  if command -v ganesha.nfsd >/dev/null && [ -e /usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so ] &&
     command -v rpcbind >/dev/null && command -v nfs-ls >/dev/null &&
     command -v pkg-config >/dev/null && pkg-config --exists libnfs && command -v gcc >/dev/null; then
    return 0
  fi
  apt_install nfs-ganesha nfs-ganesha-vfs libnfs-utils libnfs-dev pkg-config gcc python3-dev
}

# export_block ID DIR PSEUDO ACCESS: one ganesha EXPORT (NFSv3+v4 over TCP, FSAL VFS).
export_block() {
  cat <<CONF
EXPORT {
    Export_Id = $1;
    Path = $2;
    Pseudo = $3;
    Access_Type = $4;
    Squash = No_Root_Squash;
    SecType = sys;
    Protocols = 3, 4;
    Transports = TCP;
    FSAL { Name = VFS; }
}
CONF
}

write_config() {
  cat > "$CONF" <<CONF
NFS_CORE_PARAM {
    Bind_addr = 127.0.0.1;
    NFS_Port = $PORT;
    MNT_Port = $MNT_PORT;
    Protocols = 3, 4;
    Enable_NLM = false;
    Enable_RQUOTA = false;
    Enable_UDP = false;
    mount_path_pseudo = true;   # v3 mount path == v4 pseudo path
}
NFSV4 {
    Graceless = true;           # no 90 s grace period after start
    Lease_Lifetime = 10;
    RecoveryRoot = $BASE/recovery;
    Allow_Numeric_Owners = true;
    Only_Numeric_Owners = true;
}
LOG { Default_Log_Level = EVENT; }
CONF
  { export_block 1 "$EXPORT" /export RW
    export_block 2 "$RO" /export-ro RO
    export_block 3 "$FULL" /export-full RW; } >> "$CONF"
}

start_rpcbind() {
  if port_open 111 && rpcbind_ready; then return 0; fi   # a running rpcbind
  pid_alive "$RPID" && return 0
  rm -f /run/rpcbind.lock /run/rpcbind.sock
  spawn "$RPID" "$LOG/rpcbind.log" rpcbind -f -w
  wait_up rpcbind 5 "$LOG/rpcbind.log" "$RPID" rpcbind_ready
}

rpcbind_ready() { rpcinfo -p 127.0.0.1 >/dev/null 2>&1; }

ready() {
  port_open "$PORT" && rpcinfo -p 127.0.0.1 2>/dev/null | grep -q mountd &&
    grep -q "NFS SERVER INITIALIZED" "$LOG/ganesha.log" 2>/dev/null
}

start() {
  install
  mkdir -p "$EXPORT" "$RO" "$FULL" "$RUN" "$LOG" "$BASE/recovery"
  mountpoint -q "$FULL" || mount -t tmpfs -o size=1m,mode=0755 ember-nfs-full "$FULL"
  write_config
  start_rpcbind
  if ! pid_alive "$GPID"; then
    [ -f "$LOG/ganesha.log" ] && mv -f "$LOG/ganesha.log" "$LOG/ganesha.log.old"
    # -F: foreground, so the pid is ganesha's own
    spawn "$GPID" "$LOG/ganesha.out" \
      ganesha.nfsd -F -f "$CONF" -L "$LOG/ganesha.log" -p "$GPID" -N NIV_EVENT
  fi
  wait_up ganesha 10 "$LOG/ganesha.log" "$GPID" ready
  log "ready: $EXPORT exported as 127.0.0.1:/export (NFSv3, port $PORT)"
}

stop() {
  stop_pidfiles "$GPID"   # first: ganesha unregisters from rpcbind
  if [ -f "$RPID" ]; then stop_pidfiles "$RPID"; rm -f /run/rpcbind.lock /run/rpcbind.sock; fi
  if mountpoint -q "$FULL" 2>/dev/null; then umount "$FULL" || true; fi
}

status() {
  if pid_alive "$GPID" && ready; then
    echo "ganesha: running (pid $(cat "$GPID")), export 127.0.0.1:/export -> $EXPORT"
  else
    echo "ganesha: stopped"; return 1
  fi
}

run_command "install start stop status" "${1:-start}"
