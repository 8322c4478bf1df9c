#!/usr/bin/env bash
# What bounds an archive pull of one DICOM session (platform-pulls.sh's xnat-dicom workload:
# 10 scans x 300 DICOM + each scan's NIfTI, 3,030 files, 385 MiB, 20 ms latency) on this
# machine: plain tools that do less than flowctl, timed in the same go, interleaved, against
# flowctl (and xnatpy, and an earlier flowctl) on one sandbox:
#
#   curl-null     the 10 scan zips at once into /dev/null (the server and the loopback alone)
#   curl-unzip    the 10 zips at once, each to a file then `unzip` (no digest checked)
#   hash-md5-sha  md5sum + sha256sum of the 3,030 files (what flowctl must hash: XNAT's listed
#                 MD5, and the sha256 of the manifest and lock), one after the other, warm cache
#   write-cache   3,030 new files of 130-136 KiB by 10 threads through the page cache (O_TMPFILE
#                 + linkat as flowctl's extractor), no network: a small C program
#   write-direct  the same with O_DIRECT (whole blocks; the tail of each file buffered)
#   flowctl       benchmarks/jobs/xnat-dicom-zip.yml (archive: zip); flowctl-base with
#                 FLOWCTL_BASELINE=<binary>; xnatpy's download_dir when the venv of
#                 platform-pulls.sh exists ($VENV)
#
#   FLOWCTL=.build/release/flowctl SANDBOX=.build/release/flowctl-sandbox RUNS=5 benchmarks/archive-floor.sh
#
# Medians of RUNS; "CPU s" is user + system of the tool (with its children); "server s" the
# sandbox's during the run. Trees stay until the end (as platform-pulls.sh), each run into a
# fresh folder, `sync` before each run. Needs cc, curl, unzip; about RUNS x 6 x 400 MB of disk.
set -euo pipefail
RUNS=${RUNS:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
FLOWCTL=${FLOWCTL:-$REPO/.build/release/flowctl}
SANDBOX=${SANDBOX:-$REPO/.build/release/flowctl-sandbox}
VENV=${VENV:-$REPO/.venv-bench}
ROOT=$(mktemp -d "${TMPDIR:-/tmp}/flowctl-floor.XXXXXX")
SANDBOX_PID=
cleanup() { [ -n "$SANDBOX_PID" ] && kill "$SANDBOX_PID" 2>/dev/null; rm -rf "$ROOT"; }
trap cleanup EXIT

cat >"$ROOT/wr.c" <<'C'
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
/* usage: wr cache|direct DIR: 10 threads x 303 new files of 130,000-136,000 bytes */
static int direct; static const char *root;
static void fail(const char *what) { perror(what); exit(1); }
static void *run(void *arg) {
    long t = (long)arg; char dir[4096]; snprintf(dir, sizeof dir, "%s/t%ld", root, t);
    if (mkdir(dir, 0755) != 0) fail("mkdir");
    char *buf; if (posix_memalign((void **)&buf, 4096, 1 << 20)) fail("memalign");
    memset(buf, (int)t + 1, 1 << 20);
    for (int i = 0; i < 303; i++) {
        size_t size = 130000 + (i % 7) * 1000, aligned = direct ? size & ~4095UL : 0;
        int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
        if (fd < 0) fail("open");
        if (aligned) {
            if (fcntl(fd, F_SETFL, O_DIRECT) != 0) fail("O_DIRECT");
            if (write(fd, buf, aligned) != (ssize_t)aligned) fail("write");
            fcntl(fd, F_SETFL, 0);
        }
        if (write(fd, buf + aligned, size - aligned) != (ssize_t)(size - aligned)) fail("write");
        char path[4200], proc[64]; snprintf(path, sizeof path, "%s/f%03d", dir, i);
        if (linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH) != 0) {
            snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
            if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) != 0) fail("linkat");
        }
        close(fd);
    }
    return 0;
}
int main(int argc, char **argv) {
    if (argc != 3) return 2;
    direct = strcmp(argv[1], "direct") == 0; root = argv[2];
    pthread_t th[10];
    for (long t = 0; t < 10; t++) pthread_create(&th[t], 0, run, (void *)t);
    for (int t = 0; t < 10; t++) pthread_join(th[t], 0);
    return 0;
}
C
cc -O2 -pthread -o "$ROOT/wr" "$ROOT/wr.c"

"$SANDBOX" serve --platforms xnat --latency-ms 20 --xnat-subjects 2 --xnat-scans 10 --xnat-dicom-files 300 \
    --print-env >"$ROOT/sandbox.env" 2>"$ROOT/sandbox.log" &
SANDBOX_PID=$!
for _ in $(seq 100); do grep -q XNAT_URL "$ROOT/sandbox.env" 2>/dev/null && break; sleep 0.1; done
# shellcheck disable=SC1091
source "$ROOT/sandbox.env"
export XNAT_URL XNAT_USER XNAT_PASS XNATPY_HOST ROOT FLOWCTL HERE
sandbox_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($14 + $15) / hz }' "/proc/$SANDBOX_PID/stat"; }

# The 10 scan zips, as flowctl asks for them (one request per scan, both resources).
zip_url() { echo "$XNAT_URL/data/experiments/XNAT_E00001/scans/$1/resources/DICOM,NIFTI/files?format=zip"; }
export -f zip_url
curl_null() { for s in $(seq 10); do curl -sf -u "$XNAT_USER:$XNAT_PASS" -o /dev/null "$(zip_url "$s")" & done; wait; }
curl_unzip() {
    for s in $(seq 10); do
        (curl -sf -u "$XNAT_USER:$XNAT_PASS" -o "$OUT/$s.zip" "$(zip_url "$s")" && unzip -qo "$OUT/$s.zip" -d "$OUT" && rm "$OUT/$s.zip") &
    done
    wait
}
hash_tree() { find "$ROOT/runs/curl-unzip-1" -type f -print0 | xargs -0 md5sum >/dev/null; find "$ROOT/runs/curl-unzip-1" -type f -print0 | xargs -0 sha256sum >/dev/null; }
run_flowctl() {  # $1: binary
    mkdir -p "$WORK/jobs"; cp "$HERE/jobs/xnat-dicom-zip.yml" "$WORK/jobs/"
    "$1" run --quiet "$WORK/jobs/xnat-dicom-zip.yml"
}
export -f curl_null curl_unzip hash_tree run_flowctl

TOOLS=(curl-null curl-unzip write-cache write-direct flowctl)
[ -n "${FLOWCTL_BASELINE:-}" ] && TOOLS+=(flowctl-base)
[ -x "$VENV/bin/python" ] && TOOLS+=(xnatpy)
command_of() {
    case $1 in
        curl-null) echo curl_null ;;
        curl-unzip) echo curl_unzip ;;
        hash-md5-sha) echo hash_tree ;;
        write-cache) echo "$ROOT/wr cache \$OUT" ;;
        write-direct) echo "$ROOT/wr direct \$OUT" ;;
        flowctl) echo "run_flowctl $FLOWCTL" ;;
        flowctl-base) echo "run_flowctl $FLOWCTL_BASELINE" ;;
        xnatpy) echo "$VENV/bin/python $HERE/python/xnat_session_xnatpy.py \$OUT" ;;
    esac
}
mkdir -p "$ROOT/times"
echo "$(date -u '+%F %T') UTC, load $(cut -d' ' -f1-3 /proc/loadavg) at the start" >&2
for i in $(seq "$RUNS"); do
    for tool in "${TOOLS[@]}" hash-md5-sha; do
        export WORK="$ROOT/runs/$tool-$i" OUT="$ROOT/runs/$tool-$i"
        mkdir -p "$OUT"
        sync
        before=$(sandbox_cpu)
        start=$(date +%s.%N)
        /usr/bin/time -f '%U %S' -o "$ROOT/cpu" bash -c "$(command_of "$tool")" >"$ROOT/last.log" 2>&1 ||
            { echo "$tool run $i failed:" >&2; tail -20 "$ROOT/last.log" >&2; exit 1; }
        end=$(date +%s.%N)
        awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }' >>"$ROOT/times/$tool"
        awk '{ printf "%.2f\n", $1 + $2 }' "$ROOT/cpu" >>"$ROOT/times/$tool.cpu"
        awk -v a="$before" -v b="$(sandbox_cpu)" 'BEGIN { printf "%.2f\n", b - a }' >>"$ROOT/times/$tool.server"
        echo "  run $i: $tool $(tail -1 "$ROOT/times/$tool") s" >&2
    done
done
echo "load $(cut -d' ' -f1-3 /proc/loadavg) at the end" >&2
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
printf '\n%-13s %9s %8s %9s   %s\n' tool "median s" "CPU s" "server s" "per run"
for tool in "${TOOLS[@]}" hash-md5-sha; do
    printf '%-13s %9s %8s %9s   %s\n' "$tool" "$(median <"$ROOT/times/$tool")" "$(median <"$ROOT/times/$tool.cpu")" \
        "$(median <"$ROOT/times/$tool.server")" "$(tr '\n' ' ' <"$ROOT/times/$tool")"
done
