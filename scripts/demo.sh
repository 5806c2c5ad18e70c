#!/usr/bin/env bash
# The Ember tour on the embedded default: posix repository + SQLite catalogue under a
# temporary state_path; no config file, no server. Prints every command it runs.
#
#   make demo                  (bootstraps .venv, then runs this)
#   EMBER_DEMO_KEEP=1 make demo   keeps the temporary directory to look around
set -euo pipefail

command -v ember >/dev/null || { echo "demo: no ember on PATH; run 'make demo'" >&2; exit 1; }

DEMO="$(mktemp -d "${TMPDIR:-/tmp}/ember-demo.XXXXXX")"
if [[ -z "${EMBER_DEMO_KEEP:-}" ]]; then
    trap 'rm -rf "$DEMO"' EXIT
fi
MiB=$((1 << 20))

say() { printf '\n# %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
sha_of() { head -c "$2" "$1" | sha256sum | cut -d' ' -f1; }   # sha256 of the first $2 bytes

say "Everything lives in a throw-away state_path; a private HOME keeps any ember.conf out."
for var in $(compgen -e | grep '^OS_' || true); do unset "$var"; done
run export OS_DEFAULT__STATE_PATH="$DEMO/state" HOME="$DEMO/home"
mkdir -p "$HOME"

say "A 64 MiB volume (a sparse image file) with 16 MiB of data and some text."
run ember volume create --size 64M demo-vol
VOL="$(ember volume show demo-vol -f value -c path)"
run dd if=/dev/urandom of="$VOL" bs=1M count=16 conv=notrunc status=none
printf 'Ember demo text block\n%.0s' $(seq 2000) | run dd of="$VOL" bs=1M seek=40 conv=notrunc status=none
SUM_FULL="$(sha_of "$VOL" $((64 * MiB)))"
echo "volume sha256: $SUM_FULL"

say "Full backup (runs in the foreground)."
run ember volume backup create --name demo-full demo-vol -c id -c status -c size -c object_count

say "Change 1 MiB in the middle, then an incremental backup."
run dd if=/dev/urandom of="$VOL" bs=1M count=1 seek=32 conv=notrunc status=none
SUM_INC="$(sha_of "$VOL" $((64 * MiB)))"
echo "volume sha256: $SUM_INC"
run ember volume backup create --incremental --name demo-inc demo-vol \
    -c id -c status -c is_incremental -c parent_id -c object_count

say "Restore each backup into a new volume."
run ember volume backup restore demo-inc demo-restored-inc
run ember volume backup restore demo-full demo-restored-full

say "Verify: each restored volume equals the volume as it was backed up."
status=0
for pair in "demo-restored-full:$SUM_FULL" "demo-restored-inc:$SUM_INC"; do
    name="${pair%%:*}" expected="${pair#*:}"
    got="$(sha_of "$(ember volume show "$name" -f value -c path)" $((64 * MiB)))"
    if [[ "$got" == "$expected" ]]; then
        echo "OK   $name sha256 $got"
    else
        echo "FAIL $name sha256 $got, expected $expected"; status=1
    fi
done

say "The catalogue."
run ember volume backup list
run ember volume list
if [[ -n "${EMBER_DEMO_KEEP:-}" ]]; then
    echo; echo "kept: $DEMO (export OS_DEFAULT__STATE_PATH=$DEMO/state to keep exploring)"
fi
exit $status
