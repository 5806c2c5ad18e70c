#!/usr/bin/env bash
# Ember's GlusterFS test server: glusterd (Debian glusterfs-server) with one one-brick
# volume on 127.0.0.1. The tests mount it themselves through the plugin
# (`mount -t glusterfs`, FUSE); `start` also mounts it at $BASE/mnt as a readiness probe.
#
# Usage:  gluster.sh install|start|stop|status     (idempotent; default: start)
# Env:    EMBER_GLUSTER_BASE  base dir (default /tmp/ember-gluster): glusterd state in
#                             $BASE/lib, brick $BASE/bricks/b1, probe mount $BASE/mnt
#         EMBER_GLUSTER_VOL   volume name (default ember); the share is 127.0.0.1:ember
# Only one glusterd can run per machine (port 24007). The gluster CLI refuses 127.0.0.1
# and localhost as a brick host, so the brick uses this machine's hostname when it
# resolves to 127.x, else an /etc/hosts alias "gluster-local".
set -euo pipefail
SERVER=gluster
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

BASE=${EMBER_GLUSTER_BASE:-/tmp/ember-gluster}
VOL=${EMBER_GLUSTER_VOL:-ember}
MNT=$BASE/mnt
LIB=$BASE/lib
BRICK=$BASE/bricks/b1
RUN=$BASE/run
LOG=$BASE/log
GPID=$RUN/glusterd.pid
G="gluster --mode=script"

install() {
  command -v glusterd >/dev/null && command -v mount.glusterfs >/dev/null && return 0
  apt_install glusterfs-server glusterfs-client
}

brick_host() {
  local h; h=$(hostname)
  if [ "$h" != localhost ] && getent ahostsv4 "$h" 2>/dev/null | awk '{print $1}' | grep -q '^127\.'; then
    echo "$h"; return
  fi
  h=gluster-local
  getent ahostsv4 "$h" >/dev/null 2>&1 || { echo "127.0.0.1 $h" >> /etc/hosts; log "added '127.0.0.1 $h' to /etc/hosts"; }
  echo "$h"
}

write_config() {
  cat > "$BASE/glusterd.vol" <<CONF
volume management
    type mgmt/glusterd
    option working-directory $LIB
    option transport-type socket
    option transport.address-family inet
    option transport.socket.bind-address 127.0.0.1
    option transport.socket.listen-port 24007
    option transport.socket.keepalive-time 10
    option transport.socket.keepalive-interval 2
    option transport.socket.read-fail-log off
    option ping-timeout 0
    option event-threads 1
    option base-port 49152
    option max-port 49251
end-volume
CONF
}

brick_online() { $G volume status "$VOL" 2>/dev/null | grep -E '^Brick ' | grep -q ' Y '; }
glusterd_answers() { $G volume list >/dev/null 2>&1; }

# Mounts of this volume whose FUSE client died with the last session (a killed process
# leaves "Transport endpoint is not connected") are detached, so they can be mounted again.
drop_stale_mounts() {
  local m
  for m in $(awk -v v="$VOL" '$3 == "fuse.glusterfs" && ($1 == "127.0.0.1:" v || $1 == "127.0.0.1:/" v) {print $2}' /proc/mounts); do
    stat "$m" >/dev/null 2>&1 || { log "detaching stale mount $m"; umount -l "$m" || true; }
  done
}

start() {
  install
  drop_stale_mounts
  mkdir -p "$LIB" "$BRICK" "$MNT" "$RUN" "$LOG"
  # glusterd wants its hook and group templates inside its working directory
  [ -d "$LIB/groups" ] || cp -r /var/lib/glusterd/groups "$LIB/" 2>/dev/null || true
  [ -d "$LIB/hooks" ] || cp -r /var/lib/glusterd/hooks "$LIB/" 2>/dev/null || true
  write_config
  if ! pid_alive "$GPID"; then
    if port_open 24007; then
      log "port 24007 is busy: another glusterd runs (one per machine); stop it first"; exit 1
    fi
    # -N keeps glusterd in the foreground, so $! is glusterd itself
    spawn "$GPID" "$LOG/glusterd.out" \
      glusterd -N -f "$BASE/glusterd.vol" -p "$GPID" -l "$LOG/glusterd.log" --log-level INFO
  fi
  wait_up glusterd 10 "$LOG/glusterd.log" "$GPID" glusterd_answers
  $G volume info "$VOL" >/dev/null 2>&1 ||
    $G volume create "$VOL" "$(brick_host):$BRICK" force >/dev/null   # force: brick on the root fs
  $G volume info "$VOL" | grep -q '^Status: Started' || $G volume start "$VOL" >/dev/null
  for _ in $(seq 1 100); do brick_online && break; sleep 0.1; done
  # a brick process killed with the last session stays "Started" but offline: restart it
  brick_online || $G volume start "$VOL" force >/dev/null 2>&1 || true
  for _ in $(seq 1 100); do brick_online && break; sleep 0.1; done
  brick_online || { log "brick of $VOL is not online"; exit 1; }
  mountpoint -q "$MNT" || mount -t glusterfs -o log-file="$LOG/mount.log" "127.0.0.1:/$VOL" "$MNT"
  # readiness: a write/read round trip through the FUSE mount
  echo ok > "$MNT/.ready-probe" && [ "$(cat "$MNT/.ready-probe")" = ok ] && rm -f "$MNT/.ready-probe"
  log "ready: volume $VOL (brick $(brick_host):$BRICK), share 127.0.0.1:$VOL, mounted at $MNT"
}

stop() {
  # the plugin's own mounts of this volume (under any mount point) go first
  local m
  for m in $(awk -v v="$VOL" '$3 == "fuse.glusterfs" && ($1 == "127.0.0.1:" v || $1 == "127.0.0.1:/" v) {print $2}' /proc/mounts); do
    umount "$m" 2>/dev/null || umount -l "$m" || true
  done
  if pid_alive "$GPID"; then
    $G volume stop "$VOL" force >/dev/null 2>&1 || true   # kills the brick process
  fi
  stop_pidfiles "$GPID"
  # a brick left behind (glusterd killed without a volume stop)
  local f
  for f in /var/run/gluster/vols/"$VOL"/*.pid; do
    [ -f "$f" ] || continue
    grep -q -- "$BRICK" "/proc/$(cat "$f")/cmdline" 2>/dev/null && kill "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
}

status() {
  if pid_alive "$GPID" && brick_online; then
    echo "glusterd: running (pid $(cat "$GPID")), volume $VOL online, share 127.0.0.1:$VOL"
  else
    echo "glusterd: stopped (or volume $VOL offline)"; return 1
  fi
}

run_command "install start stop status" "${1:-start}"
