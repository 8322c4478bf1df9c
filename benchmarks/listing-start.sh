#!/usr/bin/env bash
# The serial start of an XNAT pull (issue #27): login, the listing's round trips, planning.
# `flowctl plan` of a job does exactly that and no transfer, so its time is the start's time;
# two builds run interleaved against the same sandboxes, at each latency of LATENCIES.
#
#   FLOWCTL=<new> FLOWCTL_BASELINE=<old> SANDBOX=<flowctl-sandbox> benchmarks/listing-start.sh
#   LATENCIES="20 100" RUNS=7 ...          (defaults)
#   TIMELINE=1 ...                         also one strace'd `run` of the archive job per build
#                                          and latency: when each request went out, from exec
#
#   xnat-dicom  benchmarks/jobs/xnat-dicom-zip.yml on one MR session of $DICOM_SCANS scans x
#               $DICOM_FILES DICOM files (the sandbox of platform-pulls.sh's xnat-dicom)
#   xnat-dwi    jobs/xnat-dwi.yml on the default sandbox (3 subjects, NIFTI of 2 scans each)
#
# Each plan runs in a fresh folder (no earlier output to compare with). Prints medians, the
# baseline / new ratio and the requests the sandbox counted per plan.
set -euo pipefail

RUNS=${RUNS:-7}
LATENCIES=${LATENCIES:-20 100}
DICOM_SCANS=${DICOM_SCANS:-10}
DICOM_FILES=${DICOM_FILES:-300}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
: "${FLOWCTL:?FLOWCTL=<flowctl to measure>}" "${FLOWCTL_BASELINE:?FLOWCTL_BASELINE=<flowctl to compare with>}" "${SANDBOX:?SANDBOX=<flowctl-sandbox>}"

log() { printf '%s\n' "$*" >&2; }
ROOT=$(mktemp -d "${TMPDIR:-/tmp}/flowctl-listing.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$ROOT"; }
trap cleanup EXIT

# $1: name, $2: latency, rest: serve options. Sets URL_<name>.
start() {
    local name=$1 latency=$2; shift 2
    "$SANDBOX" serve --platforms xnat --latency-ms "$latency" "$@" --print-env >"$ROOT/$name.env" 2>"$ROOT/$name.log" &
    PIDS+=($!)
    for _ in $(seq 100); do grep -q XNAT_URL "$ROOT/$name.env" 2>/dev/null && break; sleep 0.1; done
    local url; url=$(sed -n 's/^export XNAT_URL=//p' "$ROOT/$name.env")
    [ -n "$url" ] || { log "sandbox $name did not start:"; cat "$ROOT/$name.log" >&2; exit 1; }
    printf -v "URL_$name" '%s' "$url"
}

now() { date +%s.%N; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
requests() { curl -sf "$1/_sandbox/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])'; }

# One plan of job file $3 with build $1 against $2, in a fresh folder; prints seconds.
plan_once() {
    local bin=$1 url=$2 job=$3 work
    work=$(mktemp -d "$ROOT/run.XXXXXX")
    mkdir -p "$work/jobs" && cp "$job" "$work/jobs/"
    curl -sf -X POST "$url/_sandbox/stats/reset" >/dev/null
    local s e
    s=$(now)
    XNAT_URL=$url XNAT_USER=sandbox XNAT_PASS=sandbox-xnat "$bin" plan "$work/jobs/$(basename "$job")" >"$work/plan.txt" 2>&1 ||
        { log "plan failed ($bin $job):"; tail -5 "$work/plan.txt" >&2; exit 1; }
    e=$(now)
    echo "$(requests "$url")" >>"$ROOT/requests.$4"
    rm -rf "$work"
    awk -v a="$s" -v b="$e" 'BEGIN { printf "%.3f\n", b - a }'
}

# When each request of one `run` went out (ms after exec), the journal's creation, run-started.
timeline() {
    local bin=$1 url=$2 job=$3 work
    work=$(mktemp -d "$ROOT/tl.XXXXXX")
    mkdir -p "$work/jobs" && cp "$job" "$work/jobs/"
    XNAT_URL=$url XNAT_USER=sandbox XNAT_PASS=sandbox-xnat strace -f -tt -e trace=execve,sendto,openat -s 400 -o "$work/st" \
        "$bin" run --quiet "$work/jobs/$(basename "$job")" >/dev/null 2>&1
    python3 - "$work/st" <<'EOF'
import re, sys
t0 = None
seen = set()
for line in open(sys.argv[1]):
    m = re.match(r'\d+\s+(\d+):(\d+):([\d.]+) (.*)', line)
    if not m: continue
    t = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
    rest = m[4]
    if t0 is None and rest.startswith('execve'): t0 = t
    if t0 is None: continue
    r = re.search(r'"(GET|POST|PUT) ([^ ?]*)(\?[^ ]*)? HTTP', rest)
    if r:
        path = re.sub(r'/scans/[^/]+/resources/[^/]+/files', '/scans/{S}/resources/{R}/files', r[2])
        path = re.sub(r'/scans/[^/]+/resources$', '/scans/{S}/resources', path)
        archive = ' (archive)' if 'format=zip' in (r[3] or '') or 'format=tar' in (r[3] or '') else ''
        print(f"  {1000 * (t - t0):8.1f} ms  {r[1]} {path}{archive}")
    elif 'journal.sqlite"' in rest and 'journal' not in seen:
        seen.add('journal'); print(f"  {1000 * (t - t0):8.1f} ms  (journal opened)")
EOF
    rm -rf "$work"
}

printf 'listing start: flowctl plan, medians of %d interleaved runs; load at start: %s\n' "$RUNS" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %-11s %12s %12s %8s %14s\n' latency job "baseline s" "new s" ratio "requests b/n"
for latency in $LATENCIES; do
    start "dicom$latency" "$latency" --xnat-subjects 2 --xnat-scans "$DICOM_SCANS" --xnat-dicom-files "$DICOM_FILES"
    start "dwi$latency" "$latency"
    for job in xnat-dicom xnat-dwi; do
        case $job in
            xnat-dicom) file=$HERE/jobs/xnat-dicom-zip.yml; var="URL_dicom$latency" ;;
            xnat-dwi) file=$REPO/jobs/xnat-dwi.yml; var="URL_dwi$latency" ;;
        esac
        url=${!var}
        : >"$ROOT/base" ; : >"$ROOT/new"; : >"$ROOT/requests.base"; : >"$ROOT/requests.new"
        plan_once "$FLOWCTL" "$url" "$file" new >/dev/null  # warm-up (page cache), not counted
        for _ in $(seq "$RUNS"); do
            plan_once "$FLOWCTL_BASELINE" "$url" "$file" base >>"$ROOT/base"
            plan_once "$FLOWCTL" "$url" "$file" new >>"$ROOT/new"
        done
        b=$(median <"$ROOT/base"); n=$(median <"$ROOT/new")
        awk -v l="$latency ms" -v j="$job" -v b="$b" -v n="$n" -v qb="$(median <"$ROOT/requests.base")" -v qn="$(median <"$ROOT/requests.new")" \
            'BEGIN { printf "%-8s %-11s %12.3f %12.3f %7.2fx %9d/%d\n", l, j, b, n, b / n, qb, qn }'
        printf '         per run, baseline: %s\n' "$(tr '\n' ' ' <"$ROOT/base")"
        printf '         per run, new:      %s\n' "$(tr '\n' ' ' <"$ROOT/new")"
    done
    if [ "${TIMELINE:-0}" = 1 ]; then
        for bin in "$FLOWCTL_BASELINE" "$FLOWCTL"; do
            printf 'timeline at %s ms, %s run of xnat-dicom-zip.yml (strace: slower than without):\n' "$latency" "$bin"
            dicom="URL_dicom$latency"
            timeline "$bin" "${!dicom}" "$HERE/jobs/xnat-dicom-zip.yml" | sed -n '1,40p'
        done
    fi
done
printf 'load at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
