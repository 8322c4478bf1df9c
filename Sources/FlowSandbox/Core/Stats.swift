import Foundation
import Synchronization
import Logging
import NIOCore
import HummingbirdCore
import HummingbirdTLS

/// Counters of one platform's origin.
public struct PlatformStats: Sendable, Codable, Equatable {
    public var platform: String
    /// All requests except `/_sandbox/*`.
    public var requests: Int = 0
    /// Requests per route template, e.g. `GET /data/experiments/{experiment}/scans`.
    public var routes: [String: Int] = [:]
    /// Responses per status code.
    public var statuses: [String: Int] = [:]
    public var listingRequests: Int = 0
    public var downloadRequests: Int = 0
    public var uploadRequests: Int = 0
    public var authRequests: Int = 0
    /// Response body bytes written to sockets (downloads, listings, everything).
    public var bytesServed: Int64 = 0
    /// File body bytes written to sockets (downloads only: what `FileServer` streams, whole or ranged).
    public var fileBytesServed: Int64 = 0
    /// GETs of a file answered whole (200, from byte 0: no `Range`, or an `If-Range` that failed)
    /// and sent to their last byte: a file fetched whole (an answer cut short does not count).
    public var wholeFileAnswers: Int = 0
    /// Request paths answered whole more than once, with how many times (files fetched whole again).
    public var pathsAnsweredWholeAgain: [String: Int] = [:]
    /// Request body bytes received by uploads.
    public var bytesReceived: Int64 = 0
    /// Faults injected, by kind (`status-503`, `cut`, `truncate`, `latency`).
    public var faultsInjected: [String: Int] = [:]
    public var connections: Int = 0
    public var openConnections: Int = 0
    public var peakConnections: Int = 0
    public var inFlightRequests: Int = 0
    public var peakInFlightRequests: Int = 0

    public init(platform: String) { self.platform = platform }
}

/// Thread-safe counters, one `PlatformStats` per platform.
public final class StatsRecorder: Sendable {
    private let state: Mutex<[PlatformID: PlatformStats]>
    /// Whole-file answers per platform and request path, so `pathsAnsweredWholeAgain` lists only repeats.
    private let wholeAnswers = Mutex<[PlatformID: [String: Int]]>([:])

    init(platforms: [PlatformID]) {
        state = Mutex(Dictionary(uniqueKeysWithValues: platforms.map { ($0, PlatformStats(platform: $0.rawValue)) }))
    }

    /// A snapshot of one platform's counters.
    public func snapshot(_ id: PlatformID) -> PlatformStats {
        state.withLock { $0[id] ?? PlatformStats(platform: id.rawValue) }
    }

    /// Snapshots of all platforms.
    public func snapshotAll() -> [PlatformID: PlatformStats] { state.withLock { $0 } }

    /// Zeroes the counters (open connections and in-flight requests are kept: they are still open).
    public func reset(_ id: PlatformID? = nil) {
        state.withLock { all in
            for key in all.keys where id == nil || key == id {
                let old = all[key]!
                var fresh = PlatformStats(platform: key.rawValue)
                fresh.openConnections = old.openConnections
                fresh.peakConnections = old.openConnections
                fresh.inFlightRequests = old.inFlightRequests
                fresh.peakInFlightRequests = old.inFlightRequests
                all[key] = fresh
            }
        }
        wholeAnswers.withLock { counts in
            if let id { counts[id] = nil } else { counts.removeAll() }
        }
    }

    func update(_ id: PlatformID, _ body: (inout PlatformStats) -> Void) {
        state.withLock { all in
            var s = all[id] ?? PlatformStats(platform: id.rawValue)
            body(&s)
            all[id] = s
        }
    }

    func connectionOpened(_ id: PlatformID) {
        update(id) { $0.connections += 1; $0.openConnections += 1; $0.peakConnections = max($0.peakConnections, $0.openConnections) }
    }
    func connectionClosed(_ id: PlatformID) { update(id) { $0.openConnections -= 1 } }
    func requestStarted(_ id: PlatformID) {
        update(id) { $0.requests += 1; $0.inFlightRequests += 1; $0.peakInFlightRequests = max($0.peakInFlightRequests, $0.inFlightRequests) }
    }
    func requestFinished(_ id: PlatformID, route: String, kind: RouteKind, status: Int) {
        update(id) { s in
            s.inFlightRequests -= 1
            s.routes[route, default: 0] += 1
            s.statuses[String(status), default: 0] += 1
            switch kind {
            case .listing: s.listingRequests += 1
            case .download: s.downloadRequests += 1
            case .upload: s.uploadRequests += 1
            case .auth: s.authRequests += 1
            case .other: break
            }
        }
    }
    func bytesServed(_ id: PlatformID, _ n: Int) { update(id) { $0.bytesServed += Int64(n) } }
    /// File body bytes: counted in `bytesServed` too.
    func fileBytesServed(_ id: PlatformID, _ n: Int) { update(id) { $0.bytesServed += Int64(n); $0.fileBytesServed += Int64(n) } }
    func wholeFileAnswer(_ id: PlatformID, path: String) {
        let count = wholeAnswers.withLock { counts -> Int in
            counts[id, default: [:]][path, default: 0] += 1
            return counts[id]![path]!
        }
        update(id) { s in
            s.wholeFileAnswers += 1
            if count > 1 { s.pathsAnsweredWholeAgain[path] = count }
        }
    }
    /// Counts upload body bytes; returns the platform's total so far.
    @discardableResult
    func bytesReceived(_ id: PlatformID, _ n: Int) -> Int64 {
        var total: Int64 = 0
        update(id) { $0.bytesReceived += Int64(n); total = $0.bytesReceived }
        return total
    }
    func fault(_ id: PlatformID, _ kind: String) { update(id) { $0.faultsInjected[kind, default: 0] += 1 } }
}

/// Wraps the HTTP child channel so the recorder sees every connection open and close.
struct CountingChildChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base
    let platform: PlatformID
    let stats: StatsRecorder

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        stats.connectionOpened(platform)
        defer { stats.connectionClosed(platform) }
        await base.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 (with TLS when `tls` is given) with connection counting for `platform`.
    static func sandbox(tls: TLSConfiguration?, platform: PlatformID, stats: StatsRecorder) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            let http1 = HTTP1Channel(responder: responder, configuration: .init(idleTimeout: .seconds(60)))
            if let tls {
                return CountingChildChannel(base: try TLSChannel(http1, tlsConfiguration: tls), platform: platform, stats: stats)
            }
            return CountingChildChannel(base: http1, platform: platform, stats: stats)
        }
    }
}
