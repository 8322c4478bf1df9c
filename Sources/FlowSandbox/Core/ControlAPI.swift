import Foundation
import Hummingbird
import NIOCore

/// `/_sandbox/*` on every origin: stats, faults, data mutation, info. Never faulted or counted.
final class ControlAPI: Sendable {
    let faults: FaultController
    let stats: StatsRecorder
    let emulators: [PlatformID: any PlatformEmulator]
    private let endpointsBox: EndpointsBox

    final class EndpointsBox: @unchecked Sendable {
        // Set once during start, before any request can arrive; read-only afterwards.
        var endpoints: [PlatformID: SandboxEndpoint] = [:]
    }

    init(faults: FaultController, stats: StatsRecorder, emulators: [PlatformID: any PlatformEmulator]) {
        self.faults = faults; self.stats = stats; self.emulators = emulators
        self.endpointsBox = EndpointsBox()
    }

    func setEndpoints(_ e: [PlatformID: SandboxEndpoint]) { endpointsBox.endpoints = e }

    func handle(_ request: Request, platform: PlatformID) async -> Response {
        let path = request.uri.path.split(separator: "/").map(String.init)  // ["_sandbox", ...]
        let query = Dictionary(SandboxRequest.parseQuery(request.uri.query ?? ""), uniquingKeysWith: { $1 })
        let all = query["all"] == "true" || query["all"] == "1"
        let sub = path.dropFirst().joined(separator: "/")
        let method = request.method
        do {
            switch (method, sub) {
            case (.get, "stats"):
                if all { return Reply.encodable(.ok, Dictionary(uniqueKeysWithValues: stats.snapshotAll().map { ($0.key.rawValue, $0.value) })) }
                return Reply.encodable(.ok, stats.snapshot(platform))
            case (.post, "stats/reset"), (.delete, "stats"):
                stats.reset(all ? nil : platform)
                return Reply.json(.ok, .object([("reset", .bool(true))]))
            case (.get, "faults"):
                return Reply.encodable(.ok, faults.plan)
            case (.post, "faults"), (.put, "faults"):
                let body = try await request.body.collect(upTo: 1 << 20)
                let data = Data(body.readableBytesView)
                let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
                if object["all"] != nil || object["platforms"] != nil || object["seed"] != nil {
                    faults.plan = try JSONDecoder().decode(SandboxFaults.self, from: data)
                } else {
                    // A bare settings object applies to this origin's platform (`?scope=all` for every platform).
                    let settings = try JSONDecoder().decode(FaultSettings.self, from: data)
                    faults.set(settings, for: query["scope"] == "all" ? nil : platform)
                }
                return Reply.encodable(.ok, faults.plan)
            case (.delete, "faults"):
                faults.plan = SandboxFaults()
                return Reply.encodable(.ok, faults.plan)
            case (.post, "items"):
                let body = try await request.body.collect(upTo: 64 << 20)
                let mutation = try JSONDecoder().decode(SandboxMutation.self, from: Data(body.readableBytesView))
                guard let emulator = emulators[platform] else { throw SandboxError("no platform \(platform)") }
                let result = try emulator.mutate(mutation)
                return Reply.json(.ok, .object([("ok", .bool(true)), ("op", .string(mutation.op.rawValue)), ("item", .string(result))]))
            case (.get, "info"):
                var items: [(String, JSON)] = []
                for (id, e) in endpointsBox.endpoints.sorted(by: { $0.key < $1.key }) {
                    let summary = (emulators[id]?.dataSummary ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, JSON.int(Int64($0.value))) }
                    items.append((id.rawValue, .object([("url", .string(e.url)), ("data", .object(summary))])))
                }
                return Reply.json(.ok, .object(items))
            default:
                if let answer = emulators[platform]?.control(method: method, path: Array(path.dropFirst()), query: query) {
                    return answer
                }
                return Reply.json(.notFound, .object([("error", .string("unknown sandbox control route \(method.rawValue) /\(path.joined(separator: "/"))"))]))
            }
        } catch {
            return Reply.json(.badRequest, .object([("error", .string("\(error)"))]))
        }
    }
}
