#!/usr/bin/env bash
# From XNAT to BIDS against flowctl-sandbox (issue #28): what the DICOM-to-BIDS job costs beside
# the script it replaces, and what the official validator says of the outputs.
#
#   benchmarks/bids.sh                      # binaries from .build/debug, 20 subjects, 4 DICOM files per scan, 3 runs
#   BIN=.build/release SUBJECTS=100 DICOM=8 RUNS=5 LATENCY_MS=20 benchmarks/bids.sh
#
# Interleaved, RUNS times, from an empty output folder each time:
#   flowctl   `flowctl run jobs/xnat-dicom-to-bids.yml` on every subject (DICOM -> dcm2niix -> BIDS)
#   xnatpy    benchmarks/python/xnat_dicom_to_bids_xnatpy.py: the same scans pulled with xnatpy
#             (one zip per scan) and converted by the same dcm2niix, one scan after another
# then prints the medians side by side (ratio = xnatpy / flowctl: above 1, flowctl is faster),
# checks that both wrote the same images byte for byte, and times flowctl's no-op re-run,
# `flowctl run jobs/xnat-bids.yml` (NIfTI resources -> BIDS) and the validator on each of
# flowctl's outputs (error and warning counts). Needs dcm2niix, bids-validator-deno in
# $FLOWCTL_BIDS_VENV (default .venv-bids) and makes $VENV (default .venv-bench) with xnatpy.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$REPO/.build/debug}
SUBJECTS=${SUBJECTS:-20}
DICOM=${DICOM:-4}
RUNS=${RUNS:-3}
LATENCY_MS=${LATENCY_MS:-20}
BIDS_VENV=${FLOWCTL_BIDS_VENV:-$REPO/.venv-bids}
VENV=${VENV:-$REPO/.venv-bench}
[ -x "$BIDS_VENV/bin/bids-validator-deno" ] || { echo "no $BIDS_VENV/bin/bids-validator-deno (see scripts/test.sh)"; exit 2; }
command -v dcm2niix >/dev/null || { echo "no dcm2niix (apt-get install dcm2niix)"; exit 2; }
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q -r "$REPO/benchmarks/python/requirements.txt"
ROOT=$(mktemp -d)
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$ROOT"' EXIT
mkdir "$ROOT/jobs" "$ROOT/times"
cp "$REPO/jobs/xnat-bids.yml" "$REPO/jobs/xnat-dicom-to-bids.yml" "$ROOT/jobs/"
"$BIN/flowctl-sandbox" serve --platforms xnat --xnat-subjects "$SUBJECTS" --xnat-dicom-files "$DICOM" \
    --latency-ms "$LATENCY_MS" --print-env >"$ROOT/sandbox.env" 2>/dev/null &
PID=$!
for _ in $(seq 1 100); do [ -s "$ROOT/sandbox.env" ] && break; sleep 0.1; done
set -a; . "$ROOT/sandbox.env"; set +a

seconds() {  # command...: runs it, prints its wall seconds; its output goes to $ROOT/last.log
    local start end
    start=$(date +%s.%N)
    "$@" >"$ROOT/last.log" 2>&1 || { echo "FAILED: $*" >&2; tail -5 "$ROOT/last.log" >&2; exit 1; }
    end=$(date +%s.%N)
    printf "%.2f\n" "$(echo "$end - $start" | bc)"
}
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
dicom_job() { "$BIN/flowctl" run "$ROOT/jobs/xnat-dicom-to-bids.yml" -q --set "select.dicom.subjects=*"; }
images() { (cd "$1" && find sub-* -type f | sort | xargs sha256sum); }

for run in $(seq 1 "$RUNS"); do
    rm -rf "$ROOT/out/xnat-dicom-to-bids" "$ROOT/ref"
    seconds dicom_job >>"$ROOT/times/flowctl"
    seconds "$VENV/bin/python" "$REPO/benchmarks/python/xnat_dicom_to_bids_xnatpy.py" "$ROOT/ref" >>"$ROOT/times/xnatpy"
    echo "run $run: flowctl $(tail -1 "$ROOT/times/flowctl") s, xnatpy + dcm2niix $(tail -1 "$ROOT/times/xnatpy") s" >&2
done
images "$ROOT/out/xnat-dicom-to-bids" >"$ROOT/flowctl.sums"
images "$ROOT/ref" >"$ROOT/xnatpy.sums"
cmp -s "$ROOT/flowctl.sums" "$ROOT/xnatpy.sums" || { echo "the two trees differ:"; diff "$ROOT/flowctl.sums" "$ROOT/xnatpy.sums" | head; exit 1; }

flowctl_s=$(median <"$ROOT/times/flowctl")
xnatpy_s=$(median <"$ROOT/times/xnatpy")
echo
echo "DICOM -> dcm2niix -> BIDS: $SUBJECTS subjects, $(grep -c 'nii.gz' "$ROOT/flowctl.sums") images (the same bytes from both)," \
     "$DICOM DICOM files per scan, $LATENCY_MS ms latency, medians of $RUNS"
printf '%-34s %8s  %s\n' tool "median s" "runs (s)"
printf '%-34s %8.2f  %s\n' "flowctl run" "$flowctl_s" "$(paste -sd' ' "$ROOT/times/flowctl")"
printf '%-34s %8.2f  %s\n' "xnatpy + dcm2niix (script)" "$xnatpy_s" "$(paste -sd' ' "$ROOT/times/xnatpy")"
printf 'ratio xnatpy / flowctl: %.2fx\n\n' "$(echo "$xnatpy_s / $flowctl_s" | bc -l)"

timed() {  # label, command...: wall seconds and flowctl's summary line
    local label=$1; shift
    printf '%-44s %6.2f s   %s\n' "$label" "$(seconds "$@")" "$(grep -E 'done,' "$ROOT/last.log" | tail -1)"
}
validate() {  # folder: seconds, errors, warnings
    local start end
    start=$(date +%s.%N)
    "$BIDS_VENV/bin/bids-validator-deno" --json "$1" >"$ROOT/v.json" 2>/dev/null || true
    end=$(date +%s.%N)
    printf '%-44s %6.2f s   %s\n' "validator $(basename "$1")" "$(echo "$end - $start" | bc)" \
        "$(python3 -c 'import json,sys; i=json.load(open(sys.argv[1]))["issues"]["issues"]; print(sum(x["severity"]=="error" for x in i), "errors,", sum(x["severity"]=="warning" for x in i), "warnings")' "$ROOT/v.json")"
}
timed "xnat-dicom-to-bids re-run (nothing to do)" dicom_job
validate "$ROOT/out/xnat-dicom-to-bids"
timed "xnat-bids (NIfTI, SUBJ_00*)" "$BIN/flowctl" run "$ROOT/jobs/xnat-bids.yml" -q
validate "$ROOT/out/xnat-bids"
