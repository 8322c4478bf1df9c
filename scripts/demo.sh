#!/usr/bin/env bash
# The README's first command: build flowctl, start the sandbox (emulated XNAT, LORIS, Grand
# Challenge and Agora on loopback), run a job against it, and show the tree it made.
#   bash scripts/demo.sh [job file]     (default: jobs/covid-lobes.yml)
set -euo pipefail
cd "$(dirname "$0")/.."
job="${1:-jobs/covid-lobes.yml}"
bash scripts/setup.sh
# One debug build of both products: the demo moves a few MiB, and one debug build (220 s on a
# fresh clone, 2 cores) replaces two release builds (14 min): benchmarks/RESULTS.md, "First run".
# For real pulls, `scripts/install.sh` (release binaries, man page, completions).
echo "demo: building flowctl and flowctl-sandbox (the first build takes a few minutes)" >&2
swift build >&2
bin=.build/debug

env_file=$(mktemp)
"$bin/flowctl-sandbox" serve --print-env >"$env_file" 2>/dev/null &
sandbox=$!
trap 'kill $sandbox 2>/dev/null || true; rm -f "$env_file"' EXIT
for _ in $(seq 100); do grep -q FLOWCTL_SANDBOX_CA "$env_file" 2>/dev/null && break; sleep 0.1; done
# shellcheck disable=SC1090
source "$env_file"
echo "demo: sandbox up (XNAT $XNAT_URL, LORIS $LORIS_URL, Grand Challenge ${GC_URL:-}, Agora ${AGORA_URL:-})" >&2

echo; echo "\$ flowctl plan $job"
"$bin/flowctl" plan "$job"
echo; echo "\$ flowctl run $job"
"$bin/flowctl" run "$job"
echo; echo "\$ flowctl run $job    # again: nothing left to do"
"$bin/flowctl" run "$job"

out=$(grep -E '^\s+to: ' "$job" | head -1 | sed -E 's/^\s+to: *//; s/ *#.*//')
dir="$(cd "$(dirname "$job")" && cd "$(dirname "$out")" && pwd)/$(basename "$out")"
echo; echo "The tree in $dir:"
(cd "$dir" && find . -path ./.flowctl -prune -o -type f -print | sort | head -40)
echo; echo "\$ flowctl verify $dir"
"$bin/flowctl" verify "$dir"
