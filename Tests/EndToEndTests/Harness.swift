import Foundation
import Testing

/// The repository root, from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// A built executable of this package (`flowctl`, `flowctl-sandbox`), next to the test bundle.
func builtProduct(_ name: String) throws -> String {
    var candidates = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path]
    candidates.append(repositoryRoot + "/.build/debug")
    for dir in candidates where FileManager.default.isExecutableFile(atPath: dir + "/" + name) {
        return dir + "/" + name
    }
    throw HarnessError("\(name) is not built; run `swift build` first (looked in \(candidates))")
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A `flowctl-sandbox serve` process on ephemeral loopback ports, stopped by `stop()`.
final class SandboxProcess: @unchecked Sendable {
    let process = Process()
    let info: [String: Any]

    /// Starts the sandbox with extra arguments and waits for its JSON line.
    init(_ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: try builtProduct("flowctl-sandbox"))
        process.arguments = ["serve"] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        let deadline = Date().addingTimeInterval(30)
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty {
                if !process.isRunning || Date() > deadline { throw HarnessError("flowctl-sandbox did not start") }
                continue
            }
            line.append(chunk)
        }
        let first = line.split(separator: UInt8(ascii: "\n")).first ?? line[...]
        info = try JSONSerialization.jsonObject(with: Data(first)) as! [String: Any]
    }

    func platform(_ name: String) -> [String: Any] {
        (info["platforms"] as! [String: Any])[name] as! [String: Any]
    }

    var caPath: String { info["caCertificate"] as? String ?? "" }

    /// The environment a job file reads (`XNAT_URL`, `LORIS_USER`, ...), as `--print-env` names it.
    var environment: [String: String] {
        var env: [String: String] = ["FLOWCTL_SANDBOX_CA": caPath]
        let platforms = info["platforms"] as! [String: Any]
        if let x = platforms["xnat"] as? [String: Any] {
            env["XNAT_URL"] = x["url"] as? String; env["XNAT_USER"] = x["username"] as? String
            env["XNAT_PASS"] = x["password"] as? String
        }
        if let l = platforms["loris"] as? [String: Any] {
            env["LORIS_URL"] = l["url"] as? String; env["LORIS_USER"] = l["username"] as? String
            env["LORIS_PASS"] = l["password"] as? String; env["LORIS_API_VERSION"] = l["apiVersion"] as? String
        }
        if let g = platforms["gc"] as? [String: Any] ?? platforms["grand-challenge"] as? [String: Any] {
            env["GC_URL"] = g["url"] as? String; env["GC_TOKEN"] = g["token"] as? String
        }
        if let h = platforms["hostile-xnat"] as? [String: Any] {
            env["HOSTILE_XNAT_URL"] = h["url"] as? String; env["HOSTILE_XNAT_USER"] = h["username"] as? String
            env["HOSTILE_XNAT_PASS"] = h["password"] as? String
        }
        if let e = platforms["hostile-elsewhere"] as? [String: Any] { env["HOSTILE_ELSEWHERE_URL"] = e["url"] as? String }
        if let a = platforms["agora"] as? [String: Any] {
            env["AGORA_URL"] = a["url"] as? String; env["AGORA_API_KEY"] = (a["apiKey"] ?? a["api_key"] ?? a["token"]) as? String
        }
        return env
    }

    /// GET or POST a control route on a platform's origin (plain loopback HTTP or HTTPS with the CA).
    func control(_ platform: String, _ path: String, method: String = "GET", body: String? = nil) throws -> Data {
        let origin = self.platform(platform)["origin"] as! String
        let args = ["-sS", "--fail", "--cacert", caPath, "-X", method, origin + path]
            + (body.map { ["-H", "Content-Type: application/json", "--data", $0] } ?? [])
        let result = try run("/usr/bin/curl", args)
        guard result.status == 0 else { throw HarnessError("control \(path): \(result.stderr)") }
        return Data(result.stdout.utf8)
    }

    /// The platform's counters.
    func stats(_ platform: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: control(platform, "/_sandbox/stats")) as! [String: Any]
    }

    func resetStats(_ platform: String) throws { _ = try control(platform, "/_sandbox/stats/reset", method: "POST") }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}

/// What a process printed and how it ended.
struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program to completion, capturing its output.
@discardableResult
func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
         currentDirectory: String? = nil) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    process.environment = env
    if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // A hung process must fail its test, not stall the whole suite.
    let pid = process.processIdentifier
    let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
    DispatchQueue.global().asyncAfter(deadline: .now() + 300, execute: watchdog)
    defer { watchdog.cancel() }
    // Read both pipes while it runs so a chatty process cannot block on a full pipe.
    final class Box: @unchecked Sendable { var data = Data() }
    let stdout = Box()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { stdout.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus, stdout: String(decoding: stdout.data, as: UTF8.self),
                         stderr: String(decoding: stderr, as: UTF8.self))
}

/// How a measured process ended, what it printed, and what it cost.
struct MeasuredRun {
    /// The exit status, when it exited (nil when a signal ended it).
    var exitStatus: Int32?
    /// The signal that ended it, if one did.
    var signal: Int32?
    /// Whether the harness killed it at its deadline.
    var killedAtDeadline: Bool
    var stdout: String
    var stderr: String
    var seconds: Double
    /// Peak resident set size (`ru_maxrss` from `wait4`), in KiB.
    var peakRSSKiB: Int
    /// stdout and stderr together, for searching.
    var output: String { stdout + "\n" + stderr }
}

/// Runs a program to completion under a hard deadline (SIGKILL), measuring its wall time and
/// peak RSS with `wait4`, which `Process` cannot give since it reaps the child itself.
func runMeasured(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                 deadline: Double = 200) throws -> MeasuredRun {
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
    guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { throw HarnessError("pipe failed") }
    // Close-on-exec, so no other child keeps these pipes open (dup2 clears it on the child's 1 and 2).
    for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
    posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
    let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { for p in argv + envp { free(p) } }
    var pid: pid_t = 0
    let started = Date()
    let spawned = posix_spawn(&pid, executable, &actions, nil, argv, envp)
    close(outPipe[1]); close(errPipe[1])
    guard spawned == 0 else {
        close(outPipe[0]); close(errPipe[0])
        throw HarnessError("posix_spawn \(executable): \(String(cString: strerror(spawned)))")
    }
    final class Flag: @unchecked Sendable { var killed = false }
    let killed = Flag()
    let watchdog = DispatchWorkItem { [pid] in killed.killed = true; kill(pid, SIGKILL) }
    DispatchQueue.global().asyncAfter(deadline: .now() + deadline, execute: watchdog)
    // Both pipes are read while it runs, so a chatty process cannot block on a full pipe.
    final class Box: @unchecked Sendable { var data = Data() }
    let out = Box(), err = Box()
    let group = DispatchGroup()
    for (fd, box) in [(outPipe[0], out), (errPipe[0], err)] {
        group.enter()
        DispatchQueue.global().async {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = read(fd, &buffer, buffer.count)
                if n > 0 { box.data.append(contentsOf: buffer[0..<n]); continue }
                if n < 0 && errno == EINTR { continue }
                break
            }
            close(fd)
            group.leave()
        }
    }
    // Peak memory from the process's own high-water mark (VmHWM, which only grows), read every
    // 10 ms until it exits. Not `ru_maxrss`: Linux carries the spawning process's RSS across
    // exec into it (posix_spawn shares the parent's memory until exec), so a large test process
    // made every child look as large.
    final class Peak: @unchecked Sendable { var kib = 0; var done = false; let lock = NSLock() }
    let peak = Peak()
    let sampler = DispatchGroup()
    sampler.enter()
    DispatchQueue.global().async { [pid] in
        defer { sampler.leave() }
        while !peak.lock.withLock({ peak.done }) {
            if let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
               let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
               let kib = Int(line.split(separator: " ").dropFirst().first ?? "") {
                peak.lock.withLock { peak.kib = max(peak.kib, kib) }
            }
            usleep(10_000)
        }
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    peak.lock.withLock { peak.done = true }
    sampler.wait()
    watchdog.cancel()
    let seconds = Date().timeIntervalSince(started)
    group.wait()
    let signal = status & 0x7F
    return MeasuredRun(exitStatus: signal == 0 ? (status >> 8) & 0xFF : nil, signal: signal == 0 ? nil : signal,
                       killedAtDeadline: killed.killed, stdout: String(decoding: out.data, as: UTF8.self),
                       stderr: String(decoding: err.data, as: UTF8.self), seconds: seconds, peakRSSKiB: peak.kib)
}

/// Runs the built `flowctl`.
@discardableResult
func flowctl(_ arguments: [String], environment: [String: String] = [:]) throws -> ProcessResult {
    try run(try builtProduct("flowctl"), arguments, environment: environment)
}

/// A job file copied into a fresh folder (so its relative output paths land there).
struct Workspace {
    let root: String

    init(jobs: [String]) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("flowctl-e2e-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root + "/jobs", withIntermediateDirectories: true)
        for job in jobs {
            try FileManager.default.copyItem(atPath: repositoryRoot + "/jobs/" + job, toPath: root + "/jobs/" + job)
        }
    }

    func job(_ name: String) -> String { root + "/jobs/" + name }

    /// Copies a folder of the repository (e.g. `results`) into the workspace.
    func copy(_ folder: String) throws {
        try FileManager.default.copyItem(atPath: repositoryRoot + "/" + folder, toPath: root + "/" + folder)
    }

    /// Every file under a folder: relative path, size, sha256 (the journal folder left out).
    func listing(_ folder: String) throws -> String {
        let base = root + "/" + folder
        let find = try run("/usr/bin/find", [base, "-type", "f", "-not", "-path", "*/.flowctl/*",
                                             "-not", "-name", "flowctl-manifest.json"])
        let files = find.stdout.split(separator: "\n").map(String.init).sorted()
        var lines: [String] = []
        for file in files {
            let sum = try run("/usr/bin/sha256sum", [file]).stdout.prefix(64)
            let size = (try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? -1
            lines.append("\(file.dropFirst(base.count + 1)) \(size) \(sum)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }
}

/// Compares with a golden file; `FLOWCTL_UPDATE_GOLDEN=1 swift test` rewrites it.
func expectGolden(_ text: String, _ name: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
    let path = repositoryRoot + "/Tests/EndToEndTests/Golden/" + name
    if ProcessInfo.processInfo.environment["FLOWCTL_UPDATE_GOLDEN"] == "1" {
        try text.write(toFile: path, atomically: false, encoding: .utf8)
    }
    let golden = try String(contentsOfFile: path, encoding: .utf8)
    #expect(text == golden, sourceLocation: sourceLocation)
}

/// Every end-to-end suite nests in this one, so they run one at a time: each starts its own
/// sandbox and flowctl processes, and on two cores running them together only adds noise.
@Suite(.serialized) enum EndToEnd {}
