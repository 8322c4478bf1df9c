#!/usr/bin/env bash
# How this machine's file system pays for the four ways to put a finished download in place:
# a plain create (what curl -o does), a `.part` file renamed into place, and an unnamed file
# (O_TMPFILE) linked into place, through /proc/self/fd or with AT_EMPTY_PATH (allowed to ordinary
# users since Linux 6.10; flowctl uses it where the kernel allows, for files up to 4 MiB). No
# network: 10,000 files of 64 KiB written by a small C program, 1 and 2 threads, each run into a
# fresh folder.
#
#   benchmarks/file-create.sh              # 10,000 files, medians of 5
#   FILES=2000 RUNS=3 benchmarks/file-create.sh
#
# Every run's files are kept until the end (a delete would change the next run's allocation):
# it needs FILES x 64 KiB x 8 x RUNS of free space (26 GB by default; RUNS=3 needs 16 GB).
#
# Needs a C compiler (cc). As root, the page cache is dropped before each run.
set -euo pipefail
FILES=${FILES:-10000}
RUNS=${RUNS:-5}
ROOT=$(mktemp -d "${TMPDIR:-/tmp}/flowctl-fc.XXXXXX")
trap 'rm -rf "$ROOT"' EXIT

cat >"$ROOT/fc.c" <<'C'
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
/* usage: fc plain|part|unnamed|empty THREADS FILES DIR -> prints wall seconds (empty: unnamed, linked with AT_EMPTY_PATH) */
static int mode, threads, files; static const char *dir; static char buf[65536];
static void fail(const char *what) { perror(what); exit(1); }
static void *work(void *arg) {
    for (int f = (int)(long)arg; f < files; f += threads) {
        char name[4096], part[4200], proc[64];
        snprintf(name, sizeof name, "%s/f%05d", dir, f);
        snprintf(part, sizeof part, "%s.part", name);
        int fd = mode == 0 ? open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644)
               : mode == 1 ? open(part, O_WRONLY | O_CREAT | O_EXCL, 0644)
               : open(dir, O_TMPFILE | O_WRONLY, 0644); /* unnamed, empty */
        if (fd < 0) fail("open");
        for (int i = 0; i < 4; i++) if (write(fd, buf, 16384) != 16384) fail("write");
        if (mode == 1) { close(fd); if (rename(part, name)) fail("rename"); continue; }
        if (mode == 2) {
            snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
            if (linkat(AT_FDCWD, proc, AT_FDCWD, name, AT_SYMLINK_FOLLOW)) fail("linkat");
        }
        if (mode == 3 && linkat(fd, "", AT_FDCWD, name, AT_EMPTY_PATH)) fail("linkat AT_EMPTY_PATH");
        close(fd);
    }
    return 0;
}
int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: fc plain|part|unnamed|empty THREADS FILES DIR\n"); return 2; }
    mode = !strcmp(argv[1], "plain") ? 0 : !strcmp(argv[1], "part") ? 1 : !strcmp(argv[1], "unnamed") ? 2 : 3;
    threads = atoi(argv[2]); files = atoi(argv[3]); dir = argv[4];
    memset(buf, 7, sizeof buf);
    struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);
    pthread_t t[64];
    for (long i = 0; i < threads; i++) pthread_create(&t[i], 0, work, (void *)i);
    for (int i = 0; i < threads; i++) pthread_join(t[i], 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.3f\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
    return 0;
}
C
cc -O2 -pthread -o "$ROOT/fc" "$ROOT/fc.c"

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

n=0
for run in $(seq "$RUNS"); do
    for mode in plain part unnamed empty; do
        for threads in 1 2; do
            n=$((n + 1))
            mkdir "$ROOT/d$n"
            sync
            [ "$(id -u)" = 0 ] && echo 3 >/proc/sys/vm/drop_caches
            "$ROOT/fc" "$mode" "$threads" "$FILES" "$ROOT/d$n" >>"$ROOT/$mode-$threads"
        done
    done
done

printf '%-8s %8s %10s %10s\n' mode threads "median s" "vs plain"
for threads in 1 2; do
    plain=$(median <"$ROOT/plain-$threads")
    for mode in plain part unnamed empty; do
        secs=$(median <"$ROOT/$mode-$threads")
        awk -v m="$mode" -v t="$threads" -v s="$secs" -v p="$plain" 'BEGIN { printf "%-8s %8d %10.3f %9.2fx\n", m, t, s, s / p }'
    done
done
printf '\n%d files of 64 KiB per run, medians of %d runs, each into a fresh folder ("vs plain": time / plain create time).\n' "$FILES" "$RUNS"
