import Testing
@testable import FlowJobFile
import FlowModel

/// What a newcomer gets wrong writing a job by hand: each mistake gives one error (or warning)
/// at its own line and column, saying what to write instead.
@Suite struct HandWrittenMistakeTests {
    static func load(_ text: String) -> LoadResult {
        JobLoader(environment: ["XNAT_URL": "http://127.0.0.1:1"]).load(path: "job.yml", bytes: Array(text.utf8))
    }

    static func job(select: String, actions: String = "  pull: {download: s, to: out}\n") -> String {
        "flowctl: 1\nname: t\nsources:\n  xnat: {type: xnat, url: \"http://x\"}\nselect:\n  s:\n    source: xnat\n"
            + select + "actions:\n" + actions
    }

    /// `files: *.dcm` said "did not find expected alphabetic or numeric character".
    @Test func anUnquotedStarIsAnAliasAndSaysToQuote() {
        let result = Self.load(Self.job(select: "    project: p\n    files: *.dcm\n"))
        #expect(errors(result).count == 1)
        let error = errors(result).first ?? ""
        #expect(error.hasPrefix("9:12: "), "\(error)")
        #expect(error.contains("quote it, e.g. `files: \"*.dcm\"`"), "\(error)")
    }

    /// `project:testenv` and `-B` were reported a line later, in libyaml's words only.
    @Test func aMissingSpaceAfterAColonOrADashIsNamedOnItsOwnLine() {
        let colon = Self.load(Self.job(select: "    project:testenv\n    files: \"*.dcm\"\n"))
        #expect(errors(colon).count == 1)
        #expect(errors(colon).first?.hasPrefix("8:5: ") == true, "\(errors(colon))")
        #expect(errors(colon).first?.contains("`project: testenv`") == true, "\(errors(colon))")

        let dash = Self.load(Self.job(select: "    project: p\n    subjects:\n    - A\n    -B\n"))
        #expect(errors(dash).count == 1)
        #expect(errors(dash).first?.hasPrefix("11:5: ") == true, "\(errors(dash))")
        #expect(errors(dash).first?.contains("a list item is `- value`, with a space after the dash") == true, "\(errors(dash))")
    }

    /// `{url: ${env.XNAT_URL}}` said "did not find expected ',' or '}'".
    @Test func anUnquotedVariableInAFlowMappingSaysToQuoteIt() {
        let text = Self.job(select: "    project: p\n").replacingOccurrences(
            of: "url: \"http://x\"", with: "url: ${env.XNAT_URL}")
        let result = Self.load(text)
        #expect(errors(result).count == 1)
        #expect(errors(result).first?.hasPrefix("4:") == true, "\(errors(result))")
        #expect(errors(result).first?.contains("must be quoted, e.g. `{url: \"${env.XNAT_URL}\"}`") == true, "\(errors(result))")
    }

    /// A key indented one space off said "did not find expected key" and nothing more.
    @Test func aKeyIndentedOffSaysToCheckTheIndentation() {
        let result = Self.load(Self.job(select: "    project: p\n   resource: NIFTI\n"))
        #expect(errors(result).count == 1)
        #expect(errors(result).first?.contains("check this line's indentation") == true, "\(errors(result))")
    }

    /// `subjects: SUBJ_001, SUBJ_002` matched no subject, silently: it is one glob.
    @Test func aCommaInAPlainValueWarnsThatAListWasMeant() throws {
        let result = Self.load(Self.job(select: "    project: p\n    subjects: SUBJ_001, SUBJ_002\n"))
        #expect(result.errors.isEmpty, "\(errors(result))")
        let warning = try #require(result.warnings.first { $0.message.contains("one value, not a list") })
        #expect(warning.location.line == 9 && warning.location.column == 15, "\(warning.location)")
        #expect(warning.message.contains("write `[SUBJ_001, SUBJ_002]`"), "\(warning.message)")
        // Quoted, a list, or a comma without a following space: meant as written.
        for fine in ["\"SUBJ_001, SUBJ_002\"", "[SUBJ_001, SUBJ_002]", "SUBJ_001,SUBJ_002", "two words, one value"] {
            let quiet = Self.load(Self.job(select: "    project: p\n    subjects: \(fine)\n"))
            #expect(!quiet.warnings.contains { $0.message.contains("not a list") }, "\(fine)")
        }
    }

    /// `after: b` where action `b` had an error of its own also said "unknown action `b`; did you
    /// mean `a`?": two errors, the second wrong. Likewise a layout with an error, named by an action.
    @Test func aBrokenActionOrLayoutIsNotAlsoUnknownWhereItIsNamed() {
        let actions = """
              a: {download: s, to: o1, after: b, layout: flat}
              b: {download: [s], to: o2}
              c: {download: b.outputs, to: o3}

            """
        let text = Self.job(select: "    project: p\n", actions: actions) + "layouts:\n  flat: {path: \"../{file.name}\"}\n"
        let result = Self.load(text)
        let got = errors(result)
        #expect(got.count == 2, "\(got)")
        #expect(got.contains { $0.hasPrefix("11:17: ") && $0.contains("must be a single value") }, "\(got)")
        #expect(got.contains { $0.contains("climb out of the output folder") }, "\(got)")
        #expect(!got.contains { $0.contains("unknown") }, "\(got)")
    }
}

/// A whole section mistaken: misnamed, a list, or indented into another. One error, where it is.
@Suite struct MistakenSectionTests {
    static let head = "flowctl: 1\nname: t\nsources:\n  xnat: {type: xnat, url: \"http://x\"}\n"

    /// `selections:` had no suggestion (too far from `select` for a typo) and every action that
    /// named a selection was also "unknown selection".
    @Test func aMisnamedSectionIsOneErrorWithTheRightName() {
        let result = HandWrittenMistakeTests.load(Self.head + "selections:\n  s: {source: xnat, project: p}\n"
            + "actions:\n  pull: {download: s, to: out}\n")
        #expect(errors(result) == ["5:1: unknown key `selections` at the top level; did you mean `select`?"])
        let source = HandWrittenMistakeTests.load("flowctl: 1\nsource:\n  xnat: {type: xnat, url: \"http://x\"}\n"
            + "select:\n  s: {source: xnat, project: p}\nactions:\n  pull: {download: s, to: out}\n")
        #expect(errors(source) == ["2:1: unknown key `source` at the top level; did you mean `sources`?"])
    }

    /// `select:` as a list of `- name: {...}`: then "unknown selection" for each use.
    @Test func aSectionThatIsAListIsOneError() {
        let result = HandWrittenMistakeTests.load(Self.head + "select:\n  - s: {source: xnat, project: p}\n"
            + "actions:\n  pull: {download: s, to: out}\n")
        #expect(errors(result).count == 1, "\(errors(result))")
        #expect(errors(result).first?.hasPrefix("6:3: `select` must be a mapping") == true, "\(errors(result))")
    }

    /// `actions:` indented under `select:` was a selection `actions` without a source, plus
    /// "the job has no actions" and "selection `s` is not used".
    @Test func aTopLevelKeyIndentedIntoASectionSaysSo() {
        let result = HandWrittenMistakeTests.load(Self.head + "select:\n  s:\n    source: xnat\n    project: p\n"
            + "  actions:\n    pull: {download: s, to: out}\n")
        #expect(errors(result) == ["9:3: `actions:` is indented into `select:`; a top-level key starts in column 1"])
        #expect(result.warnings.isEmpty, "\(result.warnings.map(\.message))")
    }
}
