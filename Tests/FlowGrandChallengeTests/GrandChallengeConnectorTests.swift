import FlowFiles
import Foundation
import FlowConnector
import FlowConnectorTesting
import FlowHTTP
import FlowModel
import Testing
@testable import FlowGrandChallenge
@testable import FlowSandbox

/// Starts a Grand-Challenge-only sandbox (HTTPS, port 0, jobs moving on every 20 ms), runs `body`
/// with a source spec that trusts the sandbox CA, stops it.
func withGC(faults: FaultSettings = FaultSettings(), _ body: (Sandbox, GrandChallengeEmulator, SourceSpec) async throws -> Void) async throws {
    try await withSandboxSource(.grandChallenge, faults: faults, configure: { $0.fileSize = FileSizeRange(min: 2000, max: 20_000) }) { sandbox, spec in
        let emulator = try #require(sandbox.emulator(GrandChallengeEmulator.self))
        emulator.jobStepSeconds = 0.02
        try await body(sandbox, emulator, spec)
    }
}

func archiveSelection(_ slug: String = "coronacases.org", images: String = "*.mha") -> Selection {
    Selection(name: "ct-scans", source: "gc", filters: [
        .init(level: "archive", field: "archive.slug", matcher: .glob(Glob(slug))),
        .init(level: "images", field: "image.name", matcher: .glob(Glob(images))),
    ])
}

func temporaryDirectory() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flowgc-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// A local file of `size` deterministic bytes.
func makeFile(_ dir: String, _ name: String, size: Int) throws -> (LocalFile, [UInt8]) {
    var rng = SystemRandomNumberGenerator()
    let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
    let path = dir + "/" + name
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return (LocalFile(path: path, relativePath: name, size: Int64(size)), bytes)
}

/// Polls until the run ends (jobs take 3 steps of 20 ms in these tests).
func finish(_ connector: GrandChallengeConnector, _ run: RemoteRun) async throws -> (RunStatus, [String]) {
    var seen: [String] = []
    for _ in 0..<500 {
        let status = try await connector.poll(run)
        switch status {
        case .running(let s):
            if seen.last != s { seen.append(s) }
            try await Task.sleep(for: .milliseconds(5))
        default:
            return (status, seen)
        }
    }
    Issue.record("job \(run.id) did not finish")
    return (.failed("timeout"), seen)
}

@Suite struct GrandChallengeListingTests {
    @Test func listsTheTenCoronacasesImagesWithTheirFields() async throws {
        try await withGC { _, _, spec in
            let items = try await GrandChallengeConnector(spec: spec).list(archiveSelection())
            #expect(items.map { $0.fields["image.name"]! } == (1...10).map { String(format: "coronacases_%03d.mha", $0) })
            let first = try #require(items.first)
            #expect(first.fields["archive.slug"] == "coronacases.org")
            #expect(first.fields["file.name"] == "coronacases_001.mha")
            #expect(first.fields["file.type"] == "MHD")
            #expect(first.fields["image.modality"] == "CT")
            #expect(first.fields["image.pk"]?.count == 36)
            #expect(first.url.hasPrefix("https://127.0.0.1:"))
            #expect(Set(items.map(\.id)).count == 10)
        }
    }

    @Test func filtersOnImageNamesAndPagesThroughLongLists() async throws {
        try await withGC { sandbox, _, spec in
            for i in 1...230 {
                try sandbox.mutate(.grandChallenge, SandboxMutation(op: .add, path: String(format: "archives/sandbox-archive/scan_%03d.mha", i), size: 100))
            }
            let connector = try GrandChallengeConnector(spec: spec)
            let all = try await connector.list(archiveSelection("sandbox-archive"))
            #expect(all.count == 230)
            #expect(Set(all.map { $0.fields["image.name"]! }).count == 230)
            // Three pages: the first, then two fetched concurrently.
            #expect(sandbox.stats(.grandChallenge).routes["GET /api/v1/cases/images/"] == 3)
            let one = try await connector.list(archiveSelection("sandbox-archive", images: "scan_007.mha"))
            #expect(one.map { $0.fields["image.name"] } == ["scan_007.mha"])
            let glob = try await connector.list(archiveSelection("*", images: "scan_01?.mha"))
            #expect(glob.count == 10)
        }
    }

    /// `count` is a hint, not a promise (Hostile/README.md, "Grand Challenge"): 10^15 for three
    /// images costs one window of pages past the end, not 10^13 offsets; 1 for 150 images loses none.
    @Test func pageCountsThatLieNeitherHangNorLoseImages() async throws {
        try await withSandboxSource(.grandChallenge, configure: { $0.hostile = true; $0.fileSize = FileSizeRange(min: 100, max: 200) }) { sandbox, spec in
            let connector = try GrandChallengeConnector(spec: spec)
            let huge = try await connector.list(archiveSelection("hostile-count-huge"))
            #expect(huge.count == 3)
            #expect(sandbox.stats(.grandChallenge).routes["GET /api/v1/cases/images/"] ?? 0 <= 1 + GrandChallengeConnector.pagesAtOnce)
            let short = try await connector.list(archiveSelection("hostile-count-short"))
            #expect(short.count == 150)
            #expect(Set(short.map { $0.fields["image.name"]! }).count == 150)
        }
    }

    @Test func listsAReaderStudy() async throws {
        try await withGC { _, _, spec in
            let selection = Selection(name: "rs", source: "gc", filters: [
                .init(level: "reader-study", field: "reader_study.slug", matcher: .glob(Glob("corads-score-exam"))),
            ])
            let items = try await GrandChallengeConnector(spec: spec).list(selection)
            #expect(items.map { $0.fields["image.name"]! } == ["corads_001.mha", "corads_002.mha", "corads_003.mha"])
            #expect(items.first?.fields["reader_study.slug"] == "corads-score-exam")
        }
    }

    @Test func aWrongTokenIsAnAuthenticationError() async throws {
        try await withGC { _, _, spec in
            var bad = spec
            bad.credentials["token"] = Secret("Bearer not-the-token")
            await #expect(throws: ConnectorError.self) { try await GrandChallengeConnector(spec: bad).list(archiveSelection()) }
            do { _ = try await GrandChallengeConnector(spec: bad).list(archiveSelection()) } catch let error as ConnectorError {
                guard case .authentication = error else { Issue.record("expected authentication, got \(error)"); return }
            }
        }
    }
}

@Suite struct GrandChallengeTransferTests {
    @Test func downloadsAnImageByteIdenticalWithItsChecksumAndResumes() async throws {
        try await withGC { _, emulator, spec in
            let connector = try GrandChallengeConnector(spec: spec)
            let item = try #require(try await connector.list(archiveSelection()).first)
            let expected = try #require(emulator.data.withLock { $0.images[item.fields["image.pk"]!] }).body.allBytes()
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let result = try await connector.fetch(item, to: dir + "/a.part", resume: false, progress: nil)
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/a.part"))) == expected)
            #expect(result.fileSize == Int64(expected.count))
            let sha = try await FileDigest.compute(path: dir + "/a.part")[.sha256]
            #expect(result.checksum(.sha256) == sha)
            // Resume: a prefix on disk is completed with a Range request.
            try Data(expected.prefix(1000)).write(to: URL(fileURLWithPath: dir + "/b.part"))
            let resumed = try await connector.fetch(item, to: dir + "/b.part", resume: true, progress: nil)
            #expect(resumed.resumed)
            #expect(resumed.bytesTransferred == Int64(expected.count - 1000))
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/b.part"))) == expected)
        }
    }

    @Test func uploadsInPartsByteIdenticalAndARerunTransfersNothing() async throws {
        try await withGC { sandbox, emulator, spec in
            let connector = try GrandChallengeConnector(spec: spec, partSize: 64 * 1024)
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let (file, bytes) = try makeFile(dir, "patient1.mha", size: 200_000)  // 4 parts
            let outcome = try await connector.upload(file, into: ["archive": "sandbox-archive"], overwrite: false)
            #expect(outcome.transferred)
            #expect(outcome.item.fields["image.name"] == "patient1.mha")
            #expect(outcome.item.fields["archive.slug"] == "sandbox-archive")
            #expect(emulator.uploadedBytes(filename: "patient1.mha") == bytes)
            #expect(sandbox.stats(.grandChallenge).routes["PUT /storage/uploads/{pk}/{s3_upload_id}/{part}"] == 4)
            // The image the upload became serves the same bytes.
            _ = try await connector.fetch(outcome.item, to: dir + "/back.part", resume: false, progress: nil)
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/back.part"))) == bytes)

            sandbox.resetStats(.grandChallenge)
            let again = try await connector.upload(file, into: ["archive": "sandbox-archive"], overwrite: false)
            #expect(!again.transferred)
            #expect(again.item.id == outcome.item.id)
            #expect(sandbox.stats(.grandChallenge).uploadRequests == 0)
            #expect(emulator.uploadStatusCounts() == ["Completed": 1])
        }
    }

    @Test func uploadsIntoAReaderStudyAsANewDisplaySet() async throws {
        try await withGC { _, emulator, spec in
            let connector = try GrandChallengeConnector(spec: spec)
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let (file, bytes) = try makeFile(dir, "patient2.mha", size: 5000)
            let outcome = try await connector.upload(file, into: ["reader-study": "corads-score-exam"], overwrite: false)
            #expect(outcome.transferred)
            #expect(outcome.item.fields["reader_study.slug"] == "corads-score-exam")
            #expect(emulator.uploadedBytes(filename: "patient2.mha") == bytes)
            #expect(emulator.data.withLock { $0.displaySets.count } == 4)
        }
    }

    @Test func aFailedUploadIsAbortedAndLeavesNoOrphan() async throws {
        try await withGC { _, emulator, spec in
            emulator.uploadQuotaBytes = 100_000
            let connector = try GrandChallengeConnector(spec: spec, partSize: 64 * 1024)
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let (file, _) = try makeFile(dir, "big.mha", size: 500_000)  // 8 parts: the second batch of URLs is refused
            await #expect(throws: ConnectorError.self) {
                try await connector.upload(file, into: ["archive": "sandbox-archive"], overwrite: false)
            }
            #expect(emulator.uploadStatusCounts() == ["Aborted": 1])
            #expect(emulator.data.withLock { d in d.images.values.contains { $0.name == "big.mha" } } == false)
        }
    }

    @Test func uploadsDespite429sAndListsDespite429s() async throws {
        var faults = FaultSettings()
        faults.errorRates = ["429": 0.25]
        faults.retryAfterSeconds = 0
        try await withGC(faults: faults) { sandbox, emulator, spec in
            let connector = try GrandChallengeConnector(spec: spec, partSize: 16 * 1024)
            let items = try await connector.list(archiveSelection())
            #expect(items.count == 10)
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let (file, bytes) = try makeFile(dir, "throttled.mha", size: 100_000)
            let outcome = try await connector.upload(file, into: ["archive": "sandbox-archive"], overwrite: false)
            #expect(outcome.transferred)
            #expect(emulator.uploadedBytes(filename: "throttled.mha") == bytes)
            #expect((sandbox.stats(.grandChallenge).faultsInjected["status-429"] ?? 0) > 0)
        }
    }
}

@Suite struct GrandChallengeJobTests {
    @Test func aJobGoesThroughItsStatusesToSucceededWithALobeMask() async throws {
        try await withGC { _, emulator, spec in
            // Steps long enough that a poll sees one even on a loaded machine (0.1 s failed once).
            emulator.jobStepSeconds = 0.3
            let connector = try GrandChallengeConnector(spec: spec)
            let input = try #require(try await connector.list(archiveSelection()).first)
            let run = try await connector.startRun("pulmonary-lobe-segmentation", input: input, inputName: nil)
            let (status, seen) = try await finish(connector, run)
            // Polls may skip a step when the machine is busy; the order never changes.
            let order = ["Validating inputs", "Queued", "Started"]
            #expect(!seen.isEmpty && seen == order.filter(seen.contains))
            guard case .succeeded(let outputs) = status else { Issue.record("expected success, got \(status)"); return }
            let mask = try #require(outputs.first)
            #expect(outputs.count == 1)
            #expect(mask.fields["output.socket"] == "pulmonary-lobes")
            #expect(mask.fields["input.name"] == "coronacases_001.mha")
            #expect(mask.fields["input.id"] == input.id)
            #expect(mask.fields["job.id"] == run.id)
            #expect(mask.fields["output.name"] == "coronacases_001_pulmonary-lobes.mha")
            #expect(mask.fields["file.name"] == "coronacases_001_pulmonary-lobes.mha")
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let fetched = try await connector.fetch(mask, to: dir + "/mask.part", resume: false, progress: nil)
            #expect(fetched.fileSize > 0)
            // Starting it again (a retry whose reply was lost) finds the same job instead of a second one.
            let again = try await connector.startRun("pulmonary-lobe-segmentation", input: input, inputName: "ct-image")
            #expect(again.id == run.id)
            #expect(emulator.jobCount == 1)
        }
    }

    @Test func aForcedFailureAndANameMarkerFailTheJobWithItsError() async throws {
        try await withGC { sandbox, emulator, spec in
            let connector = try GrandChallengeConnector(spec: spec)
            let inputs = try await connector.list(archiveSelection())
            emulator.failNextJobs = 1
            let run = try await connector.startRun("pulmonary-lobe-segmentation", input: inputs[1], inputName: nil)
            let (status, _) = try await finish(connector, run)
            guard case .failed(let message) = status else { Issue.record("expected failure, got \(status)"); return }
            #expect(message.contains("exited with code 1"))

            try sandbox.mutate(.grandChallenge, SandboxMutation(op: .add, path: "archives/coronacases.org/case_fail.mha", size: 500))
            let marked = try #require(try await connector.list(archiveSelection(images: "case_fail.mha")).first)
            let (second, _) = try await finish(connector, try await connector.startRun("pulmonary-lobe-segmentation", input: marked, inputName: nil))
            guard case .failed(let text) = second else { Issue.record("expected failure, got \(second)"); return }
            #expect(text.contains("case_fail.mha"))
        }
    }

    @Test func anUnknownInputSocketIsRefusedBeforeAnyJob() async throws {
        try await withGC { _, emulator, spec in
            let connector = try GrandChallengeConnector(spec: spec)
            let input = try #require(try await connector.list(archiveSelection()).first)
            await #expect(throws: ConnectorError.self) {
                try await connector.startRun("pulmonary-lobe-segmentation", input: input, inputName: "no-such-socket")
            }
            #expect(emulator.jobCount == 0)
        }
    }
}
