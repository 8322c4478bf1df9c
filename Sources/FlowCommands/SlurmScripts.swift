import Foundation

/// The two batch scripts of `flowctl submit --slurm`: an array job whose task K runs shard K of
/// N (`flowctl run --locked --shard K/N`), and a gather job that runs after it whatever became
/// of the tasks (`--dependency=afterany`). Pure: the same settings give the same text.
struct SlurmScripts: Equatable {
    struct Settings: Equatable {
        /// The flowctl executable the tasks run (absolute).
        var flowctl: String
        /// The job file (absolute).
        var job: String
        /// `--set` overrides, passed on to every task.
        var overrides: [String] = []
        var shards: Int
        /// The array indices to run: all (`0-(N-1)`) or, on `--resume`, those not done.
        var indices: [Int]
        /// Tasks running at once (`%K`); nil: as many as Slurm allows.
        var maxRunning: Int?
        var partition: String?
        var time: String?
        var mem: String?
        /// Transfers in flight per task (`flowctl run -j`).
        var jobs: Int?
        /// Seconds before the time limit at which Slurm sends SIGTERM, so a task stops cleanly.
        var signalSeconds = 120
        /// The folder of the scripts, their logs and the tasks' exit files.
        var directory: String
        /// The folder the tasks start in.
        var workingDirectory: String
        /// The Slurm job name.
        var name: String
    }

    var array: String
    var gather: String

    init(_ s: Settings) {
        let n = s.shards
        var header = ["#!/bin/bash"]
        func sbatch(_ option: String) { header.append("#SBATCH " + option) }
        sbatch("--job-name=\(Self.jobName(s.name))")
        sbatch("--array=\(Self.arraySpec(s.indices))" + (s.maxRunning.map { "%\($0)" } ?? ""))
        sbatch("--output=\(s.directory)/shard-%a-of-\(n).%A.out")
        sbatch("--signal=B:TERM@\(s.signalSeconds)")
        sbatch("--chdir=\(s.workingDirectory)")
        if let p = s.partition { sbatch("--partition=\(p)") }
        if let t = s.time { sbatch("--time=\(t)") }
        if let m = s.mem { sbatch("--mem=\(m)") }
        var run = [s.flowctl, "run", "--locked", "--shard"].map(Self.quoted) + ["\"$shard/\(n)\""]
        if let j = s.jobs { run += ["-j", String(j)] }
        for o in s.overrides { run += ["--set", Self.quoted(o)] }
        run.append(Self.quoted(s.job))
        array = (header + [
            "# Written by `flowctl submit --slurm`: task K of the array runs shard K of \(n).",
            "# Credentials come from the submitting shell's environment (sbatch --export=ALL), never from this file.",
            "set -u",
            "shard=\"$SLURM_ARRAY_TASK_ID\"",
            "exit_file=\(Self.quoted(s.directory))\"/shard-$shard-of-\(n).exit\"",
            "rm -f \"$exit_file\"",
            "# Slurm's TERM before the time limit (--signal=B:) reaches this shell only: pass it on, then",
            "# wait for flowctl to stop cleanly (a repeated TERM from scancel changes nothing).",
            run.joined(separator: " ") + " &",
            "pid=$!",
            "trap 'kill -TERM \"$pid\" 2>/dev/null' TERM INT",
            "wait \"$pid\"; rc=$?",
            "while kill -0 \"$pid\" 2>/dev/null; do wait \"$pid\"; rc=$?; done",
            "printf '%s\\n' \"$rc\" > \"$exit_file\"",
            "exit \"$rc\"",
        ]).joined(separator: "\n") + "\n"

        var gatherHeader = ["#!/bin/bash"]
        gatherHeader.append("#SBATCH --job-name=\(Self.jobName(s.name))-gather")
        gatherHeader.append("#SBATCH --output=\(s.directory)/gather.%j.out")
        gatherHeader.append("#SBATCH --chdir=\(s.workingDirectory)")
        if let p = s.partition { gatherHeader.append("#SBATCH --partition=\(p)") }
        if let t = s.time { gatherHeader.append("#SBATCH --time=\(t)") }
        var gatherCommand = [s.flowctl, "gather"].map(Self.quoted) + ["--shards", String(n)]
        for o in s.overrides { gatherCommand += ["--set", Self.quoted(o)] }
        gatherCommand.append(Self.quoted(s.job))
        gather = (gatherHeader + [
            "# Written by `flowctl submit --slurm`: runs after every task of the array (afterany), merges the",
            "# shards' journals into the manifest, verifies the tree and writes a summary of the shards.",
            "set -u",
            "exec " + gatherCommand.joined(separator: " "),
        ]).joined(separator: "\n") + "\n"
    }

    /// `0-3`, or `1,3,5-7` for the shards a resume runs again.
    static func arraySpec(_ indices: [Int]) -> String {
        let sorted = Array(Set(indices)).sorted()
        var parts: [String] = []
        var i = 0
        while i < sorted.count {
            var j = i
            while j + 1 < sorted.count && sorted[j + 1] == sorted[j] + 1 { j += 1 }
            parts.append(j > i ? "\(sorted[i])-\(sorted[j])" : "\(sorted[i])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }

    /// A job name Slurm and a shell take as is: letters, digits, `-`, `_`, `.`.
    static func jobName(_ name: String) -> String {
        "flowctl-" + String(name.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })
    }

    /// A word for the shell, in single quotes when it needs any.
    static func quoted(_ word: String) -> String {
        let plain = !word.isEmpty && word.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_./=:+,@%".contains($0)) }
        return plain ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
