#!/usr/bin/env bash
# xfsprogs for the change-tracking tests: they format an XFS image themselves
# (mkfs.xfs -m reflink=1) and loop-mount it as root. Nothing runs, so start/stop are
# no-ops and status says whether the tests can run here.
# Usage: xfs.sh install|start|stop|status|purge
set -uo pipefail
SERVER=xfs
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

case "${1:-start}" in
    install) command -v mkfs.xfs >/dev/null 2>&1 || apt_install xfsprogs ;;
    start|stop) ;;
    status)
        command -v mkfs.xfs >/dev/null 2>&1 && echo "mkfs.xfs: installed" || echo "mkfs.xfs: missing"
        [ -e /dev/loop-control ] && echo "loop devices: available" || echo "loop devices: missing" ;;
    purge) apt-get -o DPkg::Lock::Timeout=600 remove -y -qq xfsprogs >/dev/null ;;
    *) echo "usage: $0 install|start|stop|status|purge" >&2; exit 2 ;;
esac
