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

log() { echo "[nfs] $*" >&2; }
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

install() {
  # libnfs-dev: the nfs plugin's [userspace] extra (PyPI libnfs) builds against it, and
  # the Makefile installs that extra only when `pkg-config --exists libnfs` succeeds.
  if command -v ganesha.nfsd >/dev/null && [ -e /usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so ] &&
     command -v rpcbind >/dev/null && command -v nfs-ls >/dev/null &&
     command -v pkg-config >/dev/null && pkg-config --exists libnfs && command -v gcc >/dev/null; then
    return 0
  fi
  log "installing nfs-ganesha nfs-ganesha-vfs libnfs-utils libnfs-dev pkg-config gcc (apt)"
  [ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null)" ] ||
    apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends nfs-ganesha nfs-ganesha-vfs libnfs-utils libnfs-dev pkg-config gcc \
    python3-dev >/dev/null
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
EXPORT {
    Export_Id = 1;
    Path = $EXPORT;
    Pseudo = /export;
    Access_Type = RW;
    Squash = No_Root_Squash;
    SecType = sys;
    Protocols = 3, 4;
    Transports = TCP;
    FSAL { Name = VFS; }
}
EXPORT {
    Export_Id = 2;
    Path = $RO;
    Pseudo = /export-ro;
    Access_Type = RO;
    Squash = No_Root_Squash;
    SecType = sys;
    Protocols = 3, 4;
    Transports = TCP;
    FSAL { Name = VFS; }
}
EXPORT {
    Export_Id = 3;
    Path = $FULL;
    Pseudo = /export-full;
    Access_Type = RW;
    Squash = No_Root_Squash;
    SecType = sys;
    Protocols = 3, 4;
    Transports = TCP;
    FSAL { Name = VFS; }
}
LOG { Default_Log_Level = EVENT; }
CONF
}

start_rpcbind() {
  if port_open 111 && rpcinfo -p 127.0.0.1 >/dev/null 2>&1; then return 0; fi   # a running rpcbind
  pid_alive "$RPID" && return 0
  rm -f /run/rpcbind.lock /run/rpcbind.sock
  nohup rpcbind -f -w >>"$LOG/rpcbind.log" 2>&1 </dev/null &
  echo $! > "$RPID"
  for _ in $(seq 1 50); do rpcinfo -p 127.0.0.1 >/dev/null 2>&1 && return 0; sleep 0.1; done
  log "rpcbind did not come up"; cat "$LOG/rpcbind.log" >&2; exit 1
}

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
    nohup ganesha.nfsd -F -f "$CONF" -L "$LOG/ganesha.log" -p "$GPID" -N NIV_EVENT \
      >>"$LOG/ganesha.out" 2>&1 </dev/null &
    echo $! > "$GPID"
  fi
  for _ in $(seq 1 100); do
    if ready; then log "ready: $EXPORT exported as 127.0.0.1:/export (NFSv3, port $PORT)"; return 0; fi
    pid_alive "$GPID" || { log "ganesha died"; grep -vi dbus "$LOG/ganesha.log" | tail -15 >&2; exit 1; }
    sleep 0.1
  done
  log "not ready after 10 s (see $LOG/ganesha.log)"; exit 1
}

kill_wait() {
  local f=$1 pid
  pid_alive "$f" || { rm -f "$f"; return 0; }
  pid=$(cat "$f"); kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$f"
}

stop() {
  kill_wait "$GPID"
  if [ -f "$RPID" ]; then kill_wait "$RPID"; rm -f /run/rpcbind.lock /run/rpcbind.sock; fi
  if mountpoint -q "$FULL" 2>/dev/null; then umount "$FULL" || true; fi
}

status() {
  if pid_alive "$GPID" && ready; then
    echo "ganesha: running (pid $(cat "$GPID")), export 127.0.0.1:/export -> $EXPORT"
  else
    echo "ganesha: stopped"; return 1
  fi
}

case "${1:-start}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
