import FlowCommands
import FlowConnector
import FlowConnectorTesting
import FlowModel
import FlowSandbox
import Foundation
import Testing

/// The connector contract (`ConnectorContract`), run against every connector: the four
/// platforms' through their emulators, and a local folder.
@Suite struct ConformanceTests {
    static let platforms: [PlatformID] = [.xnat, .loris, .grandChallenge, .agora]

    /// Small data: a handful of subjects, candidates, cases, exams.
    static func small(_ config: inout SandboxConfiguration) {
        config.xnatSubjects = 2
        config.lorisCandidates = 2
        config.lorisFilesPerVisit = 2...2
    }

    @Test(arguments: platforms)
    func listsFetchesAndResumesAsPromised(platform: PlatformID) async throws {
        try await withSandboxSource(platform, configure: Self.small) { _, spec in
            let connector = try ConnectorFactory.make(spec)
            let items = try await ConnectorContract.listing(connector, everythingSelection(on: platform))
            for item in items.prefix(3) {
                let bytes = try await ConnectorContract.fetch(connector, item)
                try await ConnectorContract.resume(connector, item, whole: bytes, expectRange: true)
            }
        }
    }

    /// Injected 503s and 429s (with `Retry-After`) cost retries, never items: the listing under
    /// faults is the listing without them.
    @Test(arguments: platforms)
    func aListingUnderFaultsIsTheSameListing(platform: PlatformID) async throws {
        var clean: Set<String> = []
        try await withSandboxSource(platform, configure: Self.small) { _, spec in
            clean = Set(try await ConnectorContract.listing(try ConnectorFactory.make(spec), everythingSelection(on: platform)).map(\.id))
        }
        var faults = FaultSettings()
        faults.errorRates = ["500": 0.1, "503": 0.1, "429": 0.05]
        faults.retryAfterSeconds = 0
        try await withSandboxSource(platform, faults: faults, configure: Self.small) { sandbox, spec in
            let items = try await ConnectorContract.listing(try ConnectorFactory.make(spec), everythingSelection(on: platform))
            #expect(Set(items.map(\.id)) == clean)
            let stats = sandbox.stats(platform)
            #expect((stats.statuses["503"] ?? 0) + (stats.statuses["429"] ?? 0) > 0, "no fault was injected")
        }
    }

    @Test func aLocalFolderKeepsTheContract() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("flowctl-conformance-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/sub-01", withIntermediateDirectories: true)
        for (name, size) in [("sub-01/a.dcm", 3000), ("sub-01/b.dcm", 17), ("notes.txt", 1)] {
            try Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) }).write(to: URL(fileURLWithPath: root + "/" + name))
        }
        let connector = try ConnectorFactory.make(SourceSpec(name: "disk", type: .local, url: root))
        let items = try await ConnectorContract.listing(connector, Selection(name: "all", source: "disk"))
        #expect(items.count == 3)
        for item in items {
            let bytes = try await ConnectorContract.fetch(connector, item)
            try await ConnectorContract.resume(connector, item, whole: bytes)
        }
    }
}
