#!/usr/bin/env bash
# Uploads to flowctl-sandbox's Grand Challenge, Agora and XNAT (issue #27, item 2): flowctl
# against each platform's Python client, on one big file and on many small ones.
#
#   benchmarks/uploads.sh                  # 1 x 1 GiB and 1,000 x 256 KiB, medians of 3
#   QUICK=1 benchmarks/uploads.sh          # RUNS=1, 1 x 64 MiB and 100 x 256 KiB: trying it
#   HUGE_GIB=10 WORKLOADS=huge TOOLS=flowctl PLATFORMS=gc benchmarks/uploads.sh
#                                          # one sparse 10 GiB file: flowctl's peak RSS
#   BASE_FLOWCTL=... BASE_SANDBOX=... TOOLS="client base flowctl curl" benchmarks/uploads.sh
#                                          # + another build of both, in the same go
#
#   curl   the single-stream floor, on the big file: one `curl -T` PUT of the file (XNAT) or
#          one flow.js chunk of all of it by `curl -F` into an import package (Agora), no
#          hashing on the client side, no `Expect: 100-continue` wait; not for GC (S3 parts need
#          presigning and an archive item)
#   base   flowctl and flowctl-sandbox from BASE_FLOWCTL and BASE_SANDBOX (e.g. main's release
#          binaries), for a before/after in the same go
#
#   gc     benchmarks/python/upload_gcapi.py (gcapi add_case_to_archive per file)
#          vs flowctl run benchmarks/jobs/uploads-gc.yml (into: {archive: sandbox-archive})
#   agora  benchmarks/python/upload_gtagora.py (gtagora Agora.upload(files, wait=True))
#          vs flowctl run benchmarks/jobs/uploads-agora.yml (into: {project, folder: /Uploads})
#   xnat   benchmarks/python/upload_xnatpy.py (xnatpy ResourceCatalog.upload per file)
#          vs flowctl run benchmarks/jobs/uploads-xnat.yml (into: {..., resource: BENCH})
#
# Release binaries, the venv and the helpers come from platform-pulls.sh (FLOWCTL= and SANDBOX=
# use given binaries). Every run gets a fresh sandbox of its own (uploads are kept by the
# sandbox: a fresh one holds nothing of the previous run, and names never collide), and after
# every run the server must hold what was sent: /_sandbox/info's count of images (GC), files
# (Agora, XNAT) grew by the number of files, and /_sandbox/stats counted at least the bytes of the
# files as received. Tools run interleaved: run 1 of every tool, then run 2, ...
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
USER_RUNS=${RUNS:-}
# shellcheck source=platform-pulls.sh
. "$HERE/platform-pulls.sh"   # build_tools, ensure_venv, median, now, log; REPO, SCRATCH, VENV

RUNS=$USER_RUNS
if [ "${QUICK:-0}" = 1 ]; then RUNS=${RUNS:-1}; BIG_MIB=${BIG_MIB:-64}; SMALL_COUNT=${SMALL_COUNT:-100}; fi
RUNS=${RUNS:-3}
BIG_MIB=${BIG_MIB:-1024}
SMALL_COUNT=${SMALL_COUNT:-1000}
SMALL_KIB=${SMALL_KIB:-256}
HUGE_GIB=${HUGE_GIB:-10}
PLATFORMS=${PLATFORMS:-gc agora xnat}
WORKLOADS=${WORKLOADS:-big small}
TOOLS=${TOOLS:-client flowctl}
export UPLOAD_CONCURRENCY=${UPLOAD_CONCURRENCY:-8}

client_name() { case $1 in gc) echo gcapi ;; agora) echo gtagora ;; xnat) echo xnatpy ;; esac; }
tool_name() { case $1 in client) client_name "$2" ;; *) echo "$1" ;; esac; }
# curl runs on the big file of XNAT and Agora only; base only when its binaries are given.
tool_applies() {  # $1 tool, $2 platform, $3 workload
    case $1 in
        curl) [ "$3" = big ] && [ "$2" != gc ] ;;
        base) [ -n "${BASE_FLOWCTL:-}" ] && [ -n "${BASE_SANDBOX:-}" ] ;;
        *) true ;;
    esac
}

# MARK: data

make_data() {
    local i
    mkdir -p "$ROOT/data/big" "$ROOT/data/small" "$ROOT/data/huge"
    case " $WORKLOADS " in *" big "*)
        log "writing 1 x $BIG_MIB MiB ..."
        head -c "$((BIG_MIB << 20))" /dev/urandom >"$ROOT/data/big/big_case.mha" ;;
    esac
    case " $WORKLOADS " in *" small "*)
        log "writing $SMALL_COUNT x $SMALL_KIB KiB ..."
        for i in $(seq -f '%05g' "$SMALL_COUNT"); do head -c "$((SMALL_KIB << 10))" /dev/urandom >"$ROOT/data/small/case_$i.mha"; done ;;
    esac
    case " $WORKLOADS " in *" huge "*)
        # Sparse: no disk and no time to write it; read back as zeros.
        truncate -s "${HUGE_GIB}G" "$ROOT/data/huge/huge_case.mha" ;;
    esac
}

files_in() { find "$ROOT/data/$1" -type f | wc -l; }
bytes_in() { find "$ROOT/data/$1" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f\n", s }'; }  # %d stops at 2^31-1 in mawk

# MARK: sandbox (one per run)

start_upload_sandbox() {  # $1: platform, $2: the sandbox binary
    local env="$ROOT/sandbox.env"
    rm -f "$env"
    "${2:-$SANDBOX}" serve --platforms "$1" --print-env >"$env" 2>"$ROOT/sandbox.log" &
    SANDBOX_PID=$!
    for _ in $(seq 200); do grep -q FLOWCTL_SANDBOX_CA "$env" 2>/dev/null && break; sleep 0.05; done
    grep -q FLOWCTL_SANDBOX_CA "$env" || { log "sandbox did not start:"; cat "$ROOT/sandbox.log" >&2; exit 1; }
    # shellcheck disable=SC1090
    . "$env"
    export GC_URL GC_TOKEN AGORA_URL AGORA_API_KEY XNAT_URL XNAT_USER XNAT_PASS FLOWCTL_SANDBOX_CA 2>/dev/null || true
    export REQUESTS_CA_BUNDLE=$FLOWCTL_SANDBOX_CA SSL_CERT_FILE=$FLOWCTL_SANDBOX_CA
    case $1 in gc) ORIGIN=${GC_URL%%/api/*} ;; agora) ORIGIN=$AGORA_URL ;; xnat) ORIGIN=$XNAT_URL ;; esac
    ORIGIN=${ORIGIN%/}
}

stop_upload_sandbox() {
    if [ -n "${SANDBOX_PID:-}" ]; then kill "$SANDBOX_PID" 2>/dev/null || true; wait "$SANDBOX_PID" 2>/dev/null || true; fi
    SANDBOX_PID=
}

sandbox_json() { curl -sf --cacert "$FLOWCTL_SANDBOX_CA" "$ORIGIN/_sandbox/$1"; }

# What the server holds: GC images, Agora and XNAT files (/_sandbox/info counts).
held_count() {
    local key; key=$( [ "$1" = gc ] && echo images || echo files )
    sandbox_json info | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]]["data"][sys.argv[2]])' "$1" "$key"
}
received_bytes() { sandbox_json stats | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["bytesReceived"])'; }

# MARK: tools under test (each runs in a child bash: the functions are exported)

run_client() {  # $1 platform, $2 folder
    case $1 in
        gc) "$PYTHON" "$HERE/python/upload_gcapi.py" "$2" ;;
        agora) "$PYTHON" "$HERE/python/upload_gtagora.py" "$2" ;;
        xnat) "$PYTHON" "$HERE/python/upload_xnatpy.py" "$2" testenv SUBJ_001 SUBJ_001_MR1 BENCH ;;
    esac
}

run_flowctl_upload() {  # $1 platform, $2 folder, $3 the flowctl binary; the job file copied into a fresh workspace
    mkdir -p "$WORK/jobs"
    cp "$HERE/jobs/uploads-$1.yml" "$WORK/jobs/"
    UPLOAD_DIR=$2 "${3:-$FLOWCTL}" run --quiet "$WORK/jobs/uploads-$1.yml"
}

run_curl() {  # $1 platform, $2 folder: each file in one request, nothing hashed by the client
    local f name id state
    for f in "$2"/*; do
        name=$(basename "$f")
        case $1 in
            xnat) curl -sfS -H "Expect:" --cacert "$FLOWCTL_SANDBOX_CA" -u "$XNAT_USER:$XNAT_PASS" -T "$f" -o /dev/null \
                      "${XNAT_URL%/}/data/projects/testenv/subjects/SUBJ_001/experiments/SUBJ_001_MR1/resources/BENCH/files/$name?inbody=true" ;;
            agora)
                local auth=(--cacert "$FLOWCTL_SANDBOX_CA" -H "Authorization: X-Agora-Api-Key $AGORA_API_KEY")
                id=$(curl -sfS "${auth[@]}" -X POST -d '{}' -H 'Content-Type: application/json' "$ORIGIN/api/v1/import/" \
                    | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
                curl -sfS -H "Expect:" "${auth[@]}" -o /dev/null -F flowChunkNumber=1 -F flowTotalChunks=1 -F "flowTotalSize=$(stat -c %s "$f")" \
                    -F "flowIdentifier=curl-$name" -F "flowFilename=$name" -F "flowRelativePath=$name" \
                    -F "file=@$f;type=application/octet-stream" "$ORIGIN/api/v1/import/$id/upload/"
                curl -sfS "${auth[@]}" -o /dev/null -X POST -d '{}' -H 'Content-Type: application/json' "$ORIGIN/api/v1/import/$id/complete/"
                while :; do
                    state=$(curl -sfS "${auth[@]}" "$ORIGIN/api/v1/import/$id/progress/" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["state"])')
                    [ "$state" = 5 ] && break
                    [ "$state" = -1 ] && { echo "import $id failed" >&2; return 1; }
                    sleep 0.05
                done ;;
        esac
    done
}

# MARK: measuring

run_all() {
    local i platform workload tool key start end before after files bytes got
    mkdir -p "$ROOT/times"
    for i in $(seq "$RUNS"); do
        for workload in $WORKLOADS; do
            files=$(files_in "$workload"); bytes=$(bytes_in "$workload")
            for platform in $PLATFORMS; do
                for tool in $TOOLS; do
                    tool_applies "$tool" "$platform" "$workload" || continue
                    key="$tool-$platform-$workload"
                    export WORK="$ROOT/runs/$key-$i"
                    mkdir -p "$WORK"
                    start_upload_sandbox "$platform" "$( [ "$tool" = base ] && echo "$BASE_SANDBOX" || echo "$SANDBOX" )"
                    before=$(held_count "$platform")
                    sync
                    start=$(now)
                    /usr/bin/time -f '%M %U %S' -o "$ROOT/rss" bash -c "$(case $tool in flowctl) echo run_flowctl_upload ;; base) echo run_flowctl_upload ;; curl) echo run_curl ;; *) echo run_client ;; esac) $platform $ROOT/data/$workload $( [ "$tool" = base ] && echo "$BASE_FLOWCTL")" \
                        >"$ROOT/last.log" 2>&1 || { log "$key run $i failed:"; tail -20 "$ROOT/last.log" >&2; exit 1; }
                    end=$(now)
                    after=$(held_count "$platform")
                    got=$(received_bytes)
                    if [ "$((after - before))" -ne "$files" ] || [ "$got" -lt "$bytes" ]; then
                        log "$key run $i: the server holds $((after - before)) new files of $files, received $got of $bytes bytes"
                        exit 1
                    fi
                    # The sandbox's own peak: uploads are spooled to disk, not held in its memory.
                    awk '/^VmHWM/ { print int($2 / 1024) }' "/proc/$SANDBOX_PID/status" >>"$ROOT/times/$key.sandbox-rss"
                    # The server's own CPU for the run (user + system): on one big file it bounds both tools.
                    awk -v tck="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / tck }' "/proc/$SANDBOX_PID/stat" >>"$ROOT/times/$key.sandbox-cpu"
                    stop_upload_sandbox
                    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }' >>"$ROOT/times/$key"
                    awk '{ print int($1 / 1024) }' "$ROOT/rss" >>"$ROOT/times/$key.rss"
                    awk '{ printf "%.2f\n", $2 + $3 }' "$ROOT/rss" >>"$ROOT/times/$key.cpu"
                    echo "$got" >>"$ROOT/times/$key.received"
                    rm -rf "$WORK"
                    log "  run $i: $key $(tail -1 "$ROOT/times/$key") s (load $(cut -d' ' -f1 /proc/loadavg)), sandbox CPU $(tail -1 "$ROOT/times/$key.sandbox-cpu") s, peak $(tail -1 "$ROOT/times/$key.rss") MiB (sandbox $(tail -1 "$ROOT/times/$key.sandbox-rss") MiB), $files files held"
                done
            done
        done
    done
}

upload_report() {
    printf '\n%-8s %-6s %-6s %6s %9s %10s %14s %8s %9s %12s %14s\n' tool platform load files MiB "median s" "flowctl/client" "CPU s" "peak MiB" "sandbox MiB" "sandbox CPU s"
    local platform workload tool key secs ref cpu rss name srss scpu
    for workload in $WORKLOADS; do
        for platform in $PLATFORMS; do
            for tool in $TOOLS; do
                tool_applies "$tool" "$platform" "$workload" || continue
                key="$tool-$platform-$workload"
                name=$(tool_name "$tool" "$platform")
                secs=$(median <"$ROOT/times/$key")
                ref=$( [ -f "$ROOT/times/client-$platform-$workload" ] && median <"$ROOT/times/client-$platform-$workload" || echo 0 )
                cpu=$(median <"$ROOT/times/$key.cpu")
                rss=$(sort -n "$ROOT/times/$key.rss" | tail -1)
                srss=$(cat "$ROOT/times/$key.sandbox-rss" 2>/dev/null | sort -n | tail -1)
                scpu=$(median <"$ROOT/times/$key.sandbox-cpu")
                awk -v t="$name" -v p="$platform" -v w="$workload" -v f="$(files_in "$workload")" -v m="$(( $(bytes_in "$workload") >> 20 ))" \
                    -v s="$secs" -v r="$ref" -v c="$cpu" -v k="$rss" -v q="${srss:--1}" -v z="$scpu" -v p_client="$(client_name "$platform")" \
                    'BEGIN { printf "%-8s %-6s %-6s %6d %9d %10.3f %14s %8.2f %9d %12s %14.2f\n", t, p, w, f, m, s, (r > 0 && t != p_client ? sprintf("%.2f (%.2fx)", s / r, r / s) : "-"), c, k, (q < 0 ? "-" : q), z }'
            done
        done
    done
    printf '\nflowctl/client: each tool'"'"'s median time over the client'"'"'s (flowctl, base, curl) (below 1 is faster; (Nx): how many times faster).\n'
    printf 'Medians of %d interleaved runs, each against a fresh sandbox; the server held every file after each run.\n' "$RUNS"
    printf '"CPU s": user + system time of the client process; "peak MiB": its largest max RSS over the runs (/usr/bin/time %%M);\n'
    printf '"sandbox MiB": the sandbox'"'"'s own peak RSS (VmHWM) in those runs; "sandbox CPU s": its user + system time (median).\n'
    printf 'flowctl concurrency: %s. Per-run seconds:\n' "$UPLOAD_CONCURRENCY"
    for workload in $WORKLOADS; do for platform in $PLATFORMS; do for tool in $TOOLS; do
        tool_applies "$tool" "$platform" "$workload" || continue
        printf '  %-8s %-6s %-6s %s\n' "$tool" "$platform" "$workload" "$(tr '\n' ' ' <"$ROOT/times/$tool-$platform-$workload")"
    done; done; done
    printf 'load average at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
}

upload_cleanup() {
    stop_upload_sandbox
    if [ "${KEEP:-0}" = 1 ]; then log "kept $ROOT"; else rm -rf "$ROOT"; fi
}

upload_main() {
    ROOT=$(mktemp -d "${TMPDIR:-/tmp}/flowctl-uploads.XXXXXX")
    trap upload_cleanup EXIT
    build_tools
    ensure_venv
    make_data
    log "work in $ROOT; load average $(cut -d' ' -f1-3 /proc/loadavg)"
    export ROOT HERE REPO FLOWCTL PYTHON
    export -f run_client run_flowctl_upload run_curl
    export ORIGIN
    run_all
    upload_report
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then upload_main "$@"; fi
