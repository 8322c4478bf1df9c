#!/usr/bin/env bash
# How flowctl-sandbox stops on SIGTERM: milliseconds from the signal to its exit, and the error
# lines it logs meanwhile, for a base binary and this tree's, interleaved, medians of RUNS runs.
# Each run starts every platform, has curl make two requests on one connection and sends SIGTERM
# 0.2 s later (the end-to-end test FailureModeTests holds an idle connection open through the stop).
#   BASE=/work/measure/s16/flowctl-sandbox NEW=.build/debug/flowctl-sandbox RUNS=5 bash benchmarks/sandbox-stop.sh
set -euo pipefail
BASE=${BASE:?the base flowctl-sandbox}
NEW=${NEW:-.build/debug/flowctl-sandbox}
RUNS=${RUNS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

one() {  # $1 binary -> "ms errors"
    "$1" serve --print-env >"$work/env" 2>"$work/err" &
    local pid=$!
    for _ in $(seq 100); do grep -q FLOWCTL_SANDBOX_CA "$work/env" 2>/dev/null && break; sleep 0.05; done
    local url; url=$(sed -n 's/^export XNAT_URL=//p' "$work/env")
    curl -s -o /dev/null "$url/_sandbox/stats" --next -s -o /dev/null --max-time 3 "$url/_sandbox/stats" &
    local curl=$!
    sleep 0.2
    local t0; t0=$(date +%s%N)
    kill -TERM "$pid"; wait "$pid" || true
    local t1; t1=$(date +%s%N)
    kill "$curl" 2>/dev/null || true; wait "$curl" 2>/dev/null || true
    echo "$(( (t1 - t0) / 1000000 )) $(grep -c ' error ' "$work/err" || true)"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: >"$work/base"; : >"$work/new"
for _ in $(seq "$RUNS"); do one "$BASE" >>"$work/base"; one "$NEW" >>"$work/new"; done
bm=$(cut -d' ' -f1 "$work/base" | median); nm=$(cut -d' ' -f1 "$work/new" | median)
be=$(awk '{s+=$2} END {print s}' "$work/base"); ne=$(awk '{s+=$2} END {print s}' "$work/new")
echo "stop after SIGTERM, median of $RUNS: base ${bm} ms ($be error lines in all), new ${nm} ms ($ne error lines in all)"
echo "base runs (ms errors): $(tr '\n' ';' <"$work/base")"
echo "new runs  (ms errors): $(tr '\n' ';' <"$work/new")"
