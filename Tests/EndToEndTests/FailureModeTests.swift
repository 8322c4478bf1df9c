import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

extension EndToEnd {
/// What a demanding first-time user tries by hand: two runs of one job at once, an output folder
/// that cannot be written, stopping the sandbox.
@Suite struct FailureModeTests {
    /// Two runs of one job wrote the same `.part` files; each renamed or removed the other's and
    /// both failed ("cannot rename ....part: No such file or directory"). The second now refuses
    /// to start, naming the first, and the first finishes untouched.
    @Test func aSecondRunOfTheSameOutputFolderRefusesAndNamesTheFirst() throws {
        let sandbox = try SandboxProcess(["--platforms", "xnat", "--slow-body-bps", "100000"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["xnat-session.yml"])
        defer { workspace.remove() }
        let job = workspace.job("xnat-session.yml")
        let log = workspace.root + "/first.txt"
        let first = try startFlowctl(["run", job], environment: sandbox.environment, stderrFile: log)
        // Wait until the first run is writing files, so it holds the folder.
        let out = workspace.root + "/out/xnat-session"
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, (try? run("/usr/bin/find", [out, "-name", "*.part"]).stdout.isEmpty) ?? true { usleep(20_000) }

        let second = try flowctl(["run", job], environment: sandbox.environment)
        first.waitUntilExit()
        let firstText = try String(contentsOfFile: log, encoding: .utf8)
        #expect(second.status == 1, "\(second.stderr)")
        #expect(second.stderr.contains("error: another flowctl run (pid \(first.processIdentifier) on "), "\(second.stderr)")
        #expect(second.stderr.contains("is writing \(out)"), "\(second.stderr)")
        #expect(first.terminationStatus == 0, "\(firstText)")
        #expect(firstText.contains("16 done") && firstText.contains("0 failed"), "\(firstText)")

        // The lock dies with its holder: the next run goes ahead (and has nothing to do).
        let again = try flowctl(["run", job], environment: sandbox.environment)
        #expect(again.status == 0 && again.stderr.contains("16 skipped"), "\(again.stderr)")
        let verify = try flowctl(["verify", out])
        #expect(verify.status == 0 && verify.stdout.contains("16 verified"), "\(verify.stdout)")
    }

    /// An output folder that could not be made printed Foundation's
    /// `Error Domain=NSCocoaErrorDomain Code=512 "(null)"UserInfo={...}`.
    @Test func anOutputFolderThatCannotBeMadeSaysWhichAndWhatToDo() throws {
        let workspace = try Workspace(jobs: ["xnat-dwi.yml"])
        defer { workspace.remove() }
        let file = workspace.root + "/a-file"
        try "not a folder".write(toFile: file, atomically: true, encoding: .utf8)
        // Nothing is listed before the folder is checked: no server is needed.
        let env = ["XNAT_URL": "http://127.0.0.1:9", "XNAT_USER": "u", "XNAT_PASS": "p"]
        let result = try flowctl(["run", workspace.job("xnat-dwi.yml"), "--set", "actions.pull.to=\(file)/dwi"],
                                 environment: env)
        #expect(result.status == 1)
        #expect(result.stderr.contains("error: cannot write the output folder \(file)/dwi: \(file): Not a directory; "
                                       + "make it writable, or choose another (the download's `to:`"), "\(result.stderr)")
        #expect(!result.stderr.contains("NSCocoaErrorDomain"), "\(result.stderr)")
    }

    /// After too many failed logins XNAT locks the account and refuses the right password too;
    /// flowctl said "check the source's credentials", which sends the user to try again.
    @Test func aLockedAccountIsSaidToBeLocked() throws {
        let sandbox = try SandboxProcess(["--platforms", "xnat", "--lockout-after", "2"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["xnat-dwi.yml"])
        defer { workspace.remove() }
        var wrong = sandbox.environment
        wrong["XNAT_PASS"] = "not-the-password"
        let first = try flowctl(["plan", workspace.job("xnat-dwi.yml")], environment: wrong)
        #expect(first.status == 1)
        #expect(first.stdout.contains("refused the login (HTTP 401): check the source's credentials"), "\(first.stdout)")
        _ = try flowctl(["plan", workspace.job("xnat-dwi.yml")], environment: wrong)  // the second failure locks it
        let right = try flowctl(["plan", workspace.job("xnat-dwi.yml")], environment: sandbox.environment)
        #expect(right.status == 1)
        #expect(right.stdout.contains("refused the login (HTTP 401); it says the account is locked: wait for the lock to lift"),
                "\(right.stdout)")
        #expect(!right.stdout.contains("<html"), "\(right.stdout)")
    }

    /// `plan` beside a lock file it could not read showed no drift and said nothing, as if the
    /// remote matched the lock.
    @Test func planWarnsOfADamagedLockOnce() throws {
        let sandbox = try SandboxProcess(["--platforms", "xnat"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["xnat-dwi.yml"])
        defer { workspace.remove() }
        let lock = workspace.root + "/jobs/xnat-dwi.lock.json"
        try "<<<<<<< HEAD\n{\n".write(toFile: lock, atomically: true, encoding: .utf8)
        let plan = try flowctl(["plan", workspace.job("xnat-dwi.yml")], environment: sandbox.environment)
        #expect(plan.status == 0, "\(plan.stderr)")
        let warnings = plan.stderr.components(separatedBy: "warning: lock file \(lock) is damaged: not valid JSON").count - 1
        #expect(warnings == 1, "\(plan.stderr)")
        #expect(plan.stderr.contains("; the drift against it is not shown"), "\(plan.stderr)")
    }

    /// `verify` of a mistyped folder said "no readable flowctl-manifest.json in x (The operation
    /// could not be completed. The file doesn't exist.)", whatever was wrong.
    @Test func verifySaysWhatIsWrongWithTheFolder() throws {
        let workspace = try Workspace(jobs: [])
        defer { workspace.remove() }
        let missing = try flowctl(["verify", workspace.root + "/no-such"])
        #expect(missing.status == 1 && missing.stderr == "error: no such folder \(workspace.root)/no-such\n", "\(missing.stderr)")
        let notOutput = try flowctl(["verify", workspace.root + "/jobs"])
        #expect(notOutput.status == 1)
        #expect(notOutput.stderr.hasPrefix("error: no flowctl-manifest.json in \(workspace.root)/jobs: give the output folder"),
                "\(notOutput.stderr)")
        try "{\"format_version\": 1, \"files\": 3}".write(toFile: workspace.root + "/jobs/flowctl-manifest.json",
                                                         atomically: true, encoding: .utf8)
        let damaged = try flowctl(["verify", workspace.root + "/jobs"])
        #expect(damaged.status == 1)
        #expect(damaged.stderr.hasPrefix("error: \(workspace.root)/jobs/flowctl-manifest.json is damaged: "), "\(damaged.stderr)")
        #expect(!(missing.stderr + notOutput.stderr + damaged.stderr).contains("The operation could not be completed"))
    }

    /// The job files said `eval "$(flowctl-sandbox serve --print-env &)"`, which waited for ever:
    /// the sandbox kept the substitution's stdout open. It lets go of stdout after its lines now,
    /// and names its pid, so that the shell can stop it.
    @Test func theSandboxEnvironmentCanBeEvaluatedInAShell() throws {
        let sandbox = try builtProduct("flowctl-sandbox")
        let script = "eval \"$('\(sandbox)' serve --platforms xnat --print-env 2>/dev/null &)\"; "
            + "echo \"$XNAT_URL $FLOWCTL_SANDBOX_PID\""
        // Not `run`: Foundation's Process learns of an exit from a socket its child inherits, which
        // the sandbox left running would hold. A deadline: without the fix, bash waits for ever.
        let result = try runMeasured("/bin/bash", ["-c", script], deadline: 30)
        let words = result.stdout.split(whereSeparator: \.isWhitespace).map(String.init)
        let pid = words.count == 2 ? Int32(words[1]) : nil
        defer { if let pid { kill(pid, SIGTERM) } }
        #expect(result.exitStatus == 0 && !result.killedAtDeadline, "\(result.output)")
        #expect(words.first?.hasPrefix("http://127.0.0.1:") == true, "\(result.stdout)")
        #expect(pid != nil && kill(pid!, 0) == 0, "the sandbox runs on: \(result.stdout)")
    }

    /// Ctrl-C or SIGTERM to `flowctl-sandbox serve` logged `error ... [HummingbirdCore] Waiting on
    /// child channel: CancellationError()`: its servers were cancelled, not shut down.
    @Test(arguments: [SIGINT, SIGTERM])
    func theSandboxStopsQuietlyOnASignal(_ signal: Int32) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try builtProduct("flowctl-sandbox"))
        process.arguments = ["serve", "--platforms", "xnat,loris"]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let info = try JSONSerialization.jsonObject(with: line) as! [String: Any]
        let xnat = (info["platforms"] as! [String: Any])["xnat"] as! [String: Any]
        // A connection that has served a request and stays open (keep-alive) when the signal comes.
        let port = URLComponents(string: xnat["origin"] as! String)!.port!
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(connected == 0)
        let request = Array("GET /_sandbox/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { write(socket, $0.baseAddress, $0.count) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let got = buffer.withUnsafeMutableBytes { read(socket, $0.baseAddress, $0.count) }
        #expect(String(decoding: buffer.prefix(max(0, got)), as: UTF8.self).hasPrefix("HTTP/1.1 200"))
        let started = Date()
        kill(process.processIdentifier, signal)
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: stderr, as: UTF8.self)
        #expect(process.terminationReason == .exit && process.terminationStatus == 0, "\(text)")
        #expect(!text.contains("error") && !text.contains("CancellationError"), "\(text)")
        // Within the graceful stop's limit (2 s): the idle connection was closed, not waited for.
        #expect(Date().timeIntervalSince(started) < 2)
    }
}
}
