#!/usr/bin/env bash
# Two sources of different width in one job (issue #5: per-source `concurrency` under the global
# `--jobs`): a narrow source (concurrency 1) whose files come first in the plan, beside a wide one
# (concurrency 8), both XNAT on flowctl-sandbox with 20 ms of latency per request.
#
#   benchmarks/mixed-sources.sh                                  # this build, medians of 5
#   BASELINE=/path/to/older/flowctl benchmarks/mixed-sources.sh  # and another build, interleaved
#
# Prints, per tool, the median wall time, the run's own time (run-started to run-finished, from
# `--events json`), and when the wide source's first file started and its last one finished.
# A scheduler that lets workers queue behind the narrow source starts the wide one late.
# FLOWCTL= and SANDBOX= use given binaries (default: a release build in .build).
set -euo pipefail

RUNS=${RUNS:-5}
LATENCY_MS=${LATENCY_MS:-20}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
log() { printf '%s\n' "$*" >&2; }

if [ -z "${FLOWCTL:-}" ] || [ -z "${SANDBOX:-}" ]; then
    log "building flowctl and flowctl-sandbox (release) ..."
    swift build -c release --package-path "$REPO" >/dev/null
fi
FLOWCTL=${FLOWCTL:-$REPO/.build/release/flowctl}
SANDBOX=${SANDBOX:-$REPO/.build/release/flowctl-sandbox}

ROOT=$(mktemp -d "${TMPDIR:-/tmp}/flowctl-mixed.XXXXXX")
"$SANDBOX" serve --platforms xnat --latency-ms "$LATENCY_MS" --file-size 64KiB --print-env \
    >"$ROOT/sandbox.env" 2>"$ROOT/sandbox.log" &
SANDBOX_PID=$!
trap 'kill $SANDBOX_PID 2>/dev/null || true; rm -rf "$ROOT"' EXIT
for _ in $(seq 100); do grep -q XNAT_PASS "$ROOT/sandbox.env" 2>/dev/null && break; sleep 0.1; done
# shellcheck disable=SC1091
. "$ROOT/sandbox.env"

# 32 files of subjects 1-2 from the narrow source, 288 of subjects 3-20 from the wide one.
cat >"$ROOT/job.yml.in" <<'EOF'
flowctl: 1
name: mixed-sources
sources:
  narrow: {type: xnat, url: "${env.XNAT_URL}", user: "${env.XNAT_USER}", password: "${env.XNAT_PASS}", concurrency: 1}
  wide: {type: xnat, url: "${env.XNAT_URL}", user: "${env.XNAT_USER}", password: "${env.XNAT_PASS}", concurrency: 8}
select:
  n: {source: narrow, project: testenv, subjects: [SUBJ_001, SUBJ_002], experiments: "*", scans: "*", resource: DICOM}
  w: {source: wide, project: testenv, subjects: {not: [SUBJ_001, SUBJ_002]}, experiments: "*", scans: "*", resource: DICOM}
actions:
  a-narrow: {download: n, to: "@OUT@/n", layout: "{subject.label}/{experiment.label}/{scan.id}/{file.name}"}
  b-wide: {download: w, to: "@OUT@/w", layout: "{subject.label}/{experiment.label}/{scan.id}/{file.name}"}
EOF

tools=(flowctl)
[ -n "${BASELINE:-}" ] && tools+=(baseline)
for i in $(seq "$RUNS"); do
    for tool in "${tools[@]}"; do
        binary=$FLOWCTL
        [ "$tool" = baseline ] && binary=$BASELINE
        out="$ROOT/out-$tool-$i"  # a fresh folder: nothing is skipped
        sed "s|@OUT@|$out|" "$ROOT/job.yml.in" >"$out.yml"
        start=$(date +%s.%N)
        "$binary" run "$out.yml" -q --events json >"$out.ndjson" 2>"$out.log" || { log "$tool run $i failed:"; tail -3 "$out.log" >&2; exit 1; }
        end=$(date +%s.%N)
        python3 - "$out.ndjson" "$start" "$end" >>"$ROOT/$tool.times" <<'PY'
import json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
t0 = events[0]["time"]
def times(event, action):
    return [e["time"] - t0 for e in events if e.get("event") == event and e.get("action") == action]
finished = [e["time"] - t0 for e in events if e.get("event") == "run-finished"]
print(f'{float(sys.argv[3]) - float(sys.argv[2]):.3f} {finished[0]:.3f} '
      f'{min(times("started", "b-wide")):.3f} {max(times("finished", "b-wide")):.3f}')
PY
        log "  run $i: $tool $(tail -1 "$ROOT/$tool.times")"
    done
done

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
column() { awk -v c="$2" '{ print $c }' "$ROOT/$1.times" | median; }
printf '\n%-10s %10s %10s %10s %10s %12s\n' tool "wall s" "run s" "wide first" "wide last" "vs baseline"
for tool in "${tools[@]}"; do
    printf '%-10s' "$tool"
    for c in 1 2 3 4; do printf ' %10.3f' "$(column "$tool" "$c")"; done
    # The baseline's median wall time over this tool's (above 1: this build is faster).
    [ -n "${BASELINE:-}" ] && printf ' %11.2fx' "$(awk -v b="$(column baseline 1)" -v t="$(column "$tool" 1)" 'BEGIN { print b / t }')"
    printf '\n'
done
printf '\nMedians of %d interleaved runs; "wide first"/"wide last": seconds after run-started when the\nwide source'"'"'s first file started and its last one finished (the narrow source alone needs ~0.7 s).\n' "$RUNS"
