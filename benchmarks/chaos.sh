#!/usr/bin/env bash
# Chaos: kill `flowctl run` at random moments during a pull, then let it finish, and count what
# the kills cost (issue #23, item 3).
#
#   benchmarks/chaos.sh                          # 20 SIGKILLs, binaries from .build/release
#   benchmarks/chaos.sh .build/debug             # binaries from another build folder
#   N=5 SEED=7 benchmarks/chaos.sh               # 5 kills, other random moments
#   MODE=term benchmarks/chaos.sh                # SIGTERM instead: each run must stop cleanly
#
# Two `flowctl-sandbox serve` processes on loopback, both XNAT, every file body capped at BPS
# bytes/s per connection (`--slow-body-bps`, default 1 MB/s): "small" serves 16 DICOM files
# per subject of SMALL_SIZE (default 32KiB..4MiB, SMALL_SUBJECTS=4: 64 files), "large" serves the
# 8 NIFTI files of one subject of LARGE_SIZE (default 8MiB..32MiB). One job pulls both into a
# fresh folder. `flowctl run` is started N times and killed after a random delay between
# KILL_MIN and KILL_MAX seconds (drawn from SEED: the same SEED gives the same moments); a run
# that ends by itself before its kill is counted, not killed. Then one last run completes the
# pull, and `flowctl verify` checks both output folders against their manifests.
#
# How to read the output (one `key: value` line each, then PASS/FAIL lines):
#   files, data bytes      what the plan holds: the number of files and the sum of their sizes
#   kills delivered        signals that hit a running `flowctl run` (of N)
#   bytes served           file body bytes the sandboxes sent, over all runs (their
#                          `fileBytesServed` counter: downloads only, listings left out)
#   re-fetched bytes       served - data: bytes sent again because a kill threw them away,
#                          and the ratio re-fetched / data
#   whole answers          GETs answered 200 from byte 0 and sent to the end (a file fetched
#                          whole; an answer a kill cut short is not counted)
#   files fetched whole 2+ files answered whole more than once (the sandboxes'
#                          `pathsAnsweredWholeAgain`), with the worst count
#   files                  planned files found intact (size and the listing's MD5, checked here,
#                          not by flowctl), missing, corrupt, and files nobody planned
#   small/large source     the same per source: small files (<= 4 MiB: unnamed files today)
#                          and large ones (`.part` files, resumed with Range: 206 answers)
#   verify                 the last line of `flowctl verify` per folder, and its exit status
#                          (`extra` there: a file on disk that the manifest does not name)
#   final run              the exit status of the completing run (0 expected)
#   MODE=term also checks  every SIGTERM'd run exited 130 and printed its summary line
# Targets (issue #23): 0 files lost or corrupt, re-fetched < 5 % of data, no file fetched
# whole twice. The PASS/FAIL lines say which hold; the exit status is 0 only when all do.
#
# Everything stays on 127.0.0.1; the work folder (printed, under $TMPDIR) is fresh per run and
# kept for inspection (logs, stats, the job) unless KEEP=0.
set -euo pipefail

BUILD=${1:-.build/release}
N=${N:-20}
MODE=${MODE:-kill}
SEED=${SEED:-1}
BPS=${BPS:-1000000}
KILL_MIN=${KILL_MIN:-1.0}
KILL_MAX=${KILL_MAX:-4.0}
SMALL_SUBJECTS=${SMALL_SUBJECTS:-4}
SMALL_SIZE=${SMALL_SIZE:-32KiB..4MiB}
LARGE_SUBJECTS=${LARGE_SUBJECTS:-1}
LARGE_SIZE=${LARGE_SIZE:-8MiB..32MiB}
FINAL_TIMEOUT=${FINAL_TIMEOUT:-900}
KEEP=${KEEP:-1}
log() { printf '%s\n' "$*" >&2; }

case "$MODE" in
    kill) SIGNAL=KILL ;;
    term) SIGNAL=TERM ;;
    *) log "MODE must be kill or term, not '$MODE'"; exit 2 ;;
esac
FLOWCTL=$(cd "$BUILD" && pwd)/flowctl
SANDBOX=$(cd "$BUILD" && pwd)/flowctl-sandbox
for binary in "$FLOWCTL" "$SANDBOX"; do
    [ -x "$binary" ] || { log "no $binary: build first (swift build -c release)"; exit 2; }
done
command -v python3 >/dev/null || { log "python3 is needed"; exit 2; }
command -v curl >/dev/null || { log "curl is needed"; exit 2; }

ROOT=$(mktemp -d "${TMPDIR:-/tmp}/flowctl-chaos.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [ "$KEEP" = 0 ]; then rm -rf "$ROOT"; else log "work folder kept: $ROOT"; fi
}
trap cleanup EXIT
log "chaos: MODE=$MODE N=$N SEED=$SEED BPS=$BPS, work folder $ROOT"

# Starts one sandbox; its `export NAME=value` lines land in $ROOT/<name>.env.
start_sandbox() {
    local name=$1 size=$2 subjects=$3
    "$SANDBOX" serve --host 127.0.0.1 --platforms xnat --seed "$SEED" --file-size "$size" \
        --xnat-subjects "$subjects" --slow-body-bps "$BPS" --print-env \
        >"$ROOT/$name.env" 2>"$ROOT/$name.log" &
    PIDS+=($!)
    for _ in $(seq 300); do grep -q XNAT_PASS "$ROOT/$name.env" 2>/dev/null && return 0; sleep 0.1; done
    log "sandbox $name did not start:"; tail -5 "$ROOT/$name.log" >&2; exit 1
}
start_sandbox small "$SMALL_SIZE" "$SMALL_SUBJECTS"
start_sandbox large "$LARGE_SIZE" "$LARGE_SUBJECTS"
env_of() { (set +u; . "$ROOT/$1.env"; eval "printf '%s' \"\$$2\""); }
export SMALL_URL LARGE_URL SMALL_USER LARGE_USER SMALL_PASS LARGE_PASS
SMALL_URL=$(env_of small XNAT_URL); SMALL_USER=$(env_of small XNAT_USER); SMALL_PASS=$(env_of small XNAT_PASS)
LARGE_URL=$(env_of large XNAT_URL); LARGE_USER=$(env_of large XNAT_USER); LARGE_PASS=$(env_of large XNAT_PASS)
case "$SMALL_URL$LARGE_URL" in *127.0.0.1*127.0.0.1*) ;; *) log "sandbox URLs are not loopback"; exit 1 ;; esac

OUT=$ROOT/out
JOB=$ROOT/chaos.yml
cat >"$JOB" <<EOF
flowctl: 1
name: chaos
sources:
  small: {type: xnat, url: "\${env.SMALL_URL}", user: "\${env.SMALL_USER}", password: "\${env.SMALL_PASS}", concurrency: 8}
  large: {type: xnat, url: "\${env.LARGE_URL}", user: "\${env.LARGE_USER}", password: "\${env.LARGE_PASS}", concurrency: 4}
select:
  s: {source: small, project: testenv, subjects: "*", experiments: "*", scans: "*", resource: DICOM}
  l: {source: large, project: testenv, subjects: "*", experiments: "*", scans: "*", resource: NIFTI}
actions:
  small: {download: s, to: "$OUT/small", layout: "{subject.label}/{scan.id}/{file.name}"}
  large: {download: l, to: "$OUT/large", layout: "{subject.label}/{scan.id}/{file.name}"}
EOF

# What the pull holds: files and bytes, from the plan (nothing is downloaded yet).
"$FLOWCTL" plan "$JOB" --format json >"$ROOT/plan.json" 2>"$ROOT/plan.log" || {
    log "flowctl plan failed:"; tail -5 "$ROOT/plan.log" >&2; exit 1; }
read -r FILES DATA_BYTES < <(python3 - "$ROOT/plan.json" <<'PY'
import json, sys
tasks = [t for t in json.load(open(sys.argv[1]))["tasks"] if "item" in t]
print(len(tasks), sum(t.get("bytes", 0) for t in tasks))
PY
)
[ "$FILES" -gt 0 ] || { log "the plan holds no files"; exit 1; }
log "pull: $FILES files, $DATA_BYTES bytes"

# The kill moments (milliseconds after each start), seeded.
mapfile -t DELAYS < <(python3 -c "
import random; r = random.Random($SEED)
for _ in range($N): print(round(1000 * r.uniform($KILL_MIN, $KILL_MAX)))")
now_ms() { echo $(($(date +%s%N) / 1000000)); }

delivered=0; ended_early=0; term_bad=0
for i in $(seq "$N"); do
    delay=${DELAYS[$((i - 1))]}
    log_file=$ROOT/run-$i.log
    "$FLOWCTL" run "$JOB" -q >"$log_file" 2>&1 &
    run_pid=$!
    # Sleep the delay unless the run ends first (poll every 0.02 s).
    deadline=$(($(now_ms) + delay))
    while kill -0 "$run_pid" 2>/dev/null && [ "$(now_ms)" -lt "$deadline" ]; do sleep 0.02; done
    if ! kill -0 "$run_pid" 2>/dev/null; then
        status=0; { wait "$run_pid"; } 2>/dev/null || status=$?  # (no "Killed" line from bash)
        ended_early=$((ended_early + 1))
        log "  run $i: ended by itself before its kill at ${delay} ms (exit $status)"
        continue
    fi
    kill -s "$SIGNAL" "$run_pid" 2>/dev/null || true
    delivered=$((delivered + 1))
    if [ "$MODE" = term ]; then
        # A clean stop is bounded: 30 s, then SIGKILL and a failure.
        for _ in $(seq 300); do kill -0 "$run_pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$run_pid" 2>/dev/null; then
            kill -KILL "$run_pid" 2>/dev/null || true
            log "  run $i: still running 30 s after SIGTERM; killed"
        fi
        status=0; { wait "$run_pid"; } 2>/dev/null || status=$?
        summary=$(grep -c 'interrupted: partial files are kept' "$log_file" || true)
        if [ "$status" != 130 ] || [ "$summary" = 0 ]; then
            term_bad=$((term_bad + 1))
            log "  run $i: SIGTERM at ${delay} ms -> exit $status, summary line $([ "$summary" = 0 ] && echo missing || echo printed): $(tail -1 "$log_file")"
        else
            log "  run $i: SIGTERM at ${delay} ms -> exit 130, $(grep -m1 ' done, ' "$log_file")"
        fi
    else
        status=0; { wait "$run_pid"; } 2>/dev/null || status=$?
        log "  run $i: SIGKILL at ${delay} ms (exit $status)"
    fi
done

log "final run ..."
final_status=0
timeout "$FINAL_TIMEOUT" "$FLOWCTL" run "$JOB" -q >"$ROOT/final.log" 2>&1 || final_status=$?
log "  $(grep -m1 ' done, ' "$ROOT/final.log" || tail -1 "$ROOT/final.log")"

verify_status=0; verify_lines=()
for folder in small large; do
    status=0
    "$FLOWCTL" verify "$OUT/$folder" >"$ROOT/verify-$folder.log" 2>&1 || status=$?
    [ "$status" = 0 ] || verify_status=$status
    verify_lines+=("$folder: $(tail -1 "$ROOT/verify-$folder.log") (exit $status)")
done
# Independently of flowctl's manifest: every planned file present, of its size and MD5 (the
# listing's digest), and no other file beside them.
read -r GOOD MISSING CORRUPT UNPLANNED < <(python3 - "$ROOT/plan.json" "$OUT" <<'PY'
import hashlib, json, os, sys
plan, out = json.load(open(sys.argv[1])), sys.argv[2]
good = missing = corrupt = 0
expected = set()
for task in plan["tasks"]:
    if "item" not in task:
        continue
    path = os.path.join(out, task["action"], task["path"])
    expected.add(path)
    if not os.path.isfile(path):
        missing += 1
        print("missing", path, file=sys.stderr)
        continue
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "md5").hexdigest()
    want = task["item"].get("checksums", {}).get("md5")
    if os.path.getsize(path) != task["item"]["size"] or (want and digest != want):
        corrupt += 1
        print("corrupt", path, file=sys.stderr)
    else:
        good += 1
unplanned = 0
for folder, dirs, files in os.walk(out):
    dirs[:] = [d for d in dirs if d != ".flowctl"]
    for name in files:
        path = os.path.join(folder, name)
        if name != "flowctl-manifest.json" and path not in expected:
            unplanned += 1
            print("unplanned", path, file=sys.stderr)
print(good, missing, corrupt, unplanned)
PY
)

curl -sf "$SMALL_URL/_sandbox/stats" >"$ROOT/stats-small.json"
curl -sf "$LARGE_URL/_sandbox/stats" >"$ROOT/stats-large.json"
read -r SERVED WHOLE AGAIN WORST < <(python3 - "$ROOT/stats-small.json" "$ROOT/stats-large.json" <<'PY'
import json, sys
stats = [json.load(open(p)) for p in sys.argv[1:]]
again = [n for s in stats for n in s["pathsAnsweredWholeAgain"].values()]
print(sum(s["fileBytesServed"] for s in stats), sum(s["wholeFileAnswers"] for s in stats),
      len(again), max(again, default=1))
PY
)
# The same per source: small files (unnamed files today) and large ones (`.part` files).
python3 - "$ROOT/plan.json" "$ROOT/stats-small.json" "$ROOT/stats-large.json" >"$ROOT/per-source.txt" <<'PY'
import json, sys
tasks = [t for t in json.load(open(sys.argv[1]))["tasks"] if "item" in t]
for name, path in (("small", sys.argv[2]), ("large", sys.argv[3])):
    s = json.load(open(path))
    files = [t for t in tasks if t["action"] == name]
    data = sum(t["bytes"] for t in files)
    served = s["fileBytesServed"]
    print(f'{name + " source":<24} {len(files)} files, {data} data bytes, {served} served, '
          f'{served - data} re-fetched ({100 * (served - data) / max(data, 1):.1f} %), '
          f'{s["wholeFileAnswers"]} whole answers, {len(s["pathsAnsweredWholeAgain"])} files fetched whole 2+, '
          f'{s["statuses"].get("206", 0)} ranged (206) answers')
PY
REFETCHED=$((SERVED - DATA_BYTES))
RATIO=$(python3 -c "print(f'{100 * $REFETCHED / $DATA_BYTES:.1f}')")

printf '\n'
printf '%-24s %s\n' "mode" "$MODE (SIG$SIGNAL), seed $SEED, kills after ${KILL_MIN}-${KILL_MAX} s, $BPS B/s per connection"
printf '%-24s %s\n' "files" "$FILES planned: $GOOD intact, $MISSING missing, $CORRUPT corrupt (size or MD5), $UNPLANNED unplanned files beside them"
printf '%-24s %s\n' "data bytes" "$DATA_BYTES"
printf '%-24s %s\n' "kills delivered" "$delivered of $N ($ended_early runs ended by themselves first)"
printf '%-24s %s\n' "bytes served" "$SERVED"
printf '%-24s %s\n' "re-fetched bytes" "$REFETCHED ($RATIO % of data)"
printf '%-24s %s\n' "whole answers" "$WHOLE (for $FILES files)"
printf '%-24s %s\n' "files fetched whole 2+" "$AGAIN (worst: $WORST times)"
cat "$ROOT/per-source.txt"
for line in "${verify_lines[@]}"; do printf '%-24s %s\n' "verify" "$line"; done
printf '%-24s %s\n' "final run" "exit $final_status"
[ "$MODE" = term ] && printf '%-24s %s\n' "SIGTERM runs not clean" "$term_bad of $delivered"

ok=0
check() { if eval "$2"; then printf 'PASS  %s\n' "$1"; else printf 'FAIL  %s\n' "$1"; ok=1; fi; }
check "final run completed (exit 0)" '[ "$final_status" = 0 ]'
check "0 files lost or corrupt ($GOOD of $FILES intact)" '[ "$GOOD" = "$FILES" ] && [ "$UNPLANNED" = 0 ]'
check "verify clean in both folders (every file in the manifest, none changed)" '[ "$verify_status" = 0 ]'
check "re-fetched < 5 % of data" 'python3 -c "import sys; sys.exit(0 if $REFETCHED < 0.05 * $DATA_BYTES else 1)"'
check "no file fetched whole twice" '[ "$AGAIN" = 0 ]'
[ "$MODE" = term ] && check "every SIGTERM'd run exited 130 with its summary" '[ "$term_bad" = 0 ]'
exit "$ok"
