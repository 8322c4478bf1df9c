import Testing
@testable import FlowJobFile
import FlowModel

/// `archive:` on XNAT downloads: a format, or a mapping with the unit and the bomb caps.
@Suite struct ArchiveKeyTests {
    static func load(_ actionExtra: String, type: String = "xnat") -> LoadResult {
        let credentials = type == "xnat" ? ", user: u, password: p" : ""
        let text = """
            flowctl: 1
            name: t
            sources:
              src: {type: \(type), url: "https://xnat.example.org"\(credentials)}
            select:
              dicom: {source: src, project: p, resource: DICOM}
            actions:
              pull:
                download: dicom
                to: out
            \(actionExtra)
            """
        return JobLoader(environment: [:]).load(path: "job.yml", bytes: Array(text.utf8))
    }

    @Test func archiveTakesAFormatOrAMapping() throws {
        let short = Self.load("    archive: zip")
        #expect(short.errors.isEmpty, "\(short.rendered())")
        #expect(short.job?.action(named: "pull")?.archive == ArchiveSpec(format: "zip", per: .scan))
        let long = Self.load("    archive: {format: tar.gz, per: session, max-members: 5000, max-bytes: 10GiB, max-ratio: 50}")
        #expect(long.errors.isEmpty, "\(long.rendered())")
        #expect(long.job?.action(named: "pull")?.archive
                == ArchiveSpec(format: "tar.gz", per: .session, maxMembers: 5000, maxBytes: 10 << 30, maxRatio: 50))
    }

    @Test func badFormatsUnitsAndKeysAreLocated() {
        expectDiagnostics(Self.load("    archive: zpi"), [(11, 14, "unknown archive format `zpi`; did you mean `zip`?")])
        expectDiagnostics(Self.load("    archive: {format: zip, per: scans}"), [(11, 33, "unknown archive unit `scans`; did you mean `scan`?")])
        expectDiagnostics(Self.load("    archive: {format: zip, level: 9}"), [(11, 28, "unknown key `level`")])
    }

    @Test func archiveIsForXNATSelections() {
        let result = Self.load("    archive: zip", type: "local")
        #expect(errors(result).contains { $0.contains("`archive` works on an XNAT selection's files") }, "\(errors(result))")
    }
}
