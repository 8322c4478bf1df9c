import FlowFiles
import Foundation
import FlowConnector
import FlowConnectorTesting
import FlowHTTP
import FlowModel
import FlowSandbox
import Testing
@testable import FlowAgora

/// Starts an Agora-only sandbox on port 0 with fast tasks and imports, runs `body`, stops it.
func withAgora(concurrency: Int = 4, faults: FaultSettings = FaultSettings(),
               _ body: (Sandbox, AgoraEmulator, SourceSpec) async throws -> Void) async throws {
    try await withSandboxSource(.agora, concurrency: concurrency, faults: faults) { sandbox, spec in
        let emulator = try #require(sandbox.emulator(AgoraEmulator.self))
        emulator.taskDuration = 0.05
        emulator.importDuration = 0.02
        try await body(sandbox, emulator, spec)
    }
}

/// Seed 001's selection: project Wrist Study, exams `Wrist*`, PHILIPS_RAW datasets.
func wristRaw(_ extra: [Selection.Filter] = []) -> Selection {
    Selection(name: "wrist-raw", source: "agora", filters: [
        Selection.Filter(level: "project", field: "project.name", matcher: .glob(Glob("Wrist Study"))),
        Selection.Filter(level: "exams", field: "exam.name", matcher: .glob(Glob("Wrist*"))),
        Selection.Filter(level: "datasets", field: "dataset.type", matcher: .glob(Glob("PHILIPS_RAW"))),
    ] + extra)
}

func sha1Hex(_ bytes: [UInt8]) -> String { Digester.hex(.sha1, of: bytes) }

func temporaryDirectory() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flowagora-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

@Suite struct AgoraListingTests {
    @Test func listsTheRawDataOfWristExamsWithEveryField() async throws {
        try await withAgora { _, _, spec in
            let items = try await AgoraConnector(spec: spec).list(wristRaw())
            // 4 Wrist exams x 3 series x (.raw + .lab).
            #expect(items.count == 24)
            #expect(Set(items.compactMap { $0.fields["exam.name"] }) == ["Wrist 01", "Wrist 02", "Wrist 03", "Wrist 04"])
            #expect(items.allSatisfy { $0.fields["dataset.type"] == "PHILIPS_RAW" })
            #expect(Set(items.compactMap { $0.fields["file.name"].map(FileName.extension(of:)) }) == [".raw", ".lab"])
            let first = try #require(items.first)
            #expect(first.fields["project.name"] == "Wrist Study")
            #expect(first.fields["series.name"] == "T1 SE")
            #expect(first.fields["exam.scanner"] == "Ingenia 3T")
            #expect(first.fields["file.name"] == "wrist_01_1_t1_se.raw")
            #expect(first.size == Int64(first.fields["file.size"] ?? ""))
            #expect(first.checksum(.sha1)?.count == 40)
            #expect(first.url.hasSuffix("/api/v1/datafile/\(first.fields["file.id"]!)/download/"))
            #expect(first.id == "exams/\(first.fields["exam.id"]!)/series/\(first.fields["series.id"]!)/datasets/\(first.fields["dataset.id"]!)/files/\(first.fields["file.id"]!)")
        }
    }

    @Test func literalSeriesAndExamNamesNarrowTheListing() async throws {
        try await withAgora { _, _, spec in
            let connector = try AgoraConnector(spec: spec)
            let t1 = try await connector.list(wristRaw([Selection.Filter(level: "series", field: "series.name", matcher: .glob(Glob("T1 SE")))]))
            #expect(t1.count == 8)
            #expect(t1.allSatisfy { $0.fields["series.name"] == "T1 SE" })
            var oneExam = wristRaw()
            oneExam.filters[1] = Selection.Filter(level: "exams", field: "exam.name", matcher: .anyOf([.glob(Glob("Wrist 02")), .glob(Glob("Knee 01"))]))
            let two = try await connector.list(oneExam)
            #expect(Set(two.compactMap { $0.fields["exam.name"] }) == ["Wrist 02", "Knee 01"])
            #expect(two.count == 12)
            // Without a dataset filter the exam card (an exam-level dataset) comes too.
            let all = try await connector.list(Selection(name: "all", source: "agora", filters: [
                Selection.Filter(level: "exams", field: "exam.name", matcher: .glob(Glob("Brain 01"))),
            ]))
            #expect(all.count == 15)  // 3 series x (raw + DICOM: 4 files), the PAR/REC pair, the exam card
            #expect(all.contains { $0.fields["dataset.type"] == "PHILIPS_EXAMCARD" && $0.fields["series.name"] == nil })
        }
    }

    @Test func aFolderSelectionListsTheExamsFiledThere() async throws {
        try await withAgora { _, _, spec in
            let items = try await AgoraConnector(spec: spec).list(Selection(name: "raw", source: "agora", filters: [
                Selection.Filter(level: "project", field: "project.name", matcher: .glob(Glob("Wrist Study"))),
                Selection.Filter(level: "folder", field: "folder.path", matcher: .glob(Glob("/Raw"))),
                Selection.Filter(level: "datasets", field: "dataset.type", matcher: .glob(Glob("PHILIPS_RAW"))),
            ]))
            #expect(items.count == 6)
            #expect(items.allSatisfy { $0.fields["folder.path"] == "/Raw" && $0.fields["exam.name"] == "Wrist 01" })
        }
    }


    @Test func aWrongAPIKeyIsAnAuthenticationError() async throws {
        try await withAgora { _, _, spec in
            var bad = spec
            bad.credentials["api-key"] = Secret("wrong")
            await #expect(throws: ConnectorError.self) { try await AgoraConnector(spec: bad).list(wristRaw()) }
            #expect(throws: ConnectorError.self) { try AgoraConnector(spec: SourceSpec(name: "a", type: .agora, url: spec.url)) }
        }
    }
}

@Suite struct AgoraTransferTests {

    @Test func uploadsArriveByteIdenticalAndAreNotSentTwice() async throws {
        try await withAgora { sandbox, emulator, spec in
            // A 4.5 kB file in 1000-byte chunks: five flow.js chunks.
            let connector = try AgoraConnector(spec: spec, chunkSize: 1000)
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let bytes = (0..<4500).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            try Data(bytes).write(to: URL(fileURLWithPath: dir + "/recon.bin"))
            let file = LocalFile(path: dir + "/recon.bin", relativePath: "recon.bin", size: 4500)
            let into = ["project": "Wrist Study", "folder": "/Results"]

            let first = try await connector.upload(file, into: into, overwrite: false)
            #expect(first.transferred)
            #expect(first.item.fields["folder.path"] == "/Results")
            #expect(first.item.fields["dataset.type"] == "OTHER")
            #expect(first.item.checksum(.sha1) == sha1Hex(bytes))
            #expect(emulator.datafileBytes(Int(first.item.fields["file.id"]!)!) == bytes)
            let uploadsAfterFirst = sandbox.stats(.agora).uploadRequests
            #expect(uploadsAfterFirst == 5)

            // A re-run (new connector, as a new flowctl process) finds the file and sends nothing.
            let again = try await AgoraConnector(spec: spec).upload(file, into: into, overwrite: false)
            #expect(!again.transferred)
            #expect(again.item.id == first.item.id)
            let uploadsAfterSecond = sandbox.stats(.agora).uploadRequests
            #expect(uploadsAfterSecond == uploadsAfterFirst)

            // Different content under the same name: refused without overwrite, replaced with it.
            try Data(bytes.reversed()).write(to: URL(fileURLWithPath: dir + "/recon.bin"))
            await #expect(throws: ConnectorError.self) { try await connector.upload(file, into: into, overwrite: false) }
            let replaced = try await connector.upload(file, into: into, overwrite: true)
            #expect(replaced.transferred)
            #expect(emulator.datafileBytes(Int(replaced.item.fields["file.id"]!)!) == bytes.reversed())
            let listed = try await connector.list(Selection(name: "results", source: "agora", filters: [
                Selection.Filter(level: "project", field: "project.name", matcher: .glob(Glob("Wrist Study"))),
                Selection.Filter(level: "folder", field: "folder.path", matcher: .glob(Glob("/Results"))),
            ]))
            #expect(listed.map(\.id) == [replaced.item.id])
        }
    }

    @Test func anInterruptedUploadResumesItsPackageWithoutResendingChunks() async throws {
        try await withAgora { sandbox, emulator, spec in
            let connector = try AgoraConnector(spec: spec, chunkSize: 500)
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let bytes = (0..<4500).map { UInt8(truncatingIfNeeded: $0 &* 13) }
            try Data(bytes).write(to: URL(fileURLWithPath: dir + "/big.raw"))
            let file = LocalFile(path: dir + "/big.raw", relativePath: "big.raw", size: 4500)
            let folder = try await connector.ensureFolder(project: try await connector.project(named: "Wrist Study"), path: "/Resume")
            // A first attempt stopped after 4 of 9 chunks: its package and chunks are on the server.
            let created = try await connector.session.send(HTTPRequest(method: "POST", url: connector.session.url("/api/v1/import/"),
                                                                       headers: ["Content-Type": "application/json"], body: .bytes(Array("{}".utf8))))
            let package = try #require(try SourceSession.decode(JSONValue.self, created.body, from: "import")["id"]?.int)
            let version = AgoraConnector.fileVersion(file.path, size: 4500)  // size and mtime: no hash before sending
            let identifier = "4500-\(version)-big.raw"
            for n in 1...4 {
                try await connector.sendChunk(n, of: 9, path: file.path, size: 4500, relative: "big.raw", package: package, identifier: identifier)
            }
            await connector.state.pendingUploads.set("\(folder)|big.raw|\(version)", PendingUpload(package: package, identifier: identifier))

            let outcome = try await connector.upload(file, into: ["project": "Wrist Study", "folder": "/Resume"], overwrite: false)
            #expect(outcome.transferred)
            #expect(emulator.datafileBytes(Int(outcome.item.fields["file.id"]!)!) == bytes)
            let routes = sandbox.stats(.agora).routes
            // One package; each of the 9 chunks stored once; the resumed attempt asked for all 9.
            #expect(routes["POST /api/v1/import/"] == 1)
            #expect(routes["POST /api/v1/import/{id}/upload/"] == 9)
            #expect(routes["GET /api/v1/import/{id}/upload/"] == 9)
        }
    }

    @Test func concurrentUploadsCreateTheFolderOnceAndEmptyFilesWork() async throws {
        try await withAgora { _, emulator, spec in
            let connector = try AgoraConnector(spec: spec)
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            var files: [LocalFile] = []
            for i in 0..<6 {
                let text = i == 0 ? "" : String(repeating: "line \(i)\n", count: i * 10)
                try text.write(toFile: dir + "/r\(i).txt", atomically: false, encoding: .utf8)
                files.append(LocalFile(path: dir + "/r\(i).txt", relativePath: "sub/r\(i).txt", size: Int64(text.utf8.count)))
            }
            let outcomes = try await withThrowingTaskGroup(of: UploadOutcome.self) { group in
                for f in files { group.addTask { try await connector.upload(f, into: ["project": "Wrist Study", "folder": "/Results/Batch"], overwrite: false) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.allSatisfy { $0.transferred })
            #expect(Set(outcomes.compactMap { $0.item.fields["folder.id"] }).count == 1)
            let empty = try #require(outcomes.first { $0.item.fields["file.name"] == "r0.txt" })
            #expect(emulator.datafileBytes(Int(empty.item.fields["file.id"]!)!) == [])
        }
    }
}

@Suite struct AgoraTagAndTaskTests {
    @Test func taggingCreatesTheTagOnceAndIsIdempotent() async throws {
        try await withAgora { _, _, spec in
            let connector = try AgoraConnector(spec: spec)
            let items = try await connector.list(wristRaw())
            try await withThrowingTaskGroup(of: Void.self) { group in
                for item in items { group.addTask { try await connector.tag(item, with: ["good"]) } }
                try await group.waitForAll()
            }
            try await AgoraConnector(spec: spec).tag(items[0], with: ["good", "reviewed"])
            let project = items[0].fields["project.id"]!
            let definitions = try await connector.session.agoraList("/api/v2/project/\(project)/tag-definition/")
            #expect(definitions.compactMap { $0["label"]?.text }.sorted() == ["good", "reviewed"])
            let tags = try await connector.session.agoraList("/api/v2/dataset/\(items[0].fields["dataset.id"]!)/tags/")
            #expect(tags.compactMap { $0["label"]?.text }.sorted() == ["good", "reviewed"])
            let instances = try await connector.session.agoraList("/api/v2/project/\(project)/tag-instance/")
            // 12 PHILIPS_RAW datasets tagged good once each, plus one `reviewed`.
            #expect(instances.count == 13)
        }
    }

    @Test func aTaskRunsToFinishedWithFetchableOutputs() async throws {
        try await withAgora { _, _, spec in
            let connector = try AgoraConnector(spec: spec)
            let items = try await connector.list(wristRaw())
            let run = try await connector.startRun("Reconstruct", input: items[0], inputName: "raw")
            // The .lab file of the same dataset shares the run.
            let sibling = try await connector.startRun("Reconstruct", input: items[1], inputName: nil)
            #expect(items[0].fields["dataset.id"] == items[1].fields["dataset.id"])
            #expect(sibling.id == run.id)
            #expect(sibling.input.id == items[1].id)
            var outputs: [RemoteItem]?
            for _ in 0..<200 where outputs == nil {
                switch try await connector.poll(run) {
                case .succeeded(let o): outputs = o
                case .failed(let m): Issue.record("task failed: \(m)"); return
                case .running: try await Task.sleep(for: .milliseconds(20))
                }
            }
            // Outputs are reported once: to the item that started the run, not to its sibling.
            guard case .succeeded(let siblingOutputs) = try await connector.poll(sibling) else {
                Issue.record("the shared run is not finished for the sibling"); return
            }
            #expect(siblingOutputs.isEmpty)
            let output = try #require(outputs?.first)
            #expect(output.fields["output.name"] == "recon")
            #expect(output.fields["job.id"] == run.id)
            #expect(output.fields["file.name"] == items[0].fields["dataset.name"]! + "_recon.txt")
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            _ = try await connector.fetch(output, to: dir + "/out.part", resume: false, progress: nil)
            let text = try String(contentsOfFile: dir + "/out.part", encoding: .utf8)
            #expect(text.hasPrefix("reconstruction of dataset \(items[0].fields["dataset.id"]!)"))
        }
    }

    @Test func aFailingTaskReportsItsError() async throws {
        try await withAgora { _, _, spec in
            let connector = try AgoraConnector(spec: spec)
            let item = try #require(try await connector.list(wristRaw()).first)
            let run = try await connector.startRun("Reconstruct (failing)", input: item, inputName: "raw")
            var message: String?
            for _ in 0..<200 where message == nil {
                switch try await connector.poll(run) {
                case .failed(let m): message = m
                case .succeeded: Issue.record("a failing task succeeded"); return
                case .running: try await Task.sleep(for: .milliseconds(20))
                }
            }
            #expect(message?.contains("synthetic failure") == true)
            await #expect(throws: ConnectorError.self) { try await connector.startRun("No Such Task", input: item, inputName: nil) }
            await #expect(throws: ConnectorError.self) { try await connector.startRun("Reconstruct", input: item, inputName: "nope") }
        }
    }

    @Test func identityNamesTheServer() async throws {
        try await withAgora { _, _, spec in
            let id = try await AgoraConnector(spec: spec).identity()
            #expect(id["version"] == "7.14.0")
            #expect(id["user"] == "sandbox")
        }
    }
}
