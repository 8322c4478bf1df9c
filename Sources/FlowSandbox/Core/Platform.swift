import Foundation
import HTTPTypes
import Hummingbird

/// Identifies one emulated platform; each platform is served on its own origin (own port).
public struct PlatformID: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
    public static func < (a: PlatformID, b: PlatformID) -> Bool { a.rawValue < b.rawValue }
}

/// Credentials the sandbox accepts on one platform (fixed, well-known test values).
public struct SandboxCredentials: Sendable, Codable, Equatable {
    public var username: String?
    public var password: String?
    public var token: String?
    public var apiKey: String?
    public init(username: String? = nil, password: String? = nil, token: String? = nil, apiKey: String? = nil) {
        self.username = username; self.password = password; self.token = token; self.apiKey = apiKey
    }
}

/// Where a running platform emulator can be reached.
public struct SandboxEndpoint: Sendable, Codable, Equatable {
    /// Platform name (`xnat`, `loris`, ...).
    public var platform: String
    /// Origin plus the platform's base path, e.g. `http://127.0.0.1:40123` (no trailing slash).
    public var url: String
    /// The bare origin (`scheme://host:port`).
    public var origin: String
    public var port: Int
    public var tls: Bool
    public var credentials: SandboxCredentials
    /// Platform-specific extras (e.g. LORIS `apiVersion`), also printed as env vars.
    public var extras: [String: String]
}

/// What a route is, for the listing-vs-download counters.
public enum RouteKind: String, Sendable, Codable {
    case listing, download, upload, auth, other
}

/// Everything a platform emulator gets from the core when it is created.
public struct PlatformContext: Sendable {
    public let configuration: SandboxConfiguration
    public let faults: FaultController
    public let stats: StatsRecorder
    /// Seed mixed with the platform name, so two platforms never share synthetic bytes.
    public var platformSeed: UInt64
}

/// A platform emulator: a self-contained set of files (see README.md, "Adding a platform").
///
/// The core owns the socket, TLS, faults, counters and `/_sandbox/*` control routes; the
/// emulator answers every other request on its origin through `handle(_:)`.
public protocol PlatformEmulator: AnyObject, Sendable {
    /// Stable name: used in URLs of the control API, JSON output and stats.
    static var id: PlatformID { get }
    /// Whether the platform is served over HTTPS unless the configuration says otherwise.
    static var defaultTLS: Bool { get }
    /// Builds the synthetic data; must be fast (seconds for 100,000 files).
    init(context: PlatformContext) throws
    /// The credentials printed for clients.
    var credentials: SandboxCredentials { get }
    /// Base URL for clients given the origin (e.g. add `/api/v1/`).
    func baseURL(origin: String) -> String
    /// Platform-specific extras for the endpoint (printed as `<PREFIX>_<KEY>` env vars).
    var endpointExtras: [String: String] { get }
    /// `export` lines for `--print-env`, e.g. `XNAT_URL`.
    func environment(endpoint: SandboxEndpoint) -> [(String, String)]
    /// Answers one request (everything but `/_sandbox/*`).
    func handle(_ request: SandboxRequest) async throws -> Response
    /// Adds, removes or modifies one item at runtime (path syntax is the platform's; see README).
    func mutate(_ mutation: SandboxMutation) throws -> String
    /// Summary counts of the synthetic data (for `GET /_sandbox/info` and the CLI).
    var dataSummary: [String: Int] { get }
    /// Whether the platform misbehaves on purpose: started only with `SandboxConfiguration.hostile`
    /// or when named in `platforms`, never by default.
    static var isHostile: Bool { get }
    /// Platforms that start whenever this one does (e.g. a second origin it redirects to).
    static var companions: [PlatformID] { get }
    /// Called once every origin listens, with the endpoints and emulators of the whole sandbox.
    func sandboxDidStart(endpoints: [PlatformID: SandboxEndpoint], peers: [PlatformID: any PlatformEmulator])
    /// Answers one of the platform's own control routes `/_sandbox/<path>` (nil: not one of them).
    func control(method: HTTPRequest.Method, path: [String], query: [String: String]) -> Response?
}

extension PlatformEmulator {
    public func baseURL(origin: String) -> String { origin }
    public var endpointExtras: [String: String] { [:] }
    public static var isHostile: Bool { false }
    public static var companions: [PlatformID] { [] }
    public func sandboxDidStart(endpoints: [PlatformID: SandboxEndpoint], peers: [PlatformID: any PlatformEmulator]) {}
    public func control(method: HTTPRequest.Method, path: [String], query: [String: String]) -> Response? { nil }
}

/// A runtime change of the synthetic data.
public struct SandboxMutation: Sendable, Codable, Equatable {
    public enum Operation: String, Sendable, Codable { case add, remove, modify }
    public var op: Operation
    /// Platform-specific item path, e.g. XNAT `testenv/SUBJ_001/SUBJ_001_MR1/2/NIFTI/new.nii.gz`.
    public var path: String
    /// Size of a synthetic file body for `add`/`modify` (default: a size drawn from the configured range).
    public var size: Int64?
    /// Literal body (UTF-8) for `add`/`modify`; wins over `size`.
    public var content: String?
    public init(op: Operation, path: String, size: Int64? = nil, content: String? = nil) {
        self.op = op; self.path = path; self.size = size; self.content = content
    }
}

/// Errors the emulators throw for the control API.
public struct SandboxError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The list of platforms the sandbox knows. Adding a platform = adding one line here.
enum PlatformRegistry {
    static let all: [any PlatformEmulator.Type] = [
        XNATEmulator.self,
        LORISEmulator.self,
        GrandChallengeEmulator.self,
        AgoraEmulator.self,
        HostileXNATEmulator.self,
        HostileElsewhereEmulator.self,
    ]

    /// The platforms to start: the configured ones (or every non-hostile one), the hostile ones
    /// when asked for, and the companions of each, in order and without repeats.
    static func platformsToStart(_ configuration: SandboxConfiguration) -> [PlatformID] {
        var ids = configuration.platforms ?? all.filter { !$0.isHostile }.map { $0.id }
        if configuration.hostile { ids += all.filter { $0.isHostile }.map { $0.id } }
        ids += ids.flatMap { type(for: $0)?.companions ?? [] }
        var seen = Set<PlatformID>()
        return ids.filter { seen.insert($0).inserted }
    }
    static func type(for id: PlatformID) -> (any PlatformEmulator.Type)? {
        all.first { $0.id == id }
    }
}
