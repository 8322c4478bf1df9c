#!/usr/bin/env bash
# XNAT and LORIS pulls against flowctl-sandbox with 20 ms of latency per request (issue #6): the
# scripts users run today, in Python, against `flowctl run` of the job files that replace them.
#
#   benchmarks/platform-pulls.sh                            # 233 candidates, medians of 5
#   RUNS=1 LORIS_CANDIDATES=20 benchmarks/platform-pulls.sh # a quick pass
#
#   preventad  benchmarks/python/preventad_requests.py (seed 000's loop, Python requests, serial)
#              vs flowctl run jobs/preventad-mri.yml
#   xnat-dwi   benchmarks/python/xnat_dwi_xnatpy.py (xnatpy: list and download the selection)
#              vs flowctl run jobs/xnat-dwi.yml
#   xnat-dicom one MR session of $DICOM_SCANS scans x $DICOM_FILES DICOM files (plus each scan's NIfTI),
#              on a sandbox of its own (--xnat-scans, --xnat-dicom-files, 2 subjects):
#              benchmarks/python/xnat_session_xnatpy.py (xnatpy's download_dir: one zip of the session)
#              vs flowctl run benchmarks/jobs/xnat-dicom-zip.yml (archive: zip, one zip per scan)
#              vs flowctl run benchmarks/jobs/xnat-dicom-files.yml (flowctl's per-file pull), same tree
#
# FLOWCTL_BASELINE=<path> adds `flowctl-base` (and `flowctl-base-files`): the xnat-dwi job, the
# xnat-dicom archive job (and per-file job) run by an earlier flowctl, in the same go.
# LATENCY_MS (default 20) is the sandbox's latency per request; SKIP_FILES=1 leaves out the
# per-file pulls of xnat-dicom.
#
# Builds release flowctl and flowctl-sandbox (SCRATCH= picks the build folder; FLOWCTL= and
# SANDBOX= use given binaries instead), makes a venv ($VENV, default .venv-bench) with the pinned
# clients of benchmarks/python/requirements.txt, starts ONE sandbox, and runs the tools
# interleaved, each into a fresh output folder. After every run the tree (relative paths and
# sizes) must equal the first run's: timing different work would be worthless. The trees are
# removed at the end: a full run needs about 21 GB free under $TMPDIR (2 GB per preventad run).
set -euo pipefail

RUNS=${RUNS:-5}
LATENCY_MS=${LATENCY_MS:-20}
LORIS_CANDIDATES=${LORIS_CANDIDATES:-233}
JOBS_FILTER=${JOBS_FILTER:-preventad xnat-dwi xnat-dicom}   # which workloads to time
DICOM_SCANS=${DICOM_SCANS:-10}
DICOM_FILES=${DICOM_FILES:-300}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SCRATCH=${SCRATCH:-$REPO/.build}
VENV=${VENV:-$REPO/.venv-bench}

log() { printf '%s\n' "$*" >&2; }

# MARK: tools

build_tools() {
    if [ -n "${FLOWCTL:-}" ] && [ -n "${SANDBOX:-}" ]; then return; fi
    local product
    for product in flowctl flowctl-sandbox; do
        log "building $product (release, $SCRATCH) ..."
        swift build -c release --scratch-path "$SCRATCH" --product "$product" --package-path "$REPO" \
            >"$ROOT/build-$product.log" 2>&1 || { log "build failed:"; tail -20 "$ROOT/build-$product.log" >&2; exit 1; }
    done
    FLOWCTL=${FLOWCTL:-$SCRATCH/release/flowctl}
    SANDBOX=${SANDBOX:-$SCRATCH/release/flowctl-sandbox}
}

ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating $VENV ..."
        python3 -m venv "$VENV"
    fi
    "$VENV/bin/pip" install -q -r "$HERE/python/requirements.txt" || { log "pip install failed"; exit 1; }
    PYTHON=$VENV/bin/python
}

# MARK: sandbox

start_sandbox() {
    "$SANDBOX" serve --platforms xnat,loris --latency-ms "$LATENCY_MS" --loris-candidates "$LORIS_CANDIDATES" \
        --print-env >"$ROOT/sandbox.env" 2>"$ROOT/sandbox.log" &
    SANDBOX_PID=$!
    for _ in $(seq 100); do grep -q FLOWCTL_SANDBOX_CA "$ROOT/sandbox.env" 2>/dev/null && break; sleep 0.1; done
    grep -q FLOWCTL_SANDBOX_CA "$ROOT/sandbox.env" || { log "sandbox did not start:"; cat "$ROOT/sandbox.log" >&2; exit 1; }
    # XNAT_URL, XNAT_USER, XNAT_PASS, LORIS_URL, LORIS_USER, LORIS_PASS, LORIS_API_VERSION, ...
    # shellcheck disable=SC1091
    . "$ROOT/sandbox.env"
    export XNAT_URL XNAT_USER XNAT_PASS LORIS_URL LORIS_USER LORIS_PASS LORIS_API_VERSION FLOWCTL_SANDBOX_CA
}

# A second XNAT for the DICOM-heavy session (its data shape would change xnat-dwi's selection).
start_dicom_sandbox() {
    "$SANDBOX" serve --platforms xnat --latency-ms "$LATENCY_MS" --xnat-subjects 2 --xnat-scans "$DICOM_SCANS" \
        --xnat-dicom-files "$DICOM_FILES" --print-env >"$ROOT/dicom-sandbox.env" 2>"$ROOT/dicom-sandbox.log" &
    DICOM_SANDBOX_PID=$!
    for _ in $(seq 100); do grep -q XNAT_URL "$ROOT/dicom-sandbox.env" 2>/dev/null && break; sleep 0.1; done
    DICOM_XNAT_URL=$(sed -n 's/^export XNAT_URL=//p' "$ROOT/dicom-sandbox.env")
    [ -n "$DICOM_XNAT_URL" ] || { log "DICOM sandbox did not start:"; cat "$ROOT/dicom-sandbox.log" >&2; exit 1; }
    export DICOM_XNAT_URL
}

stop_sandbox() {
    if [ -n "${SANDBOX_PID:-}" ]; then kill "$SANDBOX_PID" 2>/dev/null || true; wait "$SANDBOX_PID" 2>/dev/null || true; fi
    if [ -n "${DICOM_SANDBOX_PID:-}" ]; then kill "$DICOM_SANDBOX_PID" 2>/dev/null || true; wait "$DICOM_SANDBOX_PID" 2>/dev/null || true; fi
}

# The origin whose /_sandbox/stats counts a workload's requests.
origin_of() { case $1 in preventad) echo "$LORIS_URL" ;; xnat-dwi) echo "$XNAT_URL" ;; xnat-dicom) echo "$DICOM_XNAT_URL" ;; esac; }

# CPU seconds (user + system) the sandbox serving a workload has used so far: the server shares
# the 2 cores with the client here, so its share bounds what any client can reach.
sandbox_pid_of() { case $1 in xnat-dicom) echo "$DICOM_SANDBOX_PID" ;; *) echo "$SANDBOX_PID" ;; esac; }
sandbox_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($14 + $15) / hz }' "/proc/$(sandbox_pid_of "$1")/stat"; }

reset_stats() { curl -sf -X POST "$(origin_of "$1")/_sandbox/stats/reset" >/dev/null; }
request_count() { curl -sf "$(origin_of "$1")/_sandbox/stats" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["requests"])'; }

cleanup() {
    stop_sandbox
    if [ "${KEEP:-0}" = 1 ]; then log "kept $ROOT"; else rm -rf "$ROOT"; fi
}

# MARK: tools under test (each runs in a child bash: the functions are exported)

run_python_preventad() { "$PYTHON" "$HERE/python/preventad_requests.py" "$OUT"; }
run_python_xnat_dwi() { "$PYTHON" "$HERE/python/xnat_dwi_xnatpy.py" "$OUT"; }
run_python_xnat_dicom() { XNAT_URL=$DICOM_XNAT_URL "$PYTHON" "$HERE/python/xnat_session_xnatpy.py" "$OUT"; }

# The job file as a user has it, copied into a fresh workspace: its `to: ../out/...` then lands
# in $WORK/out/... (what the end-to-end tests do too).
run_flowctl() {  # $1: job file name
    mkdir -p "$WORK/jobs"
    cp "$REPO/jobs/$1" "$WORK/jobs/$1"
    "$FLOWCTL" run --quiet "$WORK/jobs/$1"
}

# A job of benchmarks/jobs/ against the DICOM sandbox, the same way.
run_flowctl_dicom() {  # $1: job file name
    mkdir -p "$WORK/jobs"
    cp "$HERE/jobs/$1" "$WORK/jobs/$1"
    XNAT_URL=$DICOM_XNAT_URL "$FLOWCTL" run --quiet "$WORK/jobs/$1"
}

# The same two, with FLOWCTL_BASELINE (before/after a change, interleaved).
run_flowctl_base() {  # $1: job file name
    mkdir -p "$WORK/jobs"
    cp "$REPO/jobs/$1" "$WORK/jobs/$1"
    "$FLOWCTL_BASELINE" run --quiet "$WORK/jobs/$1"
}

run_flowctl_base_dicom() {  # $1: job file name
    mkdir -p "$WORK/jobs"
    cp "$HERE/jobs/$1" "$WORK/jobs/$1"
    XNAT_URL=$DICOM_XNAT_URL "$FLOWCTL_BASELINE" run --quiet "$WORK/jobs/$1"
}

# MARK: measuring

now() { date +%s.%N; }

# median of the numbers on stdin
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# "relative/path size" of every file a tool wrote, sorted; flowctl's own records (journal,
# manifest) are left out. session.json is compared by name only: the seed writes the visit's
# Meta as a Python repr (`str(dict)`), flowctl as JSON, from the same reply.
tree_listing() {
    (cd "$1" && find . -type f ! -path './.flowctl/*' ! -name flowctl-manifest.json ! -name '*.part' -printf '%P %s\n') |
        awk '$1 ~ /(^|\/)session\.json$/ { $2 = "-" } { print }' | LC_ALL=C sort
}

ENTRIES=()  # "tool|workload|command words..."
add_entry() { local IFS='|'; ENTRIES+=("$*"); }

run_entries() {
    local i entry tool workload cmd start end key server_before
    mkdir -p "$ROOT/times" "$ROOT/trees"
    for i in $(seq "$RUNS"); do
        for entry in "${ENTRIES[@]}"; do
            IFS='|' read -r tool workload cmd <<<"$entry"
            cmd=${cmd//|/ }
            key="$tool-$workload"
            export WORK="$ROOT/runs/$key-$i"
            export OUT="$WORK/out"
            case $tool in flowctl*) OUT="$WORK/out/$(flowctl_output "$workload")" ;; esac
            mkdir -p "$OUT"
            sync  # no dirty pages of the previous run to write back during this one
            reset_stats "$workload"
            server_before=$(sandbox_cpu "$workload")
            start=$(now)
            /usr/bin/time -f '%M %U %S' -o "$ROOT/rss" bash -c "$cmd" >"$ROOT/last.log" 2>&1 || {
                log "$tool $workload run $i failed:"; tail -20 "$ROOT/last.log" >&2; exit 1; }
            end=$(now)
            awk -v a="$server_before" -v b="$(sandbox_cpu "$workload")" 'BEGIN { printf "%.2f\n", b - a }' >>"$ROOT/times/$key.server"
            request_count "$workload" >>"$ROOT/times/$key.requests"
            awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }' >>"$ROOT/times/$key"
            awk '{ print int($1 / 1024) }' "$ROOT/rss" >>"$ROOT/times/$key.rss"
            awk '{ printf "%.2f\n", $2 + $3 }' "$ROOT/rss" >>"$ROOT/times/$key.cpu"
            check_tree "$OUT" "$workload" "$tool run $i"
            # Trees stay until the end: ext4 (without a journal) probes past inodes freed in the
            # last ~30 s, so deleting 30,000 files would slow the creates of the next tool's run.
            log "  run $i: $tool $workload $(tail -1 "$ROOT/times/$key") s, $(tail -1 "$ROOT/times/$key.requests") requests"
        done
    done
}

flowctl_output() { case $1 in preventad) echo preventad ;; xnat-dwi) echo xnat-dwi ;; xnat-dicom) echo xnat-dicom ;; esac; }

# The first run of a workload sets the expected tree; every other run (any tool) must match it.
check_tree() {
    local out=$1 workload=$2 what=$3 expected="$ROOT/trees/$2.expected" got="$ROOT/trees/$2.got"
    tree_listing "$out" >"$got"
    if [ ! -s "$got" ]; then log "$what ($workload) wrote no files"; exit 1; fi
    if [ ! -f "$expected" ]; then
        cp "$got" "$expected"
        return
    fi
    if ! cmp -s "$expected" "$got"; then
        log "$what ($workload) wrote a different tree than the first run:"
        diff "$expected" "$got" | head -20 >&2
        exit 1
    fi
}

report() {
    printf '\n%-18s %-10s %7s %10s %8s %8s %9s %9s %9s\n' tool job files "median s" ratio "CPU s" "server s" "peak MiB" requests
    local entry tool workload cmd key secs ref files cpu server rss requests python
    for entry in "${ENTRIES[@]}"; do
        IFS='|' read -r tool workload cmd <<<"$entry"
        key="$tool-$workload"
        python=$( [ "$workload" = preventad ] && echo python || echo xnatpy )
        secs=$(median <"$ROOT/times/$key")
        ref=$(median <"$ROOT/times/$python-$workload")
        files=$(wc -l <"$ROOT/trees/$workload.expected")
        cpu=$(median <"$ROOT/times/$key.cpu")
        server=$(median <"$ROOT/times/$key.server")
        rss=$(sort -n "$ROOT/times/$key.rss" | tail -1)
        requests=$(median <"$ROOT/times/$key.requests")
        awk -v t="$tool" -v w="$workload" -v f="$files" -v s="$secs" -v r="$ref" -v c="$cpu" -v v="$server" -v m="$rss" -v q="$requests" \
            'BEGIN { printf "%-18s %-10s %7d %10.3f %7.2fx %8.2f %9.2f %9d %9d\n", t, w, f, s, r / s, c, v, m, q }'
    done
    if [ -f "$ROOT/times/flowctl-files-xnat-dicom" ]; then
        awk -v a="$(median <"$ROOT/times/flowctl-files-xnat-dicom")" -v b="$(median <"$ROOT/times/flowctl-xnat-dicom")" \
            'BEGIN { printf "\nxnat-dicom: flowctl with archive: zip is %.2fx its own per-file pull (target >= 3x)\n", a / b }'
    fi
    # Before/after a change: the baseline's median time / this build's, per job.
    local pair
    for pair in "flowctl-base flowctl xnat-dwi" "flowctl-base flowctl xnat-dicom" "flowctl-base-files flowctl-files xnat-dicom"; do
        set -- $pair
        if [ -f "$ROOT/times/$1-$3" ] && [ -f "$ROOT/times/$2-$3" ]; then
            awk -v a="$(median <"$ROOT/times/$1-$3")" -v b="$(median <"$ROOT/times/$2-$3")" -v n="$2 $3" \
                'BEGIN { printf "%s: %.3f s with FLOWCTL_BASELINE, %.3f s now: %.3fx\n", n, a, b, a / b }'
        fi
    done
    printf '\nratio: the Python script'"'"'s median time / this tool'"'"'s (flowctl'"'"'s targets: preventad >= 8x, xnat-dwi >= 5x, xnat-dicom >= 2x).\n'
    printf 'Medians of %d interleaved runs; %d ms latency per request; %d LORIS candidates.\n' "$RUNS" "$LATENCY_MS" "$LORIS_CANDIDATES"
    printf '"CPU s": user + system time of the client process; "server s": the sandbox'"'"'s, during the run (same cores); "requests": counted by the sandbox (/_sandbox/stats).\n'
    printf 'Per-run seconds:\n'
    for entry in "${ENTRIES[@]}"; do
        IFS='|' read -r tool workload cmd <<<"$entry"
        printf '  %-18s %-10s %s\n' "$tool" "$workload" "$(tr '\n' ' ' <"$ROOT/times/$tool-$workload")"
    done
    printf 'load average at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
}

main() {
    ROOT=$(mktemp -d "${TMPDIR:-/tmp}/flowctl-pulls.XXXXXX")
    trap cleanup EXIT
    build_tools
    ensure_venv
    start_sandbox
    log "sandbox: LORIS $LORIS_URL, XNAT $XNAT_URL, $LATENCY_MS ms per request; work in $ROOT"
    export ROOT HERE REPO FLOWCTL PYTHON FLOWCTL_BASELINE
    export -f run_python_preventad run_python_xnat_dwi run_python_xnat_dicom run_flowctl run_flowctl_dicom run_flowctl_base run_flowctl_base_dicom
    case " $JOBS_FILTER " in *" xnat-dicom "*) start_dicom_sandbox ;; esac
    local workload
    for workload in $JOBS_FILTER; do
        case $workload in
            preventad)
                add_entry python preventad run_python_preventad
                add_entry flowctl preventad run_flowctl preventad-mri.yml ;;
            xnat-dwi)
                add_entry xnatpy xnat-dwi run_python_xnat_dwi
                add_entry flowctl xnat-dwi run_flowctl xnat-dwi.yml
                if [ -n "${FLOWCTL_BASELINE:-}" ]; then add_entry flowctl-base xnat-dwi run_flowctl_base xnat-dwi.yml; fi ;;
            xnat-dicom)
                add_entry xnatpy xnat-dicom run_python_xnat_dicom
                add_entry flowctl xnat-dicom run_flowctl_dicom xnat-dicom-zip.yml
                # FLOWCTL_BASELINE=<an earlier flowctl>: the same archive job with it, in the same go.
                if [ -n "${FLOWCTL_BASELINE:-}" ]; then add_entry flowctl-base xnat-dicom run_flowctl_base_dicom xnat-dicom-zip.yml; fi
                # SKIP_FILES=1 leaves the per-file pull out (39 s a run at 100 ms of latency).
                if [ "${SKIP_FILES:-0}" != 1 ]; then
                    add_entry flowctl-files xnat-dicom run_flowctl_dicom xnat-dicom-files.yml
                    if [ -n "${FLOWCTL_BASELINE:-}" ]; then add_entry flowctl-base-files xnat-dicom run_flowctl_base_dicom xnat-dicom-files.yml; fi
                fi ;;
            *) log "unknown workload $workload (preventad, xnat-dwi, xnat-dicom)"; exit 1 ;;
        esac
    done
    run_entries
    report
}

# Sourcing the script (". benchmarks/platform-pulls.sh") defines the functions without running.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
