#!/usr/bin/env bash
# What `flowctl report` costs after a run of N files: a local folder of N one-byte files (100
# per folder) pulled by `flowctl run`, then, RUNS times each, interleaved, `flowctl report DIR`
# (journal + the run's record -> one HTML page) against `flowctl status` on the same journal as
# the reference (it reads the same table). Prints medians, their ratio and the page's size, and
# the size of the run's record (.flowctl/journal.report/).
#   benchmarks/report.sh                          # 1,000 and 10,000 files, 5 runs
#   SIZES=10000 RUNS=3 FLOWCTL=.build/debug/flowctl benchmarks/report.sh
# FLOWCTL=path picks the binary (default: the release build). Needs python3 and GNU time.
set -euo pipefail
RUNS=${RUNS:-5}
SIZES=${SIZES:-"1000 10000"}
HERE=$(cd "$(dirname "$0")" && pwd)
FLOWCTL=${FLOWCTL:-$HERE/../.build/release/flowctl}
[ -x "$FLOWCTL" ] || { echo "build first: swift build -c release --product flowctl (or set FLOWCTL=path)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs GNU time: apt-get install time" >&2; exit 1; }
ROOT=$(mktemp -d)
trap 'rm -rf "$ROOT"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
seconds() { /usr/bin/time -f %e -o "$ROOT/t" "$@" >/dev/null 2>&1; cat "$ROOT/t"; }

printf '%8s %12s %12s %8s %10s %10s\n' files "report s" "status s" ratio "page KiB" "record KiB"
for n in $SIZES; do
    src="$ROOT/src-$n"
    python3 - "$src" "$n" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "sub-%05d" % (i // 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "scan-%02d.dcm" % (i % 100)), "wb") as f:
        f.write(b"x")
PY
    mkdir -p "$ROOT/jobs-$n"
    cat >"$ROOT/jobs-$n/pull.yml" <<YML
flowctl: 1
name: report-bench
sources:
  folder: {type: local, url: $src}
select:
  all: {source: folder, files: {name: "*.dcm"}}
actions:
  pull: {download: all, to: $ROOT/out-$n, layout: "{file.dir}/{file.name}"}
YML
    "$FLOWCTL" run -q "$ROOT/jobs-$n/pull.yml" >/dev/null 2>&1
    : >"$ROOT/report.txt"; : >"$ROOT/status.txt"
    for r in $(seq "$RUNS"); do
        seconds "$FLOWCTL" report "$ROOT/out-$n" -o "$ROOT/page-$n-$r.html" >>"$ROOT/report.txt"
        seconds "$FLOWCTL" status "$ROOT/jobs-$n/pull.yml" --format json >>"$ROOT/status.txt"
    done
    rep=$(median <"$ROOT/report.txt"); sta=$(median <"$ROOT/status.txt")
    page=$(( $(stat -c %s "$ROOT/page-$n-1.html") / 1024 ))
    record=$(( $(du -sb "$ROOT/out-$n/.flowctl/journal.report" | cut -f1) / 1024 ))
    printf '%8s %12s %12s %8s %10s %10s\n' "$n" "$rep" "$sta" "$(awk -v a="$rep" -v b="$sta" 'BEGIN {printf "%.2fx", (b > 0 ? a / b : 0)}')" "$page" "$record"
done
