import Foundation
import Synchronization

/// Fault injection settings for one platform (or for all). Every field is optional in JSON.
public struct FaultSettings: Sendable, Codable, Equatable {
    /// Latency added before every response, in milliseconds.
    public var latencyMs: Int = 0
    /// Extra latency drawn uniformly from 0...latencyJitterMs.
    public var latencyJitterMs: Int = 0
    /// Probability per request of answering with a status instead of the real answer,
    /// keyed by status as a string: `{"500":0.05,"503":0.02,"429":0.1}`.
    public var errorRates: [String: Double] = [:]
    /// `Retry-After` seconds sent with 429 and 503.
    public var retryAfterSeconds: Int = 1
    /// Cut the connection after this many body bytes of a download (with probability `cutRate`).
    public var cutAfterBytes: Int64? = nil
    /// Probability that a download is cut after `cutAfterBytes` (1 when only `cutAfterBytes` is set).
    public var cutRate: Double? = nil
    /// Probability that a download stops at a random point under its full `Content-Length` and the
    /// connection closes.
    public var truncateRate: Double = 0
    /// Throttle download bodies to this many bytes per second.
    public var slowBodyBytesPerSecond: Int? = nil
    /// Sessions/tokens expire this many seconds after issue (XNAT JSESSION, LORIS JWT, ...).
    public var tokenLifetimeSeconds: Int? = nil
    /// Lock an account after this many failed logins (for `lockoutSeconds`).
    public var lockoutAfterFailures: Int? = nil
    public var lockoutSeconds: Int = 900
    /// Stop reading upload bodies once the platform has received this many bytes, until the
    /// setting is cleared: a server that stalls mid-upload, so a test can stop a client there.
    public var stallUploadsAfterBytes: Int64? = nil

    public init() {}

    /// True when no fault is configured.
    public var isEmpty: Bool { self == FaultSettings() }

    enum CodingKeys: String, CodingKey {
        case latencyMs, latencyJitterMs, errorRates, retryAfterSeconds, cutAfterBytes, cutRate, truncateRate,
             slowBodyBytesPerSecond, tokenLifetimeSeconds, lockoutAfterFailures, lockoutSeconds,
             stallUploadsAfterBytes
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        latencyMs = try c.decodeIfPresent(Int.self, forKey: .latencyMs) ?? 0
        latencyJitterMs = try c.decodeIfPresent(Int.self, forKey: .latencyJitterMs) ?? 0
        errorRates = try c.decodeIfPresent([String: Double].self, forKey: .errorRates) ?? [:]
        retryAfterSeconds = try c.decodeIfPresent(Int.self, forKey: .retryAfterSeconds) ?? 1
        cutAfterBytes = try c.decodeIfPresent(Int64.self, forKey: .cutAfterBytes)
        cutRate = try c.decodeIfPresent(Double.self, forKey: .cutRate)
        truncateRate = try c.decodeIfPresent(Double.self, forKey: .truncateRate) ?? 0
        slowBodyBytesPerSecond = try c.decodeIfPresent(Int.self, forKey: .slowBodyBytesPerSecond)
        tokenLifetimeSeconds = try c.decodeIfPresent(Int.self, forKey: .tokenLifetimeSeconds)
        lockoutAfterFailures = try c.decodeIfPresent(Int.self, forKey: .lockoutAfterFailures)
        lockoutSeconds = try c.decodeIfPresent(Int.self, forKey: .lockoutSeconds) ?? 900
        stallUploadsAfterBytes = try c.decodeIfPresent(Int64.self, forKey: .stallUploadsAfterBytes)
        for key in errorRates.keys where Int(key) == nil {
            throw DecodingError.dataCorruptedError(forKey: .errorRates, in: c, debugDescription: "status \(key) is not a number")
        }
    }
}

/// The whole fault plan: settings for all platforms, optionally replaced per platform.
public struct SandboxFaults: Sendable, Codable, Equatable {
    /// Applies to every platform without its own entry.
    public var all: FaultSettings = FaultSettings()
    /// Per-platform settings (keyed by platform name); an entry replaces `all` for that platform.
    public var platforms: [String: FaultSettings] = [:]
    /// Seed of fault decisions (nil: the sandbox seed).
    public var seed: UInt64? = nil

    public init(all: FaultSettings = FaultSettings(), platforms: [String: FaultSettings] = [:], seed: UInt64? = nil) {
        self.all = all; self.platforms = platforms; self.seed = seed
    }

    /// The settings in force for one platform.
    public func settings(for id: PlatformID) -> FaultSettings { platforms[id.rawValue] ?? all }

    enum CodingKeys: String, CodingKey { case all, platforms, seed }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        all = try c.decodeIfPresent(FaultSettings.self, forKey: .all) ?? FaultSettings()
        platforms = try c.decodeIfPresent([String: FaultSettings].self, forKey: .platforms) ?? [:]
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
    }
}

/// What the fault controller decided for one request.
struct RequestFaults: Sendable {
    var delayMs: Int = 0
    var status: Int? = nil
    var retryAfter: Int? = nil
    /// For downloads: stop after this many body bytes and close the connection.
    var stopAfterBytes: Int64? = nil
    var stopReason: String? = nil
    var bytesPerSecond: Int? = nil
    /// Draws for body faults, made up front so decisions stay in request order.
    var bodyDraw: Double = 1
    var truncateDraw: Double = 1
    var truncatePoint: Double = 0
}

/// Holds the fault plan and makes deterministic decisions: the n-th request to a platform
/// draws from `hash(seed, platform, n)`, so a sequential client sees the same faults every run.
public final class FaultController: Sendable {
    private struct State { var plan: SandboxFaults; var counters: [PlatformID: UInt64] = [:] }
    private let state: Mutex<State>
    private let baseSeed: UInt64

    init(plan: SandboxFaults, seed: UInt64) {
        state = Mutex(State(plan: plan))
        baseSeed = seed
    }

    /// The current plan.
    public var plan: SandboxFaults {
        get { state.withLock { $0.plan } }
        set { state.withLock { $0.plan = newValue; $0.counters = [:] } }
    }

    /// Settings in force for one platform.
    public func settings(for id: PlatformID) -> FaultSettings { state.withLock { $0.plan.settings(for: id) } }

    /// Replaces one platform's settings (or, with nil, the settings for all).
    public func set(_ settings: FaultSettings, for id: PlatformID?) {
        state.withLock {
            if let id { $0.plan.platforms[id.rawValue] = settings } else { $0.plan.all = settings }
        }
    }

    func decide(for id: PlatformID) -> RequestFaults {
        let (settings, n, seed) = state.withLock { s -> (FaultSettings, UInt64, UInt64) in
            let n = s.counters[id, default: 0]
            s.counters[id] = n + 1
            return (s.plan.settings(for: id), n, s.plan.seed ?? baseSeed)
        }
        var out = RequestFaults()
        if settings.isEmpty { return out }
        var rng = SplitMix64(seed: seed ^ stableHash(id.rawValue) ^ (n &* 0x9E37_79B9_7F4A_7C15))
        out.delayMs = settings.latencyMs
        if settings.latencyJitterMs > 0 { out.delayMs += Int(rng.next() % UInt64(settings.latencyJitterMs + 1)) }
        // One draw decides among the error statuses, so rates add up like a distribution.
        let draw = rng.nextDouble()
        var acc = 0.0
        for (key, rate) in settings.errorRates.sorted(by: { $0.key < $1.key }) {
            acc += rate
            if draw < acc, let status = Int(key) {
                out.status = status
                if status == 429 || status == 503 { out.retryAfter = settings.retryAfterSeconds }
                break
            }
        }
        out.bodyDraw = rng.nextDouble()
        out.truncateDraw = rng.nextDouble()
        out.truncatePoint = rng.nextDouble()
        if let cut = settings.cutAfterBytes, out.bodyDraw < (settings.cutRate ?? 1) {
            out.stopAfterBytes = cut
            out.stopReason = "cut"
        } else if out.truncateDraw < settings.truncateRate {
            out.stopReason = "truncate"  // point resolved against the body length by the file server
        }
        out.bytesPerSecond = settings.slowBodyBytesPerSecond
        return out
    }
}

/// SplitMix64: tiny, fast, good enough for synthetic bytes and fault draws.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.finalize(state)
    }
    mutating func nextDouble() -> Double { Double(next() >> 11) / Double(1 << 53) }
    /// Stateless mix: the value the generator would produce from `x`.
    @inline(__always) static func mix(_ x: UInt64) -> UInt64 { finalize(x &+ 0x9E37_79B9_7F4A_7C15) }
    @inline(__always) static func finalize(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// FNV-1a: a hash of a string that is the same in every process (Swift's Hasher is not).
func stableHash(_ s: String) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
    return h
}
