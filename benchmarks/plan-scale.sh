#!/usr/bin/env bash
# How `flowctl plan` grows with the number of items: a local folder of N empty-ish files,
# listed and planned (layout rendered, paths checked, graph built, JSON written), next to
# `find` walking the same tree as the reference. Medians of RUNS runs.
#   benchmarks/plan-scale.sh                 # 1k, 10k, 100k items
#   SIZES="1000 100000 1000000" benchmarks/plan-scale.sh
set -euo pipefail
RUNS=${RUNS:-5}
SIZES=${SIZES:-"1000 10000 100000"}
HERE=$(cd "$(dirname "$0")" && pwd)
FLOWCTL=${FLOWCTL:-$HERE/../.build/release/flowctl}
[ -x "$FLOWCTL" ] || { echo "build first: swift build -c release --product flowctl" >&2; exit 1; }
ROOT=$(mktemp -d)
trap 'rm -rf "$ROOT"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
seconds() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); awk -v s="$s" -v e="$e" 'BEGIN { printf "%.4f\n", e - s }'; }

printf '%10s %12s %12s %10s %14s\n' items "plan s" "find s" "vs find" "items/s (plan)"
for n in $SIZES; do
    dir="$ROOT/data-$n"
    mkdir -p "$dir"
    # 100 files per folder, as imaging trees are: sub-XXXX/scan-YY.dcm
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
    plan=$(for _ in $(seq "$RUNS"); do seconds "$FLOWCTL" plan "$ROOT/job-$n.yml" --format "${FORMAT:-text}"; done | median)
    ref=$(for _ in $(seq "$RUNS"); do seconds find "$dir" -type f; done | median)
    awk -v n="$n" -v p="$plan" -v f="$ref" 'BEGIN { printf "%10d %12.3f %12.3f %9.1fx %14.0f\n", n, p, f, p / f, n / p }'
    rm -rf "$dir"
done
echo "plan s: wall time of 'flowctl plan --format ${FORMAT:-text}' (list the folder, render 1 path per item, check"
echo "duplicates, build the graph, print JSON); 'vs find': how many times the plain walk it takes."
