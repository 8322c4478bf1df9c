#!/usr/bin/env bash
# How `flowctl plan` grows with the number of items: a local folder of N one-byte files
# (100 per folder, as imaging trees are: sub-XXXXX/scan-YY.dcm), planned by the real binary and,
# phase by phase, by benchmarks/plan-bench; `find` walks the same tree as the reference.
# Medians of RUNS runs.
#   benchmarks/plan-scale.sh                                   # 1k, 10k, 100k items
#   SIZES="10000 100000 1000000" RUNS=3 benchmarks/plan-scale.sh   # issue #27's sizes
# FLOWCTL=path and PLAN_BENCH=path pick the binaries (release builds); without PLAN_BENCH the
# harness is built into benchmarks/plan-bench/.build; SKIP_PLAN_BENCH=1 leaves the phases out.
# Needs python3 (to make the trees) and GNU time (/usr/bin/time).
set -euo pipefail
RUNS=${RUNS:-5}
SIZES=${SIZES:-"1000 10000 100000"}
HERE=$(cd "$(dirname "$0")" && pwd)
FLOWCTL=${FLOWCTL:-$HERE/../.build/release/flowctl}
[ -x "$FLOWCTL" ] || { echo "build first: swift build -c release --product flowctl (or set FLOWCTL=path)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs GNU time: apt-get install time" >&2; exit 1; }
ROOT=$(mktemp -d)
trap 'rm -rf "$ROOT"' EXIT

if [ "${SKIP_PLAN_BENCH:-0}" != 1 ] && [ -z "${PLAN_BENCH:-}" ]; then
    echo "building benchmarks/plan-bench (release) ..." >&2
    swift build -c release --package-path "$HERE/plan-bench" >"$ROOT/plan-bench-build.log" 2>&1 || {
        echo "plan-bench: build failed (see $ROOT/plan-bench-build.log)" >&2; exit 1; }
    PLAN_BENCH=$HERE/plan-bench/.build/release/plan-bench
fi

# One value of plan-bench's `key=value` line.
field() { tr ' ' '\n' <<<"$phases" | awk -F= -v k="$1" '$1 == k { print $2 }'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# Wall seconds, CPU seconds (user + system) and peak MiB of one run of a command, output discarded.
# Wall time from `date` (GNU time's is in hundredths).
measure() {
    local start end
    start=$(date +%s.%N)
    /usr/bin/time -f '%U %S %M' -o "$ROOT/time" "$@" >/dev/null 2>"$ROOT/stderr" || {
        echo "failed: $* ($(cat "$ROOT/stderr"))" >&2; exit 1; }
    end=$(date +%s.%N)
    awk -v s="$start" -v e="$end" '{ printf "%.4f %.2f %d\n", e - s, $1 + $2, $3 / 1024 }' "$ROOT/time"
}
# Median of each column over RUNS runs of a command.
medians() {
    for _ in $(seq "$RUNS"); do measure "$@"; done >"$ROOT/runs"
    for column in 1 2 3; do awk -v c="$column" '{ print $c }' "$ROOT/runs" | median; done | paste -sd' '
}

printf '%9s %8s %8s %9s %6s %6s %7s %6s %6s %8s %6s %6s | %7s %7s %7s %7s %7s %7s | %7s %7s %7s %6s\n' \
    items find find+st plan-json cpu MiB x-find st-cpu x-cpu after cpu MiB list plan json text dot mermaid list-c plan-c json-c MiB
for n in $SIZES; do
    dir="$ROOT/data-$n"
    python3 - "$dir" "$n" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "sub-%05d" % (i // 100))
    if i % 100 == 0: os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "scan-%02d.dcm" % (i % 100)), "wb") as f: f.write(b"x")
PY
    cat >"$ROOT/job-$n.yml" <<YAML
flowctl: 1
name: scale-$n
sources:
  disk: {type: local, url: data-$n}
select:
  all: {source: disk, files: "*.dcm"}
actions:
  pull: {download: all, to: out-$n, layout: "{file.dir}/{file.stem|upper}{file.ext}"}
YAML
    # Two actions of n items each, the second `after:` the first (a barrier, not n x n edges).
    cat >"$ROOT/after-$n.yml" <<YAML
flowctl: 1
name: after-$n
sources:
  disk: {type: local, url: data-$n}
select:
  all: {source: disk, files: "*.dcm"}
actions:
  first: {download: all, to: first-$n, layout: "{file.dir}/{file.stem|upper}{file.ext}"}
  second: {download: all, to: second-$n, layout: "{file.dir}/{file.stem|upper}{file.ext}", after: [first]}
YAML
    # Warm the kernel's caches once, so that every line below meets the same tree.
    find "$dir" -type f -printf '%s %T@\n' >/dev/null
    read -r find_s _ _ < <(medians find "$dir" -type f)
    read -r stat_s stat_cpu _ < <(medians find "$dir" -type f -printf '%s %T@\n')
    read -r plan_s plan_cpu plan_mib < <(medians "$FLOWCTL" plan "$ROOT/job-$n.yml" --format json)
    read -r after_s after_cpu after_mib < <(medians "$FLOWCTL" plan "$ROOT/after-$n.yml" --format json)
    phases="-"
    if [ "${SKIP_PLAN_BENCH:-0}" != 1 ]; then
        phases=$("$PLAN_BENCH" "$ROOT/job-$n.yml" "$RUNS")
    fi
    printf '%9d %8.4f %8.4f %9.4f %6.2f %6d %6.2fx %6.2f %5.2fx %8.4f %6.2f %6d | %7s %7s %7s %7s %7s %7s | %7s %7s %7s %6s\n' \
        "$n" "$find_s" "$stat_s" "$plan_s" "$plan_cpu" "$plan_mib" "$(awk -v p="$plan_s" -v f="$stat_s" 'BEGIN { print p / f }')" \
        "$stat_cpu" "$(awk -v p="$plan_cpu" -v f="$stat_cpu" 'BEGIN { print (f > 0 ? p / f : 0) }')" \
        "$after_s" "$after_cpu" "$after_mib" \
        "$(field list_s)" "$(field plan_s)" "$(field json_s)" "$(field text_s)" "$(field dot_s)" "$(field mermaid_s)" \
        "$(field list_cpu)" "$(field plan_cpu)" "$(field json_cpu)" "$(field peak_rss_mib)"
    rm -rf "$dir"
done
cat <<'TEXT'

Left of |: wall seconds of `find -type f` (names only), of `find -type f -printf '%s %T@'` (names,
sizes and times: the stat per file a listing needs), and of the whole `flowctl plan --format json`
(start, load the job, list, plan, write JSON to /dev/null) with its CPU seconds, peak MiB and how
many times the stat-ing find it takes; `st-cpu` and `x-cpu`: the CPU seconds of the stat-ing find
and the plan's CPU over them (steadier than wall time when other work shares the cores); `after`: wall seconds and peak MiB of `flowctl plan --format
json` of two download actions of all N items, the second `after:` the first (2N tasks), and its
CPU seconds. Right of |: benchmarks/plan-bench, the same job in one
process, wall seconds per phase (list the folder; plan: layout, duplicate check, skip check
against the disk, task graph; render the plan as JSON, text, dot, Mermaid into memory), then the
CPU seconds of list, plan and JSON (steadier on a shared machine) and the harness's peak MiB.
TEXT
