# Shell functions shared by the test-server scripts (scripts/servers/*.sh), sourced by
# each of them:  SERVER=name; source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"
# It lives in lib/ so that .ci/run's scripts/servers/*.sh glob never runs it as a server.
# SERVER names the server in log lines.

log() { echo "[${SERVER:?set SERVER before sourcing common.bash}] $*" >&2; }

# pid_alive PIDFILE: the process the pid file names is running.
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# apt_install PACKAGE...: install without recommends. Waits up to 10 min for the dpkg
# lock (several scripts may install at once under .ci/run or on a shared machine) and
# fetches the package lists only when there are none yet.
apt_install() {
  log "installing $* (apt)"
  [ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null)" ] ||
    apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "$@" >/dev/null
}

# spawn PIDFILE OUTFILE COMMAND...: start COMMAND in the background, detached from the
# terminal, stdout/stderr appended to OUTFILE, and write its pid to PIDFILE. COMMAND must
# stay in the foreground (no daemonizing), so that the pid is the server's own.
spawn() {
  local pidfile=$1 outfile=$2; shift 2
  nohup "$@" >>"$outfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

# wait_up NAME SECONDS LOGFILE PIDFILE CHECK...: run CHECK every 0.1 s until it succeeds.
# Exits the script, saying so with the last lines of LOGFILE, when the process of PIDFILE
# dies first or when SECONDS pass.
wait_up() {
  local name=$1 seconds=$2 logfile=$3 pidfile=$4; shift 4
  local _
  for _ in $(seq 1 $((seconds * 10))); do
    "$@" && return 0
    if ! pid_alive "$pidfile"; then
      log "$name died; last lines of $logfile:"; tail -20 "$logfile" >&2 2>/dev/null; exit 1
    fi
    sleep 0.1
  done
  log "$name not ready after $seconds s (see $logfile)"; exit 1
}

# stop_pidfiles PIDFILE...: SIGTERM every live process named by a pid file, wait up to
# 10 s for them (they exit in parallel), SIGKILL what is left, remove the pid files.
stop_pidfiles() {
  local f pid pids="" alive _
  for f in "$@"; do
    if pid_alive "$f"; then pid=$(cat "$f"); pids="$pids $pid"; kill "$pid" 2>/dev/null || true; fi
  done
  for _ in $(seq 1 100); do
    alive=0; for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break; sleep 0.1
  done
  for pid in $pids; do kill -9 "$pid" 2>/dev/null || true; done
  rm -f "$@"
}

# run_command USAGE_VERBS VERB: call the function named VERB if it is one of the
# space-separated USAGE_VERBS, else print the usage and exit 2.
run_command() {
  local verbs=$1 verb=$2
  case " $verbs " in
    *" $verb "*) "$verb" ;;
    *) echo "usage: $0 ${verbs// /|}" >&2; exit 2 ;;
  esac
}
