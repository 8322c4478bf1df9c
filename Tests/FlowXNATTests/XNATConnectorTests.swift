import FlowFiles
import Foundation
import FlowConnector
import FlowConnectorTesting
import FlowModel
import FlowSandbox
import Testing
@testable import FlowXNAT

/// Starts an XNAT-only sandbox on port 0, runs `body` with a source spec pointing at it, stops it.
func withXNAT(subjects: Int = 20, concurrency: Int = 4, faults: FaultSettings = FaultSettings(),
              _ body: (Sandbox, SourceSpec) async throws -> Void) async throws {
    try await withSandboxSource(.xnat, concurrency: concurrency, faults: faults, configure: { $0.xnatSubjects = subjects }, body)
}

/// The seed's selection: two DWI scan types, NIFTI resource, optionally some subjects.
func dwiSelection(subjects: [String]? = nil) -> Selection {
    var filters = [
        Selection.Filter(level: "project", field: "project.id", matcher: .glob(Glob("testenv"))),
        Selection.Filter(level: "scans", field: "scan.type", matcher: .anyOf([.glob(Glob("DWI_ALFA1")), .glob(Glob("rDWI_ALFA1"))])),
        Selection.Filter(level: "resource", field: "resource.label", matcher: .glob(Glob("NIFTI"))),
    ]
    if let subjects {
        filters.append(Selection.Filter(level: "subjects", field: "subject.label", matcher: .anyOf(subjects.map { .glob(Glob($0)) })))
    }
    return Selection(name: "dwi", source: "xnat", filters: filters)
}

/// Each item as its source, id, URL path (each sandbox has a port of its own), size and checksums.
func itemsWithoutOrigin(_ items: [RemoteItem]) -> [String] {
    items.map { item in
        let path = item.url.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false).dropFirst(3).joined()
        return "\(item.source) \(item.id) /\(path) \(item.size ?? -1) \(item.checksums.map { "\($0)" }.sorted())"
    }
}

func hex(_ digest: some Sequence<UInt8>) -> String { digest.map { String(format: "%02x", $0) }.joined() }

func temporaryDirectory() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flowxnat-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

@Suite struct XNATListingTests {
    @Test func listsTheSeedsDWINiftiFilesOfOneSubjectWithEveryField() async throws {
        try await withXNAT { sandbox, spec in
            let items = try await XNATConnector(spec: spec).list(dwiSelection(subjects: ["SUBJ_003"]))
            #expect(items.map(\.fields["file.name"]) == [
                "SUBJ_003_DWI_ALFA1.nii.gz", "SUBJ_003_DWI_ALFA1.bval", "SUBJ_003_DWI_ALFA1.bvec",
                "SUBJ_003_rDWI_ALFA1.nii.gz", "SUBJ_003_rDWI_ALFA1.bval", "SUBJ_003_rDWI_ALFA1.bvec",
            ])
            let first = try #require(items.first)
            let experimentID = try #require(first.fields["experiment.id"])
            #expect(first.id == "\(experimentID)/scans/2/resources/NIFTI/files/SUBJ_003_DWI_ALFA1.nii.gz")
            #expect(first.url.hasPrefix(spec.url + "/data/experiments/\(experimentID)/scans/2/resources/"))
            #expect(first.fields["project.id"] == "testenv")
            #expect(first.fields["project.name"] == "Test environment")
            #expect(first.fields["subject.label"] == "SUBJ_003")
            #expect(first.fields["subject.id"]?.hasPrefix("XNAT_S") == true)
            #expect(first.fields["experiment.label"] == "SUBJ_003_MR1")
            #expect(first.fields["experiment.xsi_type"] == "xnat:mrSessionData")
            #expect(first.fields["experiment.modality"] == "MR")
            #expect(first.fields["experiment.date"]?.hasPrefix("2024-02-") == true)
            #expect(first.fields["scan.id"] == "2")
            #expect(first.fields["scan.type"] == "DWI_ALFA1")
            #expect(first.fields["scan.quality"] == "usable")
            #expect(first.fields["scan.series_description"] == "DWI 64dir")
            #expect(first.fields["scan.xsi_type"] == "xnat:mrScanData")
            #expect(first.fields["scan.note"] == "")
            #expect(first.fields["resource.label"] == "NIFTI")
            #expect(first.fields["resource.format"] == "NIFTI")
            #expect(first.fields["resource.content"] == "RAW")
            #expect(first.fields["file.path"] == "SUBJ_003_DWI_ALFA1.nii.gz")
            #expect(first.fields["file.format"] == "NIFTI")
            #expect(first.fields["file.content"] == "RAW")
            #expect(first.fields["file.tags"] == "")
            for item in items {
                // Real images and gradient tables (FlowSandbox/Imaging): their own small sizes.
                let size = try #require(item.size)
                #expect(size > (item.fields["file.name"]!.hasSuffix(".nii.gz") ? 352 : 0))
                #expect(item.fields["file.size"] == String(size))
                #expect(item.checksum(.md5)?.count == 32)
                #expect(item.fields["file.digest"] == item.checksum(.md5))
            }
            // Server-side filters: one subject's listing, one experiment, one scans call, two resources, two files.
            let stats = sandbox.stats(.xnat)
            #expect(stats.routes["GET /data/projects/{project}/subjects/{subject}/experiments"] == 1)
            #expect(stats.routes["GET /data/experiments/{experiment}/scans/{scan}/resources/{resource}/files"] == 2)
        }
    }

    @Test func listsAWholeProjectConcurrentlyWithinTheSourceLimit() async throws {
        try await withXNAT(subjects: 30, concurrency: 4, faults: { var f = FaultSettings(); f.latencyMs = 10; return f }()) { sandbox, spec in
            let clock = ContinuousClock()
            let start = clock.now
            let items = try await XNATConnector(spec: spec).list(dwiSelection())
            let elapsed = start.duration(to: clock.now)
            #expect(items.count == 30 * 2 * 3)
            #expect(Set(items.map(\.id)).count == items.count)
            #expect(items.first?.fields["subject.label"] == "SUBJ_001")
            #expect(items.last?.fields["subject.label"] == "SUBJ_030")
            let stats = sandbox.stats(.xnat)
            // 1 login + projects + subjects + 30 experiments + 30 scans + 60 resources + 60 files.
            #expect(stats.requests == 183)
            #expect(stats.peakInFlightRequests <= spec.concurrency)
            // Far above 1 shows the listing runs concurrently (serially the peak would be 1); not
            // the exact limit, which a loaded 2-core machine does not always reach.
            #expect(stats.peakInFlightRequests >= spec.concurrency / 2)
            print("XNAT 30 subjects: \(items.count) files, \(stats.requests) requests, \(elapsed), peak \(stats.peakInFlightRequests) in flight")
        }
    }

    @Test func literalNamesAreListedEarlyWithTheSameItemsRequestsAndFewerRoundTrips() async throws {
        // Literal project, subjects and resource let children be asked for alongside their
        // parents' listings; `all of [x]` matches the same but is not literal, so it walks the
        // chain one level at a time. 200 ms per request keeps each wave's requests overlapping.
        let latency = { var f = FaultSettings(); f.latencyMs = 200; return f }()
        func notLiteral(_ text: String) -> Matcher { .allOf([.glob(Glob(text))]) }
        let labels = ["SUBJ_003", "SUBJ_007", "SUBJ_404"]  // SUBJ_404 does not exist: its early listing is dropped
        let literal = dwiSelection(subjects: labels)
        let walked = Selection(name: "dwi", source: "xnat", filters: [
            Selection.Filter(level: "project", field: "project.id", matcher: notLiteral("testenv")),
            Selection.Filter(level: "subjects", field: "subject.label", matcher: .anyOf(labels.map(notLiteral))),
            Selection.Filter(level: "scans", field: "scan.type", matcher: .anyOf([.glob(Glob("DWI_ALFA1")), .glob(Glob("rDWI_ALFA1"))])),
            Selection.Filter(level: "resource", field: "resource.label", matcher: notLiteral("NIFTI")),
        ])
        var results: [(items: [RemoteItem], seconds: Double, stats: PlatformStats)] = []
        for selection in [literal, walked] {
            try await withXNAT(concurrency: 16, faults: latency) { sandbox, spec in
                let start = ContinuousClock.now
                let items = try await XNATConnector(spec: spec).list(selection)
                let elapsed = start.duration(to: .now)
                results.append((items, Double(elapsed.components.attoseconds) / 1e18 + Double(elapsed.components.seconds), sandbox.stats(.xnat)))
            }
        }
        let (early, chain) = (results[0], results[1])
        #expect(early.items.map(\.id) == chain.items.map(\.id))
        #expect(early.items.map(\.fields) == chain.items.map(\.fields))
        #expect(early.items.count == 2 * 2 * 3)
        // The same requests but SUBJ_404's experiments (a 404 nobody waits for).
        #expect(early.stats.requests == chain.stats.requests + 1)
        #expect(early.stats.statuses["404"] == 1)
        // login, {projects, subjects, experiments}, scans, {resources, files}: 4 round trips, not 7.
        // Asserted through what was in flight at once (times are noisy beside other suites):
        // walking, at most the 4 resource (or file) listings; early, those 4 and the 4 file listings
        // (8 when every request of the wave overlaps; on a loaded machine one may end before the
        // last starts, so the check is "more than walking can ever have", which only listing early gives).
        #expect(chain.stats.peakInFlightRequests <= 4)
        #expect(early.stats.peakInFlightRequests > 4)
        print("XNAT literal names: listed in \(early.seconds) s early, \(chain.seconds) s walking the chain")
    }

    /// With every resource taken, a session's files come from one `scans/{ALL|ids}/files`
    /// listing (with the scan listing when every scan is taken too, else with the resource
    /// listings) instead of one listing per resource after them: the same items, in the same
    /// order, with the same fields as listing each resource.
    @Test func everyResourceOfASessionComesFromOneScanFilesListing() async throws {
        func selection(scans: Matcher, resource: Matcher) -> Selection {
            Selection(name: "s", source: "xnat", filters: [
                Selection.Filter(level: "project", field: "project.id", matcher: .glob(Glob("testenv"))),
                Selection.Filter(level: "subjects", field: "subject.label", matcher: .anyOf([.glob(Glob("SUBJ_002")), .glob(Glob("SUBJ_003"))])),
                Selection.Filter(level: "scans", field: "scan.type", matcher: scans),
                Selection.Filter(level: "resource", field: "resource.label", matcher: resource),
            ])
        }
        // `all of ["*"]` takes the same resources, but is no "every resource" to the listing:
        // it lists each resource, the way every selection did before.
        let everyResource = Matcher.glob(Glob("*")), eachResource = Matcher.allOf([.glob(Glob("*"))])
        let scanFiles = "GET /data/experiments/{experiment}/scans/{scan}/files"
        let resourceFiles = "GET /data/experiments/{experiment}/scans/{scan}/resources/{resource}/files"
        for scans in [Matcher.glob(Glob("*")), .glob(Glob("*DWI*"))] {
            var listed: [[RemoteItem]] = [], stats: [PlatformStats] = []
            for resource in [everyResource, eachResource] {
                try await withXNAT(subjects: 4) { sandbox, spec in
                    listed.append(try await XNATConnector(spec: spec).list(selection(scans: scans, resource: resource)))
                    stats.append(sandbox.stats(.xnat))
                }
            }
            #expect(itemsWithoutOrigin(listed[0]) == itemsWithoutOrigin(listed[1]))
            #expect(listed[0].map(\.fields) == listed[1].map(\.fields))
            #expect(Set(listed[0].compactMap { $0.fields["resource.label"] }) == ["DICOM", "NIFTI"])
            #expect(Set(listed[0].compactMap { $0.fields["subject.label"] }) == ["SUBJ_002", "SUBJ_003"])
            // One files listing per session (two sessions), none per resource.
            #expect(stats[0].routes[scanFiles] == 2)
            #expect(stats[0].routes[resourceFiles] == nil)
            #expect(stats[1].routes[scanFiles] == nil)
            #expect(stats[0].requests < stats[1].requests)
        }
    }

    /// With the subject and the session named, the session's scan and files listings go out
    /// with the project listing (by labels) and are taken once the listings confirm the names:
    /// the same items as walking the chain.
    @Test func aNamedSessionsScansAndFilesAreListedEarlyByLabels() async throws {
        func selection(session: Matcher) -> Selection {
            Selection(name: "s", source: "xnat", filters: [
                Selection.Filter(level: "project", field: "project.id", matcher: .glob(Glob("testenv"))),
                Selection.Filter(level: "subjects", field: "subject.label", matcher: .glob(Glob("SUBJ_002"))),
                Selection.Filter(level: "experiments", field: "experiment.label", matcher: session),
                Selection.Filter(level: "scans", field: "scan.type", matcher: .glob(Glob("*"))),
                Selection.Filter(level: "resource", field: "resource.label", matcher: .glob(Glob("*"))),
            ])
        }
        var listed: [[RemoteItem]] = [], stats: [PlatformStats] = []
        for session in [Matcher.glob(Glob("SUBJ_002_MR1")), .allOf([.glob(Glob("SUBJ_002_MR1"))])] {
            try await withXNAT(subjects: 4) { sandbox, spec in
                listed.append(try await XNATConnector(spec: spec).list(selection(session: session)))
                stats.append(sandbox.stats(.xnat))
            }
        }
        #expect(itemsWithoutOrigin(listed[0]) == itemsWithoutOrigin(listed[1]))
        #expect(listed[0].map(\.fields) == listed[1].map(\.fields))
        #expect(listed[0].count > 8)
        let byLabels = "GET /data/projects/{project}/subjects/{subject}/experiments/{experiment}/scans"
        #expect(stats[0].routes[byLabels] == 1)
        #expect(stats[0].routes[byLabels + "/{scan}/files"] == 1)
        #expect(stats[0].routes["GET /data/experiments/{experiment}/scans"] == nil)
        #expect(stats[0].routes["GET /data/experiments/{experiment}/scans/{scan}/files"] == nil)
        #expect(stats[1].routes[byLabels] == nil)
        #expect(stats[1].routes["GET /data/experiments/{experiment}/scans/{scan}/files"] == 1)
    }

    /// A resource takes its rows of a scan files listing only when they add up to it; otherwise
    /// it is listed on its own.
    @Test func scanFileRowsAreTakenOnlyWhenTheyAddUp() throws {
        let rows = try XNATReply.rows(Array(#"{"ResultSet":{"Result":[{"Name":"a","cat_ID":"7","collection":"DICOM"},{"Name":"b","cat_ID":"7","collection":"DICOM"},{"Name":"c","cat_ID":"8","collection":"NIFTI"}]}}"#.utf8), from: "/x")
        let groups = try #require(ScanFileRows.Groups(rows))
        func resource(_ id: String, _ label: String, count: Int?) -> XNATConnector.Resource {
            XNATConnector.Resource(fields: ["resource.label": label], id: id, fileCount: count)
        }
        #expect(groups.rows(of: resource("7", "DICOM", count: 2))?.map { $0["Name"]?.text } == ["a", "b"])
        #expect(groups.rows(of: resource("7", "DICOM", count: nil))?.count == 2)
        #expect(groups.rows(of: resource("7", "DICOM", count: 3)) == nil)  // its file_count says a row is missing
        #expect(groups.rows(of: resource("8", "DICOM", count: 1)) == nil)  // the rows say another label
        #expect(groups.rows(of: resource("9", "EMPTY", count: 0))?.isEmpty == true)
        #expect(groups.rows(of: resource("9", "EMPTY", count: nil)) == nil)  // no rows, and no count says none
        #expect(groups.rows(of: resource("", "DICOM", count: 2)) == nil)  // no id to take rows by
        // A row without cat_ID could be any resource's: the listing is not used at all.
        let unnamed = try XNATReply.rows(Array(#"{"ResultSet":{"Result":[{"Name":"a","cat_ID":""}]}}"#.utf8), from: "/x")
        #expect(ScanFileRows.Groups(unnamed) == nil)
    }

    @Test func clientSideMatchersRefineWhatTheServerFilters() async throws {
        try await withXNAT(subjects: 12) { _, spec in
            let selection = Selection(name: "s", source: "xnat", filters: [
                Selection.Filter(level: "subjects", field: "subject.label", matcher: .glob(Glob("SUBJ_01*"))),
                Selection.Filter(level: "scans", field: "scan.type", matcher: .glob(Glob("T1"))),
                Selection.Filter(level: "resource", field: "resource.label", matcher: .glob(Glob("DICOM"))),
                Selection.Filter(level: "files", field: "file.name", matcher: .not(.glob(Glob("*.0001.dcm")))),
            ])
            let items = try await XNATConnector(spec: spec).list(selection)
            // SUBJ_010..012, 4 DICOM files each, minus the first.
            #expect(items.count == 3 * 3)
            #expect(Set(items.compactMap { $0.fields["subject.label"] }) == ["SUBJ_010", "SUBJ_011", "SUBJ_012"])
            #expect(items.allSatisfy { $0.fields["file.format"] == "DICOM" && !$0.fields["file.name"]!.hasSuffix(".0001.dcm") })
        }
    }
}

@Suite struct XNATTransferTests {

    /// A fetch hashes with every digest the listing gave, for the executor to check (in one
    /// place, which knows whether a mismatch is a damaged transfer or drift from a lock).
    @Test func aFetchReportsTheDigestsTheListingGave() async throws {
        try await withXNAT(subjects: 1) { _, spec in
            let connector = try XNATConnector(spec: spec)
            var item = try #require(try await connector.list(dwiSelection()).first)
            let listed = try #require(item.checksum(.md5))
            item.checksums = [Checksum(.md5, String(repeating: "0", count: 32))]
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let result = try await connector.fetch(item, to: dir + "/x.part", resume: false, progress: nil)
            #expect(result.checksum(.md5) == listed)
            #expect(result.checksum(.sha256) != nil)
        }
    }

    @Test func uploadsOnceAndKeepsAnIdenticalRemoteFile() async throws {
        try await withXNAT(subjects: 2) { sandbox, spec in
            let connector = try XNATConnector(spec: spec)
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let content = Data((0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            let path = dir + "/lobes.nii.gz"
            try content.write(to: URL(fileURLWithPath: path))
            let file = LocalFile(path: path, relativePath: "derived/lobes.nii.gz", size: Int64(content.count))
            let into = ["project": "testenv", "subject": "SUBJ_001", "experiment": "SUBJ_001_MR1", "scan": "1", "resource": "LOBES"]

            let first = try await connector.upload(file, into: into, overwrite: false)
            #expect(first.transferred)
            #expect(first.item.checksum(.md5) == Digester.hex(.md5, of: content))
            #expect(first.item.id.hasSuffix("/scans/1/resources/LOBES/files/derived/lobes.nii.gz"))
            let received = sandbox.stats(.xnat).bytesReceived

            let second = try await connector.upload(file, into: into, overwrite: false)
            #expect(!second.transferred)
            #expect(second.item.id == first.item.id)
            #expect(sandbox.stats(.xnat).bytesReceived == received)

            // The sandbox holds the very bytes: fetch them back.
            let fetched = try await connector.fetch(first.item, to: dir + "/back.part", resume: false, progress: nil)
            #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/back.part")) == content)
            #expect(fetched.checksum(.md5) == first.item.checksum(.md5))

            // A different local file under the same name: refused without overwrite, replaced with it.
            try Data("changed".utf8).write(to: URL(fileURLWithPath: path))
            let changed = LocalFile(path: path, relativePath: "derived/lobes.nii.gz", size: 7)
            await #expect {
                _ = try await connector.upload(changed, into: into, overwrite: false)
            } throws: { error in
                guard case ConnectorError.status(409, _, let message, _) = error else { return false }
                return message.contains("overwrite")
            }
            let replaced = try await connector.upload(changed, into: into, overwrite: true)
            #expect(replaced.transferred)
            #expect(replaced.item.size == 7)
            #expect(replaced.item.checksum(.md5) == Digester.hex(.md5, of: Data("changed".utf8)))
        }
    }
}

@Suite struct XNATResilienceTests {

    /// The session ends on the server (no waiting for a lifetime: the sandbox ends it): the
    /// requests in flight get 401, share one new login, and the listing is whole.
    @Test func anExpiredSessionLogsInAgainOnceForConcurrentRequests() async throws {
        try await withXNAT(subjects: 6, concurrency: 4) { sandbox, spec in
            let connector = try XNATConnector(spec: spec)
            let before = try await connector.list(dwiSelection())
            try #require(sandbox.emulator(XNATEmulator.self)).expireSessions()
            sandbox.resetStats()
            let items = try await connector.list(dwiSelection())
            #expect(items == before)
            let stats = sandbox.stats(.xnat)
            #expect(stats.routes["POST /data/JSESSION"] == 1)
            #expect(stats.statuses["401"] ?? 0 >= 1)
        }
    }

    @Test func refusedCredentialsAreAClearErrorWithoutThePassword() async throws {
        try await withXNAT(subjects: 1) { _, spec in
            var wrong = spec
            wrong.credentials["password"] = Secret("not-the-password")
            let connector = try XNATConnector(spec: wrong)
            await #expect {
                _ = try await connector.list(dwiSelection())
            } throws: { error in
                let text = "\(error)"
                // Our words and the status, never the server's page (nor the password).
                return text.contains("refused the login (HTTP 401)")
                    && !text.contains("requires user authentication") && !text.contains("not-the-password")
            }
        }
    }

    @Test func identityReadsTheBuildInfo() async throws {
        try await withXNAT(subjects: 1) { _, spec in
            let identity = try await XNATConnector(spec: spec).identity()
            #expect(identity["version"] == "1.8.10")
            #expect(identity["url"] == spec.url)
        }
    }
}

@Suite struct XNATReplyTests {
    @Test func malformedAndHTMLRepliesAreBadReplies() throws {
        #expect(throws: ConnectorError.self) { try XNATReply.rows(Array("{\"ResultSet\": [".utf8), from: "/x") }
        do {
            _ = try XNATReply.rows(Array("<html><body><h3>Login</h3></body></html>".utf8), from: "/x")
            Issue.record("an HTML page was accepted")
        } catch ConnectorError.badReply(let message) {
            #expect(message.contains("HTML"))
        }
        #expect(try XNATReply.rows(Array("{\"ResultSet\":{\"Result\":[{\"ID\":5}]}}".utf8), from: "/x").first?["ID"]?.text == "5")
    }

    @Test func serverPathsKeepTheirSlashesAndEscapesAndEncodeTheRest() {
        #expect(XNATReply.encodePath("/data/experiments/E1/scans/1/resources/7/files/a b/\"é\"%20.dcm")
                == "/data/experiments/E1/scans/1/resources/7/files/a%20b/%22%C3%A9%22%20.dcm")
        #expect(XNATReply.encodePath("-._~!$&'()*+,;=:@/%AZaz09") == "-._~!$&'()*+,;=:@/%AZaz09")
        #expect(XNATReply.encodePath("\u{1}\u{7F}#?[]") == "%01%7F%23%3F%5B%5D")
    }

    @Test func onlyExactValuesBecomeServerFilters() {
        #expect(XNATReply.filterValue(["DWI_ALFA1", "rDWI_ALFA1"]) == "DWI_ALFA1,rDWI_ALFA1")
        #expect(XNATReply.filterValue(["a,b"]) == nil)
        #expect(XNATReply.filterValue(["50%"]) == nil)
        #expect(XNATReply.filterValue(nil) == nil)
        #expect(XNATConnector.modality(of: "xnat:petSessionData") == "PET")
    }
}
