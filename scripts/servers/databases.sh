#!/usr/bin/env bash
# PostgreSQL (5432), MariaDB (3306) and RabbitMQ (5672) on 127.0.0.1.
# Machines of this project's kind start them before every session and CI run; this
# script only makes sure they are up (starting any that stopped) and says which is not.
# Usage: databases.sh install|start|status   (install: nothing to install here)
set -uo pipefail
SERVER=databases
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

wait_port() {  # name port seconds
    for _ in $(seq 1 "$3"); do port_open "$2" && return 0; sleep 1; done
    echo "$1 did not come up on 127.0.0.1:$2" >&2; return 1
}

start_one() {  # name port command...
    local name=$1 port=$2; shift 2
    if port_open "$port"; then echo "$name: running on 127.0.0.1:$port"; return 0; fi
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "$name: not installed here ($1 missing); its tests will skip (fail under CI=true)" >&2
        return 0
    fi
    echo "$name: starting"
    "$@" >/dev/null 2>&1 || true
    wait_port "$name" "$port" 60
}

case "${1:-start}" in
    install) ;;
    start)
        rc=0
        start_one PostgreSQL 5432 pg_ctlcluster --skip-systemctl-redirect \
            "$(ls /etc/postgresql 2>/dev/null | head -1)" main start || rc=1
        start_one MariaDB 3306 start-stop-daemon --start --oknodo --background \
            --exec /usr/sbin/mariadbd || rc=1
        start_one RabbitMQ 5672 rabbitmq-server -detached || rc=1
        exit $rc ;;
    status)
        for pair in PostgreSQL:5432 MariaDB:3306 RabbitMQ:5672; do
            port_open "${pair#*:}" && echo "${pair%%:*}: up" || echo "${pair%%:*}: down"
        done ;;
    stop) echo "databases.sh does not stop the machine's shared services" ;;
    *) echo "usage: $0 install|start|status" >&2; exit 2 ;;
esac
