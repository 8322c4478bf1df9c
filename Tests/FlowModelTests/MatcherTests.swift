import Testing
@testable import FlowModel

@Suite struct GlobTests {
    @Test(arguments: [
        ("SUBJ_*", "SUBJ_003", true), ("SUBJ_*", "subj_003", false), ("*.nii.gz", "a.nii.gz", true),
        ("*.nii.gz", "a.nii", false), ("?DWI_ALFA1", "rDWI_ALFA1", true), ("?DWI_ALFA1", "DWI_ALFA1", false),
        ("[rR]DWI*", "RDWI_X", true), ("[!r]DWI*", "rDWI_X", false), ("PRE[A-F]*", "PREBL00", true),
        ("*", "", true), ("", "", true), ("a*b*c", "aXbYc", true), ("a*b*c", "aXbY", false),
        ("\\*", "*", true), ("\\*", "x", false), ("[", "[", true), ("**x", "abx", true),
    ])
    func matches(pattern: String, value: String, expected: Bool) {
        #expect(Glob(pattern).matches(value) == expected)
    }

    @Test func literalDetection() {
        #expect(Glob("DWI_ALFA1").isLiteral)
        #expect(!Glob("DWI_*").isLiteral)
    }
}

@Suite struct MatcherTests {
    @Test func anyOfAndNot() throws {
        let m = Matcher.anyOf([.glob(Glob("DWI_ALFA1")), .glob(Glob("rDWI_ALFA1"))])
        #expect(m.matches("DWI_ALFA1"))
        #expect(!m.matches("T1"))
        #expect(m.literalValues == ["DWI_ALFA1", "rDWI_ALFA1"])
        #expect(Matcher.not(m).matches("T1"))
        #expect(Matcher.not(m).matches(nil))
        #expect(!m.matches(nil))
    }

    @Test func regexSearchesAndAnchors() throws {
        #expect(Matcher.regex(try RegexPattern("ALFA")).matches("rDWI_ALFA1"))
        #expect(!Matcher.regex(try RegexPattern("^ALFA")).matches("rDWI_ALFA1"))
        #expect(throws: (any Error).self) { try RegexPattern("(") }
    }

    @Test func numericComparisons() {
        #expect(Matcher.compare(.gt, 1000).matches("1001"))
        #expect(!Matcher.compare(.gt, 1000).matches("1000"))
        #expect(Matcher.compare(.le, 1000).matches("1000"))
        #expect(!Matcher.compare(.lt, 10).matches("ten"))
        #expect(Matcher.allOf([.compare(.ge, 1), .compare(.lt, 3)]).matches("2"))
    }

    @Test func selectionAcceptsByLevel() {
        let selection = Selection(name: "s", source: "x", filters: [
            .init(level: "scans", field: "scan.type", matcher: .glob(Glob("DWI*"))),
            .init(level: "subjects", field: "subject.label", matcher: .glob(Glob("SUBJ_003"))),
        ])
        #expect(selection.accepts(["scan.type": "DWI_ALFA1", "subject.label": "SUBJ_003"]))
        #expect(!selection.accepts(["scan.type": "T1", "subject.label": "SUBJ_003"]))
        #expect(selection.accepts(["subject.label": "SUBJ_003"], levels: ["subjects"]))
    }
}

@Suite struct QuantityTests {
    @Test func parsesDurationsRatesAndSizes() {
        #expect(Quantities.seconds("30s") == 30)
        #expect(Quantities.seconds("2h") == 7200)
        #expect(Quantities.seconds("500ms") == 0.5)
        #expect(Quantities.seconds("12") == 12)
        #expect(Quantities.seconds("soon") == nil)
        #expect(Quantities.ratePerSecond("20/s") == 20)
        #expect(Quantities.ratePerSecond("600/m") == 10)
        #expect(Quantities.ratePerSecond("0/s") == nil)
        #expect(Quantities.bytes("64KiB") == 65536)
        #expect(Quantities.bytes("10MB") == 10_000_000)
        #expect(Quantities.bytes("1.5 GiB") == 1.5 * 1_073_741_824)
        #expect(Quantities.formatBytes(1536) == "1.5 KiB")
        #expect(Quantities.formatBytes(12) == "12 B")
    }

    @Test func suggestsNearNames() {
        #expect(Suggest.nearest("scan_typ", in: ["scans", "subjects", "scan_type"]) == "scan_type")
        #expect(Suggest.nearest("zzzzzz", in: ["scans"]) == nil)
    }
}
