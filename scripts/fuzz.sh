#!/usr/bin/env bash
# Runs the libFuzzer targets of Fuzz/ (issue #23): the job-file loader and each platform's
# listing parser, each for a set time, and keeps what crashes them as regression tests.
#
#   bash scripts/fuzz.sh                      # every target, 60 s each
#   bash scripts/fuzz.sh 600 FuzzAgora        # one target, 10 minutes
#   bash scripts/fuzz.sh 0                    # build only
#   PARALLEL=2 bash scripts/fuzz.sh 600       # two targets at a time
#
# Builds the targets (only with FLOWCTL_FUZZ set does Package.swift declare them) with
# `-sanitize=fuzzer,address` (SANITIZERS= to change) into .build-fuzz (SCRATCH=), a debug build
# (CONFIG=release: optimized, with -enable-testing), so `@testable import` reaches the parse
# functions; the normal .build is not touched. Each
# target then runs for the given seconds (`-max_total_time`) in libFuzzer's fork mode, which
# carries on past a crash: its working corpus starts from the seeds of Fuzz/Corpus/<target>/ and
# grows in .build-fuzz/corpus/<target>/ (not committed). New crashing inputs (also timeouts and
# out-of-memory inputs) go to Fuzz/Crashers/<target>/, one per distinct failure (the same trap
# message and first flowctl frame count as one), each with a `.txt` beside it holding the stack;
# Tests/FuzzRegressionTests feeds every file there through the same adapter on `swift test`.
#
# Output, one line per target:
#   target  seconds  runs (inputs executed)  corpus (inputs in the working corpus)
#   crashes (failing inputs libFuzzer reported)  kept (new distinct crashers added to Fuzz/Crashers)
# and the command that reproduces each kept crasher. Logs: .build-fuzz/logs/<target>.log.
# The exit status is 1 when a new crasher was kept.
#
# Reproduce one input: .build-fuzz/debug/FuzzAgora Fuzz/Crashers/FuzzAgora/crash-<sha1>
# (or run `swift test --filter FuzzRegressionTests`, which feeds every kept crasher).
set -euo pipefail

TIME=${1:-60}
shift || true
REPO=$(cd "$(dirname "$0")/.." && pwd)
SCRATCH=${SCRATCH:-$REPO/.build-fuzz}
SANITIZERS=${SANITIZERS:-fuzzer,address}
# CONFIG=release builds optimized (about 2.5x the executions per second, a longer first build);
# -enable-testing keeps `@testable import` working there.
CONFIG=${CONFIG:-debug}
BUILD_FLAGS=(-c "$CONFIG" -Xswiftc "-sanitize=$SANITIZERS")
[ "$CONFIG" = release ] && BUILD_FLAGS+=(-Xswiftc -enable-testing)
PARALLEL=${PARALLEL:-1}
NICE=${NICE:-15}
ALL=(FuzzJobFile FuzzXNAT FuzzLORIS FuzzGrandChallenge FuzzAgora FuzzWebFolder)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL[@]}")
log() { printf '%s\n' "$*" >&2; }

# Longest input per target: job files are small; a listing page of the seeds is < 16 KiB.
max_len() {
    case "$1" in
        FuzzJobFile|FuzzWebFolder) echo 8192 ;;
        *) echo 16384 ;;
    esac
}
dict() {
    case "$1" in
        FuzzJobFile) echo "$REPO/Fuzz/Dicts/yaml.dict" ;;
        *) echo "$REPO/Fuzz/Dicts/json.dict" ;;
    esac
}

for target in "${TARGETS[@]}"; do
    case " ${ALL[*]} " in *" $target "*) ;; *) log "unknown target $target (one of: ${ALL[*]})"; exit 2 ;; esac
done

mkdir -p "$SCRATCH/logs"
for target in "${TARGETS[@]}"; do
    log "building $target (-sanitize=$SANITIZERS, $SCRATCH) ..."
    if ! FLOWCTL_FUZZ=1 nice -n "$NICE" swift build --package-path "$REPO" --scratch-path "$SCRATCH" \
            "${BUILD_FLAGS[@]}" --product "$target" >"$SCRATCH/logs/build-$target.log" 2>&1; then
        grep -E 'error:' "$SCRATCH/logs/build-$target.log" | head -20 >&2
        log "build of $target failed: $SCRATCH/logs/build-$target.log"
        exit 1
    fi
done
[ "$TIME" -gt 0 ] || exit 0

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}
# Swift's own backtracer would also catch a trap (slowly); libFuzzer's report is enough.
export SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no}

# Swift symbols made readable, when the toolchain's demangler is there.
demangle() { if command -v swift-demangle >/dev/null; then swift-demangle --simplified; else cat; fi; }

# Runs one target; writes its result line to $SCRATCH/logs/<target>.result.
run_target() {
    local target=$1
    local binary=$SCRATCH/$CONFIG/$target
    local work=$SCRATCH/corpus/$target
    local crashers=$REPO/Fuzz/Crashers/$target
    local artifacts=$SCRATCH/artifacts/$target
    local logfile=$SCRATCH/logs/$target.log
    mkdir -p "$work" "$crashers" "$artifacts"
    rm -f "$artifacts"/*
    # Fork mode: one child at a time, the parent merges coverage and carries on past crashes.
    nice -n "$NICE" "$binary" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -max_total_time="$TIME" -max_len="$(max_len "$target")" -timeout=10 -rss_limit_mb=2048 \
        -dict="$(dict "$target")" -artifact_prefix="$artifacts/" -print_final_stats=1 \
        "$work" "$REPO/Fuzz/Corpus/$target" >"$logfile" 2>&1 || true
    # The last status line of fork mode: `#N: cov: C ft: F corp: K exec/s E oom/timeout/crash: a/b/c time: Ts job: J ...`
    local status runs corpus crashes
    status=$(grep -E '^#[0-9]+: cov:' "$logfile" | tail -1)
    runs=$(sed -nE 's/^#([0-9]+):.*/\1/p' <<<"$status")
    corpus=$(find "$work" -type f | wc -l)
    crashes=$(sed -nE 's|.*oom/timeout/crash: ([0-9]+)/([0-9]+)/([0-9]+).*|\1+\2+\3|p' <<<"$status")
    crashes=$((${crashes:-0}))
    # Keep one input per distinct failure: its trap message or sanitizer error and its first flowctl frame.
    local kept=0 seen=" "
    : >"$SCRATCH/logs/$target.kept"
    for existing in "$crashers"/*.txt; do
        [ -e "$existing" ] && seen+="$(head -1 "$existing" | cksum | cut -d' ' -f1) "
    done
    for input in "$artifacts"/*; do
        [ -e "$input" ] || continue
        local report signature
        report=$(timeout 60 "$binary" -runs=1 "$input" 2>&1 || true)
        signature="$(grep -m1 -E 'Fatal error|ERROR: (AddressSanitizer|libFuzzer)|SUMMARY' <<<"$report" | sed -E 's/0x[0-9a-f]+//g; s/[0-9]+ bytes//'  || true) | $(grep -m1 -E '#[0-9]+ .* in .*Flow' <<<"$report" | sed -E 's/^ *#[0-9]+ 0x[0-9a-f]+ in //; s/ \/.*//' || true)"
        local key
        key=$(printf '%s\n' "$signature" | cksum | cut -d' ' -f1)  # as `head -1 | cksum` above
        case "$seen" in *" $key "*) continue ;; esac
        seen+="$key "
        local name
        name=$(basename "$input")
        cp "$input" "$crashers/$name"
        { printf '%s\n' "$signature"
          printf 'reproduce: %s %s\n\n' "${binary#"$REPO"/}" "Fuzz/Crashers/$target/$name"
          grep -E 'Fatal error|ERROR:|SUMMARY|^ *#[0-9]+ ' <<<"$report" | head -40 | demangle | sed "s|$REPO/||g"; } >"$crashers/$name.txt"
        kept=$((kept + 1))
        printf '  Fuzz/Crashers/%s/%s\n    %s\n' "$target" "$name" "$signature" >>"$SCRATCH/logs/$target.kept"
    done
    printf '%-20s %6s s %12s runs %7s corpus %5s crashes %3s kept\n' \
        "$target" "$TIME" "${runs:-0}" "$corpus" "$crashes" "$kept" >"$SCRATCH/logs/$target.result"
}

running=0
for target in "${TARGETS[@]}"; do
    log "fuzzing $target for $TIME s ..."
    run_target "$target" &
    running=$((running + 1))
    if [ "$running" -ge "$PARALLEL" ]; then wait -n || true; running=$((running - 1)); fi
done
wait

printf '\nresults (target, time, inputs executed, working corpus, crashing inputs, new distinct crashers kept):\n'
new=0
for target in "${TARGETS[@]}"; do
    cat "$SCRATCH/logs/$target.result"
    k=$(awk '{ print $(NF-1) }' "$SCRATCH/logs/$target.result")
    new=$((new + k))
done
if [ "$new" -gt 0 ]; then
    printf '\nnew crashers (each with a .txt of its stack beside it):\n'
    for target in "${TARGETS[@]}"; do cat "$SCRATCH/logs/$target.kept"; done
    exit 1
fi
