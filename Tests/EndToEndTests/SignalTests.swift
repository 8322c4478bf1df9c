import Foundation
import Testing

/// Starts the built `flowctl` in the background, for tests that signal it: its stderr goes to
/// `stderrFile` when given, else nowhere; its stdout nowhere.
func startFlowctl(_ arguments: [String], environment: [String: String], stderrFile: String? = nil) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try builtProduct("flowctl"))
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    process.standardOutput = FileHandle.nullDevice
    if let stderrFile {
        _ = FileManager.default.createFile(atPath: stderrFile, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrFile))
    } else {
        process.standardError = FileHandle.nullDevice
    }
    try process.run()
    return process
}

extension EndToEnd {
/// SIGTERM is what Slurm and Kubernetes send before SIGKILL: flowctl treats it as Ctrl-C at any
/// moment, listing included, and says what it stopped.
@Suite struct SignalTests {
    @Test func sigtermWhileListingStopsCleanly() throws {
        // Every request takes 400 ms: the listing of 6 subjects takes seconds.
        let sandbox = try SandboxProcess(["--platforms", "xnat", "--xnat-subjects", "6", "--latency-ms", "400"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["xnat-session.yml"])
        defer { workspace.remove() }
        let log = workspace.root + "/stderr.txt"
        let process = try startFlowctl(["run", workspace.job("xnat-session.yml"), "--set", "select.session.subjects=*"],
                                       environment: sandbox.environment, stderrFile: log)
        usleep(900_000)
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        let text = try String(contentsOfFile: log, encoding: .utf8)
        #expect(process.terminationReason == .exit, "killed by a signal: \(text)")
        #expect(process.terminationStatus == 130, "\(text)")
        #expect(text.contains("stopped while listing"), "\(text)")
    }

    @Test func sigtermMidRunSummarisesAndCountsFilesInFlight() throws {
        // Slow bodies keep transfers in flight when the signal comes.
        let sandbox = try SandboxProcess(["--platforms", "xnat", "--xnat-subjects", "4", "--slow-body-bps", "200000"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["xnat-session.yml"])
        defer { workspace.remove() }
        let log = workspace.root + "/stderr.txt"
        let args = ["run", workspace.job("xnat-session.yml"), "--set", "select.session.subjects=*", "-q"]
        let process = try startFlowctl(args, environment: sandbox.environment, stderrFile: log)
        // Wait until a file is being written, then stop.
        let out = workspace.root + "/out/xnat-session"
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, (try? run("/usr/bin/find", [out, "-name", "*.part"]).stdout.isEmpty) ?? true { usleep(50_000) }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        let text = try String(contentsOfFile: log, encoding: .utf8)
        #expect(process.terminationStatus == 130, "\(text)")
        #expect(text.contains("stopped in flight"), "\(text)")
        #expect(text.contains("interrupted"), "\(text)")
        let outcome = try run("/usr/bin/sqlite3", [out + "/.flowctl/journal.sqlite", "SELECT outcome FROM runs"])
        #expect(outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "interrupted")
        // And the next run finishes the job, resuming what was in flight.
        let rest = try flowctl(args, environment: sandbox.environment)
        #expect(rest.status == 0, "\(rest.stderr)")
    }
}
}
