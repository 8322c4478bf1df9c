#!/usr/bin/env bash
# Issue #25: aggregate throughput of a locked pull as N = 1, 2, 4 Slurm array shards
# (`flowctl submit --slurm --shards N`, timed from submit to the end of the gather job) against
# the single process (`flowctl run --locked`), in the same go, on a one-node Slurm cluster this
# script starts (as root; slurm-wlm and munge from scripts/setup.sh). Every connection is capped
# by the sandbox (--slow-body-bps), as a distant server would: one process is bound by its
# connections, not by the machine, until the machine becomes the limit. Prints medians of RUNS
# runs and each N's throughput as a ratio of the single process's (the issue asks >= 0.8 x N).
# The defaults make a ~60 s single-process pull, so that the fixed cost of going through Slurm
# is not the figure; that cost is measured on its own: the same submission again once the tree
# is complete (scheduling, N tasks with nothing to fetch, the gather job's manifest and verify).
#
#   RUNS=3 BPS=524288 CONC=4 CANDIDATES=16 benchmarks/shards.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${RUNS:-3}
BPS=${BPS:-524288}            # bytes/s per connection
CONC=${CONC:-4}               # connections per process (the source's concurrency)
CANDIDATES=${CANDIDATES:-16}
SHARDS=${SHARDS:-"1 2 4"}    # array tasks running at once (N)
OVER=${OVER:-1}               # shards per task slot: N x OVER shards, at most N at once (%N)
BIN=${BIN:-$ROOT/.build/debug}
FLOWCTL=$BIN/flowctl
SANDBOX=$BIN/flowctl-sandbox
[ -x "$FLOWCTL" ] && [ -x "$SANDBOX" ] || { echo "build first: swift build (looked in $BIN)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "shards.sh starts a Slurm cluster: run it as root" >&2; exit 1; }
command -v slurmctld >/dev/null && command -v munged >/dev/null || { echo "install slurm-wlm and munge (scripts/setup.sh)" >&2; exit 1; }

work=$(mktemp -d /tmp/flowctl-shards-bench.XXXXXX)
pids=()
cleanup() {
    SLURM_CONF=$work/slurm.conf scancel --full -u root 2>/dev/null || true
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    # Only a munged this script started (it forks away, so not among pids).
    [ -n "${started_munged:-}" ] && kill "$(cat /run/munge/munged.pid 2>/dev/null)" 2>/dev/null || true
    [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
trap "exit 130" INT TERM

# A one-node cluster with 4 task slots (config_overrides: the node is declared, not probed).
if ! (munge -n | unmunge) >/dev/null 2>&1; then
    mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
    [ -f /etc/munge/munge.key ] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null; chmod 400 /etc/munge/munge.key; }
    munged --force
    started_munged=1
fi
host=$(hostname -s)
port=$((20000 + RANDOM % 20000))
mkdir -p "$work/state" "$work/spool"
cat > "$work/slurm.conf" <<EOF
ClusterName=flowctlbench
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
# A test cluster: schedule within a second of a submission or a finished dependency, not the
# default periodic passes (60 s main, 30 s backfill) that would dwarf a short pull.
SchedulerParameters=sched_interval=1,bf_interval=1
MpiDefault=none
ReturnToService=2
KillWait=5
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=4 State=UNKNOWN
PartitionName=bench Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$work/slurm.conf
slurmctld -D -c -i -f "$SLURM_CONF" >"$work/ctld.out" 2>&1 & pids+=($!)
slurmd -D -f "$SLURM_CONF" -N "$host" >"$work/d.out" 2>&1 & pids+=($!)
for _ in $(seq 1 100); do [ "$(sinfo -h -o %t 2>/dev/null)" = idle ] && break; sleep 0.2; done
[ "$(sinfo -h -o %t)" = idle ] || { echo "the Slurm node is not idle:" >&2; tail "$work"/*.log >&2; exit 1; }

# The sandbox: LORIS, every connection capped at BPS.
"$SANDBOX" serve --platforms loris --loris-candidates "$CANDIDATES" --loris-files-per-visit 3..5 \
    --file-size 256KiB..512KiB --slow-body-bps "$BPS" --print-env >"$work/env.sh" & pids+=($!)
for _ in $(seq 1 100); do grep -q LORIS_PASS "$work/env.sh" 2>/dev/null && break; sleep 0.1; done
set -a; . "$work/env.sh"; set +a
mkdir -p "$work/jobs"
cp jobs/preventad-mri.yml "$work/jobs/"
job=$work/jobs/preventad-mri.yml
"$FLOWCTL" lock "$job" --jobs 32 2>"$work/lock.err" || { cat "$work/lock.err" >&2; exit 1; }
bytes=$(python3 -c "import json,sys; l=json.load(open(sys.argv[1])); print(sum(i['size'] for s in l['selections'].values() for i in s['items']))" "${job%.yml}.lock.json")
files=$(python3 -c "import json,sys; l=json.load(open(sys.argv[1])); print(sum(len(s['items']) for s in l['selections'].values()))" "${job%.yml}.lock.json")

now() { date +%s.%N; }
# Submits N shards into folder $2 and waits for the gather job; prints the seconds it took.
submit_and_wait() {
    local n=$1 to=$2 t0 out ids
    t0=$(now)
    out=$("$FLOWCTL" submit "$job" --slurm --shards $((n * OVER)) --max-running "$n" --set "actions.pull.to=../$to" \
          --set "sources.loris.concurrency=$CONC" 2>/dev/null)
    ids=$(echo "$out" | awk '{print $4","$NF}')
    while [ -n "$(squeue -h -j "$ids" 2>/dev/null)" ]; do sleep 0.1; done
    python3 -c "print($(now) - $t0)"
    grep -q '"pending" : 0' "$work/$to/.flowctl/gather-summary.json" || { echo "N=$n into $to did not complete" >&2; exit 1; }
    # Each task's own transfer seconds (its summary line), fastest first: the spread between
    # shards of equal bytes is what the slowest one costs the whole.
    for f in "$work/$to/.flowctl/slurm/"shard-*-of-$((n * OVER))."${ids%%,*}".out; do
        sed -n 's/.* in \([0-9.]*\) s (.*/\1/p' "$f" | tail -1
    done | sort -n | tr '\n' ' ' | sed 's/ $//' >>"$work/spread-$n"
    echo >>"$work/spread-$n"
}
declare -A secs fixed
for run in $(seq 1 "$RUNS"); do
    t0=$(now)
    "$FLOWCTL" run --locked -q "$job" --set "actions.pull.to=../o-single-$run" --set "sources.loris.concurrency=$CONC" 2>/dev/null
    secs[single]+="$(python3 -c "print($(now) - $t0)") "
    for n in $SHARDS; do
        secs[$n]+="$(submit_and_wait "$n" "o-n$n-$run") "
        # The fixed cost: the same submission again, nothing left to fetch.
        fixed[$n]+="$(submit_and_wait "$n" "o-n$n-$run") "
        sed -i '$d' "$work/spread-$n"  # (its tasks transferred nothing)
    done
done

load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "shards.sh $(date -u '+%Y-%m-%d %H:%M UTC'), load $load, $files files, $bytes bytes, ${BPS} B/s per connection, $CONC connections per process, RUNS=$RUNS, $OVER shard(s) per task slot"
args=()
for n in $SHARDS; do args+=("$n=${secs[$n]}=${fixed[$n]}"); done
python3 - "$bytes" "${secs[single]}" "${args[@]}" <<'EOF'
import statistics, sys
size = int(sys.argv[1])
def med(s): return statistics.median(float(x) for x in s.split())
def runs(s): return ", ".join(f"{float(x):.2f}" for x in s.split())
single = med(sys.argv[2])
print(f"{'runner':<22}{'median s':>10}{'MB/s':>8}{'vs single':>11}{'0.8 x N':>9}{'fixed s':>9}   runs; fixed-cost runs")
print(f"{'single process':<22}{single:>10.2f}{size / single / 1e6:>8.2f}{1:>10.2f}x{'':>9}{'':>9}   {runs(sys.argv[2])}")
for arg in sys.argv[3:]:
    n, s, f = arg.split("=", 2)
    m = med(s)
    print(f"{'slurm, ' + n + ' at once':<22}{m:>10.2f}{size / m / 1e6:>8.2f}{single / m:>10.2f}x{0.8 * int(n):>8.1f}x{med(f):>9.2f}   {runs(s)}; {runs(f)}")
EOF
for n in $SHARDS; do echo "N=$n: each task's transfer s, per run: $(tr '\n' ';' <"$work/spread-$n" | sed 's/;$//; s/;/; /g')"; done
