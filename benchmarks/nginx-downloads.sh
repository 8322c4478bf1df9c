#!/usr/bin/env bash
# Download benchmark against nginx on loopback: the reference tools (curl, aria2c), FlowHTTP's
# own harness (benchmarks/flowhttp-bench) and flowctl itself, side by side.
#
#   benchmarks/nginx-downloads.sh              # 10,000 x 64 KiB and 1 x 1 GiB, medians of 5
#   RUNS=3 SMALL_COUNT=2000 BIG_MIB=256 benchmarks/nginx-downloads.sh   # a quicker pass
#   EVENTS=1 benchmarks/nginx-downloads.sh     # also flowctl with --events json (30,000 NDJSON lines)
#   FRESH_FS=1 benchmarks/nginx-downloads.sh   # every run writes to a newly made ext4 (root only)
#
# Needs nginx-light, curl and aria2 (installed with apt-get when missing: run as root on a fresh
# machine). Everything lives in a fresh temporary root, removed at the end (KEEP=1 keeps it).
# Every run writes into a fresh output directory: deleting thousands of files and creating
# thousands more in the same place is slow on this machine's file system (see DESIGN.md).
# FRESH_FS=1 goes further: before every run (untimed) a new ext4 file system is made in an image
# file and loop-mounted, so no run pays for the inodes an earlier one freed (ext4 skips recently
# deleted inodes when it allocates, and a `discard` mount trims them in the background). On this
# machine that halves the run-to-run spread of the small-file workload.
set -euo pipefail

RUNS=${RUNS:-5}
SMALL_COUNT=${SMALL_COUNT:-10000}
SMALL_SIZE=${SMALL_SIZE:-65536}
BIG_MIB=${BIG_MIB:-1024}
PARALLEL=${PARALLEL:-16}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

log() { printf '%s\n' "$*" >&2; }

# MARK: tools

ensure_tools() {
    local missing=()
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
    command -v curl >/dev/null || missing+=(curl)
    command -v aria2c >/dev/null || missing+=(aria2)
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" != 0 ]; then
            log "missing: ${missing[*]} (run as root, or: sudo apt-get install -y ${missing[*]})"
            exit 1
        fi
        log "installing ${missing[*]} ..."
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
}

# MARK: server and data

free_port() {
    local port
    for port in $(seq 18080 18180); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
    done
    log "no free port in 18080-18180"; exit 1
}

make_data() {
    log "generating $SMALL_COUNT files of $SMALL_SIZE bytes and one file of $BIG_MIB MiB ..."
    mkdir -p "$ROOT/www/small" "$ROOT/lists"
    # Real (random) bytes, split into numbered files: fast and not compressible.
    head -c $((SMALL_COUNT * SMALL_SIZE)) /dev/urandom | (cd "$ROOT/www/small" && split -b "$SMALL_SIZE" -a 5 -d - f)
    head -c $((BIG_MIB * 1024 * 1024)) /dev/urandom >"$ROOT/www/big.bin"
    ls "$ROOT/www/small" | sort >"$ROOT/lists/small.names"
    sed 's|^|small/|' "$ROOT/lists/small.names" >"$ROOT/lists/small.paths"
    echo big.bin >"$ROOT/lists/big.paths"
    cat "$ROOT/www/big.bin" "$ROOT/www/small"/* >/dev/null  # warm the page cache
}

start_nginx() {
    PORT=$(free_port)
    BASE="http://127.0.0.1:$PORT"
    mkdir -p "$ROOT/nginx/logs" "$ROOT/nginx/tmp"
    cat >"$ROOT/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon on;
pid $ROOT/nginx/nginx.pid;
error_log $ROOT/nginx/logs/error.log warn;
$( [ "$(id -u)" = 0 ] && echo "user root;" )
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_body_temp_path $ROOT/nginx/tmp;
    proxy_temp_path $ROOT/nginx/tmp;
    fastcgi_temp_path $ROOT/nginx/tmp;
    uwsgi_temp_path $ROOT/nginx/tmp;
    scgi_temp_path $ROOT/nginx/tmp;
    types { application/octet-stream bin; }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$PORT;
        root $ROOT/www;
    }
}
EOF
    "$NGINX" -p "$ROOT/nginx" -e "$ROOT/nginx/logs/error.log" -c "$ROOT/nginx/nginx.conf"
    for _ in $(seq 50); do curl -sf -o /dev/null "$BASE/big.bin" -r 0-0 && return; sleep 0.1; done
    log "nginx did not start:"; cat "$ROOT/nginx/logs/error.log" >&2; exit 1
}

stop_nginx() {
    if [ -f "$ROOT/nginx/nginx.pid" ]; then kill "$(cat "$ROOT/nginx/nginx.pid")" 2>/dev/null || true; fi
}

cleanup() {
    stop_nginx
    if mountpoint -q "$ROOT/fs" 2>/dev/null; then umount "$ROOT/fs"; fi
    if [ "${KEEP:-0}" = 1 ]; then log "kept $ROOT"; else rm -rf "$ROOT"; fi
}

# MARK: measuring

now() { date +%s.%N; }

# median of the numbers on stdin
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# Runs are interleaved (run 1 of every tool, then run 2, ...) so that a background load on a
# shared machine hits every tool alike, in alternating order. Each run gets a fresh output
# directory, $OUT.
ENTRIES=()  # "label|workload|files|bytes|command words..." (the command may use $OUT)
add_entry() { local IFS='|'; ENTRIES+=("$*"); }

run_entries() {
    local i entry label workload files bytes cmd start end
    mkdir -p "$ROOT/times"
    local order
    for i in $(seq "$RUNS"); do
        # Odd runs go forward, even runs backward: no tool always follows the same one (a tool
        # that runs after a big delete finds free pages; one after a big write pays for reclaim).
        order=("${ENTRIES[@]}")
        if [ $((i % 2)) = 0 ]; then
            order=(); for ((e = ${#ENTRIES[@]} - 1; e >= 0; e--)); do order+=("${ENTRIES[$e]}"); done
        fi
        for entry in "${order[@]}"; do
            IFS='|' read -r label workload files bytes cmd <<<"$entry"
            cmd=${cmd//|/ }
            export OUT="$ROOT/out/$label-$workload-$i"
            if [ "${FRESH_FS:-0}" = 1 ]; then fresh_fs; OUT="$ROOT/fs/$label-$workload-$i"; fi
            mkdir -p "$OUT"
            sync  # no dirty pages of the previous run to write back during this one
            start=$(now)
            # The run_* functions are exported: GNU time runs them in a child bash.
            /usr/bin/time -f '%M %U %S' -o "$ROOT/rss" bash -c "$cmd" >"$ROOT/last.log" 2>&1 || {
                log "$label $workload run $i failed:"; tail -5 "$ROOT/last.log" >&2; exit 1; }
            end=$(now)
            check_output "$OUT" "$workload" || { log "$label $workload run $i: wrong output"; exit 1; }
            awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }' >>"$ROOT/times/$label-$workload"
            awk '{ print int($1 / 1024) }' "$ROOT/rss" >>"$ROOT/times/$label-$workload.rss"
            awk '{ printf "%.2f\n", $2 + $3 }' "$ROOT/rss" >>"$ROOT/times/$label-$workload.cpu"
            [ "$workload" = big ] && rm -rf "$OUT"  # one file: cheap to delete, saves disk
            log "  run $i: $label $workload $(tail -1 "$ROOT/times/$label-$workload") s"
        done
    done
}

# A new, empty ext4 at $ROOT/fs, with room to spare for either workload (the image file is
# sparse: only what is written takes disk space). Room matters: once dirty data passes half of
# the free space, ext4 starts writeback from inside `write` and waits for it (`ext4_nonda_switch`),
# so on a file system only 1.5x the workload's size a 1 GiB run timed the loop device's
# writeback, not the tool, for whichever tool crossed that line (seconds of spread per run).
fresh_fs() {
    if mountpoint -q "$ROOT/fs"; then umount "$ROOT/fs"; fi
    local bytes=$(( SMALL_COUNT * SMALL_SIZE > BIG_MIB * 1048576 ? SMALL_COUNT * SMALL_SIZE : BIG_MIB * 1048576 ))
    rm -f "$ROOT/fs.img"
    truncate -s $(( bytes * 4 + (1024 << 20) )) "$ROOT/fs.img"
    mkfs.ext4 -q -F "$ROOT/fs.img"
    mkdir -p "$ROOT/fs"
    mount -o loop "$ROOT/fs.img" "$ROOT/fs"
}

# Every expected file present with the right size; a few compared byte for byte.
check_output() {
    local out=$1 workload=$2
    if [ "$workload" = big ]; then
        [ "$(stat -c %s "$out/big.bin")" = $((BIG_MIB * 1024 * 1024)) ] || return 1
        [ -n "${BIG_VERIFIED:-}" ] || { cmp -s "$out/big.bin" "$ROOT/www/big.bin" && BIG_VERIFIED=1; } || return 1
        return 0
    fi
    [ "$(find "$out" -type f -size "${SMALL_SIZE}c" | wc -l)" = "$SMALL_COUNT" ] || return 1
    local name
    for name in $(sed -n '1p;$p' "$ROOT/lists/small.names"); do cmp -s "$out/$name" "$ROOT/www/small/$name" || return 1; done
}

# MARK: tools under test

# Input lists, written once before timing: curl writes relative to its working directory.
write_lists() {
    local list
    for list in small big; do
        awk -v base="$BASE" '{ n = split($0, p, "/"); printf "url = \"%s/%s\"\noutput = \"%s\"\n", base, $0, p[n] }' \
            "$ROOT/lists/$list.paths" >"$ROOT/lists/curl-$list.cfg"
    done
    sed "s|^|$BASE/|" "$ROOT/lists/small.paths" >"$ROOT/lists/aria2-small.list"
}

run_curl() {  # $1: small|big
    (cd "$OUT" && curl --parallel --parallel-max "$PARALLEL" --fail --silent --show-error -K "$ROOT/lists/curl-$1.cfg")
}

run_aria2() {
    aria2c -j"$PARALLEL" -x1 -d "$OUT" -i "$ROOT/lists/aria2-small.list" --allow-overwrite=true \
        --auto-file-renaming=false --console-log-level=warn --summary-interval=0 --quiet=true
}

FLOWHTTP_BENCH="$HERE/flowhttp-bench/.build/release/flowhttp-bench"

build_flowhttp_bench() {
    if [ "${SKIP_FLOWHTTP:-0}" = 1 ]; then return 1; fi
    log "building benchmarks/flowhttp-bench (release) ..."
    swift build -c release --package-path "$HERE/flowhttp-bench" >"$ROOT/flowhttp-bench-build.log" 2>&1 || {
        log "flowhttp-bench: build failed, skipped (see $ROOT/flowhttp-bench-build.log)"; return 1; }
}

run_flowhttp() {  # FlowHTTP alone: download to .part, sha256 inline, rename (what the executor does)
    "$FLOWHTTP_BENCH" "$BASE" "$ROOT/lists/$1.paths" "$OUT" "$PARALLEL"
}

# ---------------------------------------------------------------------------------------------
# flowctl itself. The job file and `flowctl run` come from the job-file/executor work: a job
# template benchmarks/jobs/nginx-<workload>.yml.in, with @BASE_URL@, @LIST@ (a file of paths
# relative to the base URL) and @OUT@ replaced here, is all this function needs.
FLOWCTL=${FLOWCTL:-$REPO/.build/release/flowctl}

run_flowctl() {  # $1: small|big, then extra `flowctl run` arguments
    local template="$HERE/jobs/nginx-$1.yml.in" job="$ROOT/job-$1-$(basename "$OUT").yml"
    sed -e "s|@BASE_URL@|$BASE|g" -e "s|@LIST@|$ROOT/lists/$1.paths|g" -e "s|@OUT@|$OUT|g" "$template" >"$job"
    "$FLOWCTL" run "$job" "${@:2}"
}

run_flowctl_events() {  # flowctl with `--events json` into a file: what a pipeline watching the run pays
    run_flowctl "$1" --events json >"$OUT.ndjson"
}

flowctl_ready() {  # $1: small|big
    if [ ! -x "$FLOWCTL" ]; then
        log "flowctl: skipped (binary not built: swift build -c release --product flowctl)"; return 1
    fi
    if [ ! -f "$HERE/jobs/nginx-$1.yml.in" ]; then
        log "flowctl: skipped for $1 (no job template benchmarks/jobs/nginx-$1.yml.in yet)"; return 1
    fi
}
# ---------------------------------------------------------------------------------------------

report() {
    printf '\n%-10s %-6s %7s %10s %9s %9s %9s %7s %9s\n' tool load files "median s" files/s MB/s "vs curl" "CPU s" "peak MiB"
    local entry label workload files bytes cmd secs rss ref cpu
    for entry in "${ENTRIES[@]}"; do
        IFS='|' read -r label workload files bytes cmd <<<"$entry"
        secs=$(median <"$ROOT/times/$label-$workload")
        ref=$(median <"$ROOT/times/curl-$workload")
        rss=$(sort -n "$ROOT/times/$label-$workload.rss" | tail -1)
        cpu=$(median <"$ROOT/times/$label-$workload.cpu")
        awk -v l="$label" -v w="$workload" -v f="$files" -v b="$bytes" -v s="$secs" -v r="$ref" -v c="$cpu" -v m="$rss" \
            'BEGIN { printf "%-10s %-6s %7d %10.3f %9.0f %9.1f %8.2fx %7.2f %9d\n", l, w, f, s, f / s, b / s / 1e6, r / s, c, m }'
    done
    printf '\n"vs curl": curl'"'"'s median time / this tool'"'"'s (above 1: faster than curl). Medians of %d interleaved runs, %d in flight.\n"CPU s": user + system time of the client process (a steadier figure on a busy machine).\n' \
        "$RUNS" "$PARALLEL"
    printf 'load average at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
}

main() {
    ensure_tools
    ROOT=$(mktemp -d "${TMPDIR:-/tmp}/flowctl-bench.XXXXXX")
    if [ "${FRESH_FS:-0}" = 1 ] && { [ "$(id -u)" != 0 ] || ! command -v mkfs.ext4 >/dev/null; }; then
        log "FRESH_FS=1 needs root and mkfs.ext4 (it loop-mounts a new file system per run)"; exit 1
    fi
    chmod 755 "$ROOT"
    trap cleanup EXIT
    make_data
    start_nginx
    log "nginx on $BASE, root $ROOT"
    write_lists
    export ROOT BASE PARALLEL FLOWHTTP_BENCH FLOWCTL HERE
    export -f run_curl run_aria2 run_flowhttp run_flowctl run_flowctl_events
    local have_flowhttp=0
    build_flowhttp_bench && have_flowhttp=1

    local small=$((SMALL_COUNT * SMALL_SIZE)) big=$((BIG_MIB * 1024 * 1024))
    add_entry curl small "$SMALL_COUNT" "$small" run_curl small
    add_entry aria2c small "$SMALL_COUNT" "$small" run_aria2
    [ $have_flowhttp = 1 ] && add_entry flowhttp small "$SMALL_COUNT" "$small" run_flowhttp small
    flowctl_ready small && add_entry flowctl small "$SMALL_COUNT" "$small" run_flowctl small
    [ "${EVENTS:-0}" = 1 ] && flowctl_ready small && add_entry flowctl+ev small "$SMALL_COUNT" "$small" run_flowctl_events small
    add_entry curl big 1 "$big" run_curl big
    [ $have_flowhttp = 1 ] && add_entry flowhttp big 1 "$big" run_flowhttp big
    flowctl_ready big && add_entry flowctl big 1 "$big" run_flowctl big
    run_entries
    report
}

# Sourcing the script (". benchmarks/nginx-downloads.sh") defines the functions without running.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
