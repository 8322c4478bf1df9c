// flowctl-sandbox: serves the platform emulators of FlowSandbox until SIGINT/SIGTERM.
import ArgumentParser
import FlowSandbox
import Foundation
import Logging

@main
struct FlowctlSandbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flowctl-sandbox",
        abstract: "Faithful emulators of XNAT, LORIS, Grand Challenge and Agora over deterministic synthetic data.",
        subcommands: [Serve.self],
        defaultSubcommand: Serve.self)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start the emulators and print one line of JSON (or `export` lines) describing them.")

    @Option(help: "Seed of all synthetic data and fault decisions.") var seed: UInt64 = 0
    @Option(help: "Multiplier of subject and candidate counts (e.g. 10).") var scale: Double = 1
    @Option(help: "File sizes: a size (1GiB) or a range (4KiB..256KiB).") var fileSize: String = "4KiB..256KiB"
    @Option(help: "Platforms to start, comma-separated (default: all).") var platforms: String?
    @Option(help: "Host to bind.") var host: String = "127.0.0.1"
    @Option(name: .customLong("port"), help: "Fixed port for a platform, e.g. --port xnat=8080 (repeatable; default ephemeral).")
    var ports: [String] = []
    @Option(help: "Serve these platforms over HTTPS, comma-separated, or `all`.") var tls: String?
    @Option(help: "Write the CA certificate (PEM) here instead of a temporary folder.") var caOut: String?

    @Option(help: "XNAT subjects in project testenv (before --scale).") var xnatSubjects: Int = 20
    @Option(help: "DICOM files per XNAT scan.") var xnatDicomFiles: Int = 4
    @Option(help: "Scans per XNAT session (4: T1, DWI, reversed DWI, FLAIR; more are further runs of those).") var xnatScans: Int = 4
    @Flag(help: "Answer duplicate XNAT uploads with 409 instead of 200 {\"duplicates\":[...]}.") var xnatDuplicateConflict = false
    @Option(help: "Deflate the members of XNAT zip archives at this zlib level (0: stored, as by default; tar.gz uses at least 1).")
    var xnatZipDeflate: Int = 0
    @Flag(help: "Write Zip64 records in every XNAT zip archive, whatever its size.") var xnatZip64 = false
    @Flag(help: "Also start the hostile platforms (hostile-xnat and its elsewhere origin) and add hostile objects to gc and agora (Sources/FlowSandbox/Hostile/README.md).")
    var hostile = false
    @Option(help: "LORIS candidates (before --scale).") var lorisCandidates: Int = 233
    @Option(help: "LORIS MINC files per visit, as MIN..MAX.") var lorisFilesPerVisit: String = "9..19"
    @Flag(help: "LORIS v0.0.3-dev behaves like LORIS 22 module code instead of PREVENT-AD's legacy scripts.") var lorisModernDev = false

    @Option(help: "Latency added to every request (ms).") var latencyMs: Int = 0
    @Option(help: "Random extra latency 0...N ms.") var latencyJitterMs: Int = 0
    @Option(help: "Injected status rate, STATUS=RATE (repeatable), e.g. --fault-rate 503=0.05 --fault-rate 429=0.1.")
    var faultRate: [String] = []
    @Option(help: "Retry-After seconds sent with injected 429/503.") var retryAfter: Int = 1
    @Option(help: "Cut download connections after N body bytes.") var cutAfterBytes: Int64?
    @Option(help: "Probability a download is cut (with --cut-after-bytes; default 1).") var cutRate: Double?
    @Option(help: "Probability a download body stops early under its full Content-Length.") var truncateRate: Double = 0
    @Option(help: "Throttle download bodies to N bytes/s.") var slowBodyBps: Int?
    @Option(help: "Sessions and tokens expire after N seconds.") var tokenLifetime: Int?
    @Option(help: "Lock an account after N failed logins.") var lockoutAfter: Int?
    @Option(help: "Apply the fault options to this platform only (default: all).") var faultPlatform: String?
    @Option(help: "Seed of fault decisions (default: --seed).") var faultSeed: UInt64?

    @Flag(help: "Print `export NAME=value` lines instead of JSON.") var printEnv = false
    @Option(help: "Log level (trace, debug, info, notice, warning, error).") var logLevel: String = "warning"

    func run() async throws {
        var config = SandboxConfiguration()
        config.seed = seed
        config.scale = scale
        guard let sizes = FileSizeRange(parsing: fileSize) else { throw ValidationError("bad --file-size \(fileSize)") }
        config.fileSize = sizes
        config.host = host
        if let platforms { config.platforms = platforms.split(separator: ",").map { PlatformID(String($0)) } }
        for p in ports {
            let kv = p.split(separator: "=")
            guard kv.count == 2, let port = Int(kv[1]) else { throw ValidationError("bad --port \(p), want NAME=PORT") }
            config.platformOptions[String(kv[0]), default: PlatformOptions()].port = port
        }
        if let tls {
            if tls == "all" { config.tlsEverywhere = true }
            for name in tls.split(separator: ",") where name != "all" { config.platformOptions[String(name), default: PlatformOptions()].tls = true }
        }
        config.caCertificatePath = caOut
        config.xnatSubjects = xnatSubjects
        config.xnatDicomFilesPerScan = xnatDicomFiles
        config.xnatScansPerSession = xnatScans
        config.xnatDuplicateUploadConflict = xnatDuplicateConflict
        config.xnatArchiveStyle = ArchiveStyle(deflateLevel: min(9, max(0, xnatZipDeflate)), zip64: xnatZip64)
        config.lorisCandidates = lorisCandidates
        config.hostile = hostile
        let fpv = lorisFilesPerVisit.components(separatedBy: "..").compactMap { Int($0) }
        guard fpv.count == 2, fpv[0] <= fpv[1], fpv[0] >= 0 else { throw ValidationError("bad --loris-files-per-visit, want MIN..MAX") }
        config.lorisFilesPerVisit = fpv[0]...fpv[1]
        config.lorisLegacyDev = !lorisModernDev

        var f = FaultSettings()
        f.latencyMs = latencyMs
        f.latencyJitterMs = latencyJitterMs
        for r in faultRate {
            let kv = r.split(separator: "=")
            guard kv.count == 2, Int(kv[0]) != nil, let rate = Double(kv[1]) else { throw ValidationError("bad --fault-rate \(r), want STATUS=RATE") }
            f.errorRates[String(kv[0])] = rate
        }
        f.retryAfterSeconds = retryAfter
        f.cutAfterBytes = cutAfterBytes
        f.cutRate = cutRate
        f.truncateRate = truncateRate
        f.slowBodyBytesPerSecond = slowBodyBps
        f.tokenLifetimeSeconds = tokenLifetime
        f.lockoutAfterFailures = lockoutAfter
        if let faultPlatform { config.faults.platforms[faultPlatform] = f } else { config.faults.all = f }
        config.faults.seed = faultSeed

        var logger = Logger(label: "flowctl-sandbox")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .warning

        // Block the signals before starting so they are only delivered to the dispatch sources,
        // and make the sources before the line is printed: a SIGTERM sent as soon as the line was
        // read fell between the two and was lost (the sandbox ran on).
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let stopRequested = StopSignals()
        let sandbox = try await Sandbox.start(config, logger: logger)
        // Written straight to fd 1 (unbuffered) so a script reading the pipe gets the line at once.
        // `FLOWCTL_SANDBOX_PID` names this process (the in-process library's lines cannot).
        let output = printEnv ? (sandbox.environmentLines() + ["export FLOWCTL_SANDBOX_PID=\(getpid())"]).joined(separator: "\n")
            : sandbox.summaryJSON()
        FileHandle.standardOutput.write(Data((output + "\n").utf8))
        // Then let go of stdout: nothing more is printed there, and a reader waiting for its end
        // (`eval "$(flowctl-sandbox serve --print-env &)"`) would otherwise wait for ever.
        let null = open("/dev/null", O_WRONLY)
        if null >= 0 { dup2(null, STDOUT_FILENO); close(null) }

        await stopRequested.wait()
        await sandbox.stop()
    }
}

/// SIGINT and SIGTERM as dispatch sources, made at once; a signal that comes before `wait()` is kept.
final class StopSignals: @unchecked Sendable {
    // Kept alive for the life of the process.
    private let sources: [DispatchSourceSignal]
    private let signals: AsyncStream<Int32>

    init() {
        let (signals, continuation) = AsyncStream<Int32>.makeStream()
        self.signals = signals
        sources = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { continuation.yield(sig) }
            s.resume()
            return s
        }
    }

    /// Returns at the first signal, or at once if one came already.
    func wait() async {
        var iterator = signals.makeAsyncIterator()
        _ = await iterator.next()
    }
}
