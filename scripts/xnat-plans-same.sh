#!/usr/bin/env bash
# Whether two flowctl builds plan and lock every XNAT job byte for byte the same (a listing
# change must change round trips only): `flowctl plan --format json` and `flowctl lock` (every
# item's id, URL, size, checksums and fields) of each XNAT job in jobs/ and benchmarks/jobs/, and
# of each jobs/ one again with `resource: "*"` (every resource of every scan it selects), by both
# builds against one sandbox (--xnat-scans 6 --xnat-dicom-files 5).
#
#   scripts/xnat-plans-same.sh <flowctl A> <flowctl B> <flowctl-sandbox>
set -euo pipefail
A=$1 B=$2 SANDBOX=$3
REPO=$(cd "$(dirname "$0")/.." && pwd)
ROOT=$(mktemp -d "${TMPDIR:-/tmp}/flowctl-plans.XXXXXX")
"$SANDBOX" serve --platforms xnat --xnat-scans 6 --xnat-dicom-files 5 --print-env >"$ROOT/env" 2>"$ROOT/log" &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$ROOT"' EXIT
for _ in $(seq 100); do grep -q XNAT_URL "$ROOT/env" 2>/dev/null && break; sleep 0.1; done
# shellcheck disable=SC1091
. "$ROOT/env"
export XNAT_URL XNAT_USER XNAT_PASS FLOWCTL_SANDBOX_CA

failed=0 compared=0
# $1: job file, rest: extra plan options
compare() {
    local job=$1; shift
    mkdir -p "$ROOT/w/jobs" && cp "$job" "$ROOT/w/jobs/"
    local file="$ROOT/w/jobs/$(basename "$job")"
    local lock="${file%.yml}.lock.json"
    "$A" plan --format json "$@" "$file" >"$ROOT/a.json" 2>"$ROOT/a.err" || true
    "$A" lock "$@" "$file" >/dev/null 2>>"$ROOT/a.err" && cat "$lock" >>"$ROOT/a.json"
    rm -f "$lock"
    "$B" plan --format json "$@" "$file" >"$ROOT/b.json" 2>"$ROOT/b.err" || true
    "$B" lock "$@" "$file" >/dev/null 2>>"$ROOT/b.err" && cat "$lock" >>"$ROOT/b.json"
    local items; items=$(grep -c '"url"' "$ROOT/a.json" || true)
    compared=$((compared + 1))
    if cmp -s "$ROOT/a.json" "$ROOT/b.json" && cmp -s "$ROOT/a.err" "$ROOT/b.err"; then
        printf 'same      %-32s %s (%d URLs locked)\n' "$(basename "$job")" "$*" "$items"
    else
        printf 'DIFFERENT %-32s %s\n' "$(basename "$job")" "$*"; diff "$ROOT/a.json" "$ROOT/b.json" | head -10; failed=1
    fi
    rm -rf "$ROOT/w"
}

for job in "$REPO"/jobs/*.yml "$REPO"/benchmarks/jobs/xnat-dicom-*.yml; do
    grep -q 'type: xnat' "$job" || continue
    compare "$job"
    case $job in "$REPO"/jobs/*)
        for sel in $(awk '/^select:/ { s = 1; next } s && /^[a-z]/ { s = 0 } s && /^  [a-z_]+:/ { sub(":", "", $1); print $1 }' "$job"); do
            compare "$job" --set "select.$sel.resource=*"
        done ;;
    esac
done
echo "$compared plans compared"
exit $failed
