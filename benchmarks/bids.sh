#!/usr/bin/env bash
# From XNAT to BIDS against flowctl-sandbox (issue #28): what the two BIDS jobs cost, and what
# the official validator says of their output.
#
#   benchmarks/bids.sh                      # binaries from .build/debug, 20 subjects, 4 DICOM files per scan
#   BIN=.build/release SUBJECTS=100 DICOM=8 benchmarks/bids.sh
#
# Prints one line per step: wall seconds of `flowctl run jobs/xnat-bids.yml` (NIfTI -> BIDS),
# of `flowctl run jobs/xnat-dicom-to-bids.yml` on every subject (DICOM -> dcm2niix -> BIDS), of
# its no-op re-run, and of the validator on each output (its error and warning counts). Needs
# dcm2niix, and bids-validator-deno in $FLOWCTL_BIDS_VENV (default .venv-bids).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$REPO/.build/debug}
SUBJECTS=${SUBJECTS:-20}
DICOM=${DICOM:-4}
VENV=${FLOWCTL_BIDS_VENV:-$REPO/.venv-bids}
[ -x "$VENV/bin/bids-validator-deno" ] || { echo "no $VENV/bin/bids-validator-deno (see scripts/test.sh)"; exit 2; }
ROOT=$(mktemp -d)
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$ROOT"' EXIT
mkdir "$ROOT/jobs"
cp "$REPO/jobs/xnat-bids.yml" "$REPO/jobs/xnat-dicom-to-bids.yml" "$ROOT/jobs/"
"$BIN/flowctl-sandbox" serve --platforms xnat --xnat-subjects "$SUBJECTS" --xnat-dicom-files "$DICOM" --print-env \
    >"$ROOT/sandbox.env" 2>/dev/null &
PID=$!
for _ in $(seq 1 100); do [ -s "$ROOT/sandbox.env" ] && break; sleep 0.1; done
set -a; . "$ROOT/sandbox.env"; set +a

timed() {  # label, command...: wall seconds
    local label=$1; shift
    local start end
    start=$(date +%s.%N)
    "$@" >"$ROOT/last.log" 2>&1 || { echo "$label: FAILED"; tail -5 "$ROOT/last.log"; exit 1; }
    end=$(date +%s.%N)
    printf '%-44s %6.2f s   %s\n' "$label" "$(echo "$end - $start" | bc)" "$(grep -E 'done,' "$ROOT/last.log" | tail -1)"
}
validate() {  # folder: seconds, errors, warnings
    local start end
    start=$(date +%s.%N)
    "$VENV/bin/bids-validator-deno" --json "$1" >"$ROOT/v.json" 2>/dev/null || true
    end=$(date +%s.%N)
    printf '%-44s %6.2f s   %s\n' "validator $(basename "$1")" "$(echo "$end - $start" | bc)" \
        "$(python3 -c 'import json,sys; i=json.load(open(sys.argv[1]))["issues"]["issues"]; print(sum(x["severity"]=="error" for x in i), "errors,", sum(x["severity"]=="warning" for x in i), "warnings")' "$ROOT/v.json")"
}

timed "xnat-bids (NIfTI, SUBJ_00*)" "$BIN/flowctl" run "$ROOT/jobs/xnat-bids.yml" -q
validate "$ROOT/out/xnat-bids"
timed "xnat-dicom-to-bids ($SUBJECTS subjects, convert)" "$BIN/flowctl" run "$ROOT/jobs/xnat-dicom-to-bids.yml" -q \
    --set "select.dicom.subjects=*"
timed "xnat-dicom-to-bids re-run (nothing to do)" "$BIN/flowctl" run "$ROOT/jobs/xnat-dicom-to-bids.yml" -q \
    --set "select.dicom.subjects=*"
validate "$ROOT/out/xnat-dicom-to-bids"
echo "conversions: $(find "$ROOT/out/xnat-dicom-to-bids" -name '*.nii.gz' -not -path '*/sourcedata/*' | wc -l) images," \
     "$(du -sh "$ROOT/out/xnat-dicom-to-bids/sourcedata" | cut -f1) of DICOM under sourcedata/"
