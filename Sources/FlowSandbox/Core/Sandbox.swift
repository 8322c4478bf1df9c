import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A running sandbox: one emulator per platform, each on its own loopback origin.
///
///     let sb = try await Sandbox.start(SandboxConfiguration())
///     let xnat = sb.endpoint(.xnat)          // base URL + credentials
///     sb.faults.all.errorRates = ["503": 0.1]
///     await sb.stop()
public final class Sandbox: Sendable {
    /// The configuration the sandbox was started with.
    public let configuration: SandboxConfiguration
    /// Endpoints by platform.
    public let endpoints: [PlatformID: SandboxEndpoint]
    /// PEM file of the CA that signed the HTTPS certificate (trust it as a CA bundle).
    public let caCertificatePath: String
    private let emulators: [PlatformID: any PlatformEmulator]
    private let faultController: FaultController
    private let recorder: StatsRecorder
    private let servers: [OriginServer]
    private let ownsCADirectory: String?

    /// One origin's server: its service group (so it can be shut down gracefully) and the task running it.
    struct OriginServer {
        let group: ServiceGroup
        let task: Task<Void, any Error>

        /// Stops accepting, lets requests in flight finish (a stuck one is cancelled after the group's
        /// maximum), closes idle connections, and waits until the server is down.
        func shutDown() async {
            await group.triggerGracefulShutdown()
            _ = try? await task.value
        }
    }

    /// How long a graceful stop waits for requests in flight (an endless or slow body) before cancelling them.
    static let maximumGracefulShutdown: Duration = .seconds(2)

    private init(configuration: SandboxConfiguration, endpoints: [PlatformID: SandboxEndpoint], caCertificatePath: String,
                 emulators: [PlatformID: any PlatformEmulator], faults: FaultController, stats: StatsRecorder,
                 servers: [OriginServer], ownsCADirectory: String?) {
        self.configuration = configuration; self.endpoints = endpoints; self.caCertificatePath = caCertificatePath
        self.emulators = emulators; self.faultController = faults; self.recorder = stats; self.servers = servers
        self.ownsCADirectory = ownsCADirectory
    }

    /// Builds the synthetic data, generates the certificate, binds every origin and returns once all listen.
    public static func start(_ configuration: SandboxConfiguration = SandboxConfiguration(), logger: Logger? = nil) async throws -> Sandbox {
        var logger = logger ?? Logger(label: "flowctl-sandbox")
        if logger.logLevel < .warning && ProcessInfo.processInfo.environment["LOG_LEVEL"] == nil { logger.logLevel = .warning }
        let ids = PlatformRegistry.platformsToStart(configuration)
        let faults = FaultController(plan: configuration.faults, seed: configuration.seed)
        let stats = StatsRecorder(platforms: ids)

        var emulators: [PlatformID: any PlatformEmulator] = [:]
        for id in ids {
            guard let type = PlatformRegistry.type(for: id) else { throw SandboxError("unknown platform '\(id)'") }
            let context = PlatformContext(configuration: configuration, faults: faults, stats: stats,
                                          platformSeed: configuration.seed ^ stableHash(id.rawValue))
            emulators[id] = try type.init(context: context)
        }

        // Certificate: always made (cheap), so the CA path is valid whichever platform uses TLS.
        let certs = try SandboxCertificates.generate(hosts: [configuration.host])
        var ownsDir: String? = nil
        let caPath: String
        if let p = configuration.caCertificatePath {
            caPath = p
        } else {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flowctl-sandbox-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            ownsDir = dir
            caPath = dir + "/ca.pem"
        }
        try certs.caPEM.write(toFile: caPath, atomically: false, encoding: .utf8)
        let tls = try certs.serverTLSConfiguration()

        let control = ControlAPI(faults: faults, stats: stats, emulators: emulators)
        var servers: [OriginServer] = []
        var endpoints: [PlatformID: SandboxEndpoint] = [:]
        do {
            for id in ids {
                let emulator = emulators[id]!
                let options = configuration.options(for: id)
                let useTLS = options.tls ?? (configuration.tlsEverywhere || type(of: emulator).defaultTLS)
                let origin = OriginBox()
                let responder = SandboxResponder(platform: emulator, id: id, origin: origin, faults: faults, stats: stats, control: control)
                let (portStream, portContinuation) = AsyncStream<Int>.makeStream()
                let app = Application(
                    responder: responder,
                    server: .sandbox(tls: useTLS ? tls : nil, platform: id, stats: stats),
                    configuration: .init(address: .hostname(configuration.host, port: options.port), serverName: nil),
                    onServerRunning: { channel in
                        portContinuation.yield(channel.localAddress?.port ?? -1)
                        portContinuation.finish()
                    },
                    logger: logger)
                // Run in a service group of its own, so that `stop()` shuts it down gracefully: cancelling
                // the task instead made HummingbirdCore log "Waiting on child channel: CancellationError()".
                var groupConfiguration = ServiceGroupConfiguration(services: [app], logger: logger)
                groupConfiguration.maximumGracefulShutdownDuration = maximumGracefulShutdown
                let group = ServiceGroup(configuration: groupConfiguration)
                let task = Task {
                    defer { portContinuation.finish() }
                    try await group.run()
                }
                servers.append(OriginServer(group: group, task: task))
                var port: Int? = nil
                for await p in portStream { port = p }
                guard let port, port > 0 else {
                    _ = try? await task.value  // surface the bind error when there is one
                    throw SandboxError("\(id): server did not start on \(configuration.host):\(options.port)")
                }
                let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
                let originURL = "\(useTLS ? "https" : "http")://\(host):\(port)"
                origin.value = originURL
                endpoints[id] = SandboxEndpoint(platform: id.rawValue, url: emulator.baseURL(origin: originURL), origin: originURL,
                                                port: port, tls: useTLS, credentials: emulator.credentials,
                                                extras: emulator.endpointExtras)
            }
        } catch {
            for server in servers { await server.shutDown() }
            throw error
        }
        control.setEndpoints(endpoints)
        for emulator in emulators.values { emulator.sandboxDidStart(endpoints: endpoints, peers: emulators) }
        return Sandbox(configuration: configuration, endpoints: endpoints, caCertificatePath: caPath, emulators: emulators,
                       faults: faults, stats: stats, servers: servers, ownsCADirectory: ownsDir)
    }

    /// Stops every server gracefully (requests in flight finish, idle connections close) and removes
    /// the temporary CA file.
    public func stop() async {
        await withTaskGroup(of: Void.self) { group in
            for server in servers { group.addTask { await server.shutDown() } }
        }
        if let dir = ownsCADirectory { try? FileManager.default.removeItem(atPath: dir) }
    }

    /// Base URL and credentials of one platform (fatal if the platform was not started).
    public func endpoint(_ id: PlatformID) -> SandboxEndpoint {
        guard let e = endpoints[id] else { preconditionFailure("platform \(id) is not running in this sandbox") }
        return e
    }

    /// The platforms running, sorted by name.
    public var platforms: [PlatformID] { endpoints.keys.sorted() }

    /// The fault plan in force; set it to change faults at runtime.
    public var faults: SandboxFaults {
        get { faultController.plan }
        set { faultController.plan = newValue }
    }

    /// Counters of one platform.
    public func stats(_ id: PlatformID) -> PlatformStats { recorder.snapshot(id) }
    /// Counters of every platform.
    public func stats() -> [PlatformID: PlatformStats] { recorder.snapshotAll() }
    /// Zeroes the counters of one platform (nil: all).
    public func resetStats(_ id: PlatformID? = nil) { recorder.reset(id) }

    /// Adds, removes or modifies one item of a platform's data; returns the item's canonical path.
    @discardableResult
    public func mutate(_ id: PlatformID, _ mutation: SandboxMutation) throws -> String {
        guard let e = emulators[id] else { throw SandboxError("platform \(id) is not running") }
        return try e.mutate(mutation)
    }

    /// The emulator object of one platform (typed access, e.g. `sb.emulator(XNATEmulator.self)`).
    public func emulator<E: PlatformEmulator>(_ type: E.Type) -> E? { emulators[E.id] as? E }

    /// The one-line JSON the CLI prints: every endpoint plus the CA path.
    public func summaryJSON() -> String {
        var platforms: [(String, JSON)] = []
        for id in self.platforms {
            let e = endpoints[id]!
            var fields: [(String, JSON)] = [("url", .string(e.url)), ("origin", .string(e.origin)), ("tls", .bool(e.tls))]
            let c = e.credentials
            if let u = c.username { fields.append(("username", .string(u))) }
            if let p = c.password { fields.append(("password", .string(p))) }
            if let t = c.token { fields.append(("token", .string(t))) }
            if let k = c.apiKey { fields.append(("apiKey", .string(k))) }
            for (k, v) in e.extras.sorted(by: { $0.key < $1.key }) { fields.append((k, .string(v))) }
            platforms.append((id.rawValue, .object(fields)))
        }
        return JSON.object([("platforms", .object(platforms)), ("caCertificate", .string(caCertificatePath)),
                            ("seed", .string(String(configuration.seed))), ("pid", .int(Int64(getpid())))]).serialized()
    }

    /// `export NAME=value` lines for shells (`eval "$(flowctl-sandbox serve --print-env &)"`).
    public func environmentLines() -> [String] {
        var lines: [String] = []
        for id in platforms {
            for (k, v) in emulators[id]!.environment(endpoint: endpoints[id]!) { lines.append("export \(k)=\(shellQuote(v))") }
        }
        lines.append("export FLOWCTL_SANDBOX_CA=\(shellQuote(caCertificatePath))")
        return lines
    }

    private func shellQuote(_ s: String) -> String {
        if s.allSatisfy({ $0.isLetter || $0.isNumber || "-_./:@%+=,".contains($0) }) { return s }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

/// The origin string, known only after the port is bound (responders are built before).
final class OriginBox: @unchecked Sendable {
    // Written once in `Sandbox.start` before `start` returns; requests racing the write see "".
    private let lock = Mutex<String>("")
    var value: String {
        get { lock.withLock { $0 } }
        set { lock.withLock { $0 = newValue } }
    }
}
