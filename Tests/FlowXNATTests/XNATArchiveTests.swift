import FlowArchive
import FlowConnector
import FlowConnectorTesting
import FlowFiles
import FlowModel
import FlowSandbox
import Foundation
import Testing
@testable import FlowXNAT

/// Archive transfers: the request for a scan's files, and member names back to listed files.
@Suite struct XNATArchiveTests {
    @Test func memberNamesGiveTheKeysOfListedFiles() {
        // XNAT's default structure, with the scan's type after its id.
        #expect(XNATConnector.archiveKeys(ofMember: "S_MR1/scans/3-rDWI_ALFA1/resources/DICOM/files/a/b.dcm")
                == ["3-rDWI_ALFA1/DICOM/a/b.dcm", "3/DICOM/a/b.dcm"])
        // A scan id with a `-` of its own, and `structure=simplified`.
        #expect(XNATConnector.archiveKeys(ofMember: "MR1/scans/1-2-T1/resources/NIFTI/files/x.nii.gz")
                .contains("1-2/NIFTI/x.nii.gz"))
        #expect(XNATConnector.archiveKeys(ofMember: "MR1/scans/7/DICOM/x.dcm") == ["7/DICOM/x.dcm"])
        #expect(XNATConnector.archiveKeys(ofMember: "MR1/resources/QC/files/x.pdf").isEmpty)
    }

    /// Collects each member's MD5 by the key the connector gives it.
    final class Digests: ArchiveSink, @unchecked Sendable {
        let keys: (String) -> [String]
        var md5: [String: String] = [:]
        private var current = Digester(.md5)
        init(keys: @escaping (String) -> [String]) { self.keys = keys }
        func begin(_ member: ArchiveMember) throws -> Bool { current = Digester(.md5); return true }
        func write(_ bytes: UnsafeRawBufferPointer) throws { current.update(bytes) }
        func end(_ member: ArchiveMember, size: Int64) throws { for key in keys(member.name) { md5[key] = current.hexDigest() } }
        func refused(_ rawName: String, reason: String) { Issue.record("refused \(rawName): \(reason)") }
    }

    final class Feed: @unchecked Sendable {
        let reader: any ArchiveReader
        init(_ reader: any ArchiveReader) { self.reader = reader }
    }

    @Test("a scan's zip (deflated, Zip64) and a session's tar.gz hold every listed file, digests as listed",
          arguments: [("zip", ArchiveStyle(deflateLevel: 6, zip64: true)), ("zip", ArchiveStyle()), ("tar.gz", ArchiveStyle())])
    func archivesHoldTheListedFiles(format: String, style: ArchiveStyle) async throws {
        try await withSandboxSource(.xnat, configure: {
            // The default 4 DICOM files per scan: the sandbox caches digests by content key and
            // size, and another shape in this process would make the same keys other images.
            $0.xnatSubjects = 1
            $0.xnatArchiveStyle = style
        }) { sandbox, spec in
            let connector = try XNATConnector(spec: spec)
            let selection = Selection(name: "s", source: "xnat", filters: [
                Selection.Filter(level: "project", field: "project.id", matcher: .glob(Glob("testenv"))),
            ])
            let items = try await connector.list(selection)
            let units = Dictionary(grouping: items) { format == "zip" ? $0.fields["scan.id"]! : "session" }
            #expect(units.count == (format == "zip" ? 4 : 1))
            for (_, unit) in units {
                let sink = Digests(keys: connector.archiveKeys(ofMember:))
                let feed = Feed(ArchiveFormat(rawValue: format)!.reader(sink: sink))
                let bytes = try await connector.streamArchive(of: unit, format: format, maxBytes: 1 << 30) { try feed.reader.feed($0) }
                try feed.reader.finish()
                #expect(bytes > 0)
                for item in unit {
                    let key = connector.archiveKey(of: item)!
                    #expect(sink.md5[key] == item.checksum(.md5), "\(key)")
                }
            }
            #expect(sandbox.stats(.xnat).downloadRequests == units.count)
        }
    }
}
