import Foundation
import Testing
@testable import FlowJobFile
import FlowModel

/// Loads a fixture shipped with the tests.
func fixture(_ name: String, environment: [String: String] = [:], overrides: [String] = [],
             tolerant: Bool = false) -> LoadResult {
    let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil)!
    return JobLoader(environment: environment, overrides: overrides, tolerateUnsetEnvironment: tolerant)
        .load(path: url.path)
}

/// `line:column: fragment` of each error, for compact expectations.
func errors(_ result: LoadResult) -> [String] {
    result.errors.map { "\($0.location.line):\($0.location.column): \($0.message)" }
}

func expectDiagnostics(_ result: LoadResult, _ expected: [(Int, Int, String)],
                       sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    let got = errors(result)
    #expect(got.count == expected.count, "got \(got)", sourceLocation: sourceLocation)
    for (line, column, fragment) in expected {
        #expect(got.contains { $0.hasPrefix("\(line):\(column): ") && $0.contains(fragment) },
                "expected \(line):\(column) containing \"\(fragment)\" in \(got)", sourceLocation: sourceLocation)
    }
    #expect(result.job == nil, sourceLocation: sourceLocation)
}

@Suite struct LoaderTests {
    @Test func loadsAGoodJobWithEverySection() throws {
        let result = fixture("good.yml", environment: ["XNAT_USER": "alice", "XNAT_PASS": "s3cret"])
        #expect(result.errors.isEmpty, "\(result.rendered())")
        let job = try #require(result.job)
        #expect(job.name == "good")
        #expect(job.sources.map(\.name) == ["xnat", "disk"])
        let xnat = try #require(job.source(named: "xnat"))
        #expect(xnat.url == "https://xnat.example.org")
        #expect(xnat.credentials["password"]?.revealed == "s3cret")
        #expect(xnat.concurrency == 4)
        #expect(xnat.ratePerSecond == 20)
        #expect(xnat.timeoutSeconds == 120)
        #expect(xnat.retry == RetrySpec(attempts: 5, maxSeconds: 600))
        let dwi = try #require(job.selection(named: "dwi"))
        #expect(dwi.filters.map(\.field) == ["project.id", "subject.label", "experiment.label", "scan.type",
                                             "scan.quality", "resource.label", "file.size"])
        #expect(dwi.accepts(["project.id": "testenv", "subject.label": "SUBJ_003", "experiment.label": "MR1",
                             "scan.type": "rDWI_ALFA1", "scan.quality": "usable", "resource.label": "NIFTI",
                             "file.size": "2048"]))
        #expect(!dwi.accepts(["project.id": "testenv", "subject.label": "SUBJ_003", "experiment.label": "MR1",
                              "scan.type": "rDWI_ALFA1", "scan.quality": "unusable", "resource.label": "NIFTI",
                              "file.size": "2048"]))
        let pull = try #require(job.action(named: "pull"))
        #expect(pull.to == "data/dwi")
        #expect(pull.layout == .named("seed002"))
        let push = try #require(job.action(named: "push"))
        #expect(push.into["resource"] == "RESULTS")
        #expect(push.after == ["pull"])
        #expect(job.layout(named: "seed002")?.maps["kinds"]?["DWI_ALFA1"] == "DWI")
    }

    @Test func unknownKeysGetDidYouMean() {
        expectDiagnostics(fixture("unknown-keys.yml"), [
            (2, 1, "unknown key `actoins` at the top level; did you mean `actions`?"),
            (7, 5, "did you mean `concurrency`?"),
            (11, 5, "did you mean `scans`?"),
            (12, 16, "unknown field `lable` of subjects"),
        ])
    }

    @Test func unknownReferencesAreNamed() {
        expectDiagnostics(fixture("references.yml"), [
            (8, 13, "unknown source `xnatt`; did you mean `xnat`?"),
            (14, 15, "unknown selection `t1s`; did you mean `t1`?"),
            (16, 13, "unknown layout `seed02`"),
            (20, 12, "unknown action `pul`; did you mean `pull`?"),
        ])
    }

    /// A typo in a source's `type` or a selection's `source` was one error and three false ones:
    /// "unknown source `xnat`" (it is there), "unknown selection `dwi`", unknown template fields.
    /// A credential given as a list was silently ignored.
    @Test func aBrokenDefinitionIsOneErrorNotACascade() {
        expectDiagnostics(fixture("broken-definitions.yml"), [
            (4, 11, "unknown source type `xnatt`; did you mean `xnat`?"),
            (9, 11, "`user` must be a single value, not a list"),
            (15, 13, "unknown source `othr`; did you mean `other`?"),
        ])
    }

    @Test func cyclesAreNamedInOrder() {
        expectDiagnostics(fixture("cycle.yml"), [(11, 3, "a cycle: a -> c -> b -> a")])
    }

    @Test func actionsASourceCannotDoAndUnknownTemplateFields() {
        expectDiagnostics(fixture("capabilities.yml"), [
            (12, 10, "cannot tag; only agora sources can"),
            (17, 31, "unknown template field `scan.typ` for what `pull` downloads; did you mean `scan.type`?"),
            (19, 13, "must be on a `local` source"),
        ])
    }

    /// The rules for files of unknown size, a user's to change per source.
    @Test func stallAndMaxFileSizeAreSourceSettings() throws {
        let text = """
            flowctl: 1
            sources:
              web: {type: http, url: "https://data.example.org/", stall: 10s, max-file-size: 2GiB}
              bad: {type: http, url: "https://data.example.org/", stall: soon, max-file-size: lots}
            select:
              all: {source: web}
            actions:
              pull: {download: all, to: out}
            """
        let result = JobLoader(environment: [:]).load(path: "stall.yml", bytes: Array(text.utf8))
        #expect(errors(result).count == 2)
        #expect(errors(result).contains { $0.hasPrefix("4:") && $0.contains("`stall` must be a duration") })
        #expect(errors(result).contains { $0.hasPrefix("4:") && $0.contains("`max-file-size` must be a size") })
        let good = JobLoader(environment: [:]).load(path: "stall.yml", bytes: Array(text.replacingOccurrences(
            of: "  bad: {type: http, url: \"https://data.example.org/\", stall: soon, max-file-size: lots}\n", with: "").utf8))
        let source = try #require(good.job?.sources.first)
        #expect(source.stallSeconds == 10)
        #expect(source.maxFileSize == 2 << 30)
    }

    /// A layout that would leave the output folder is a job-file error, located, before any run.
    @Test func layoutsThatClimbOrAreAbsoluteAreLocated() {
        expectDiagnostics(fixture("climbing.yml"), [
            (12, 28, "cannot climb out of the output folder"),  // at the `..`
            (17, 14, "cannot climb out of the output folder"),
            (21, 25, "cannot climb out of the output folder"),
            (25, 13, "cannot start with `/`"),
            // `d` names the refused layout `up`: its own error says what is wrong, not "unknown layout".
        ])
    }

    @Test func wrongTypesAndValues() {
        expectDiagnostics(fixture("types.yml"), [
            (5, 10, "must start with https://"),
            (6, 18, "whole number of at least 1, not `many`"),
            (7, 11, "`rate` must look like `20/s`"),
            (8, 12, "true or false, not `maybe`"),
            (10, 11, "unknown source type `xnatt`; did you mean `xnat`?"),
            (15, 27, "invalid regular expression `(unclosed`"),
            (16, 24, "`gt` needs a number or size"),
            (21, 15, "is not a field name"),
        ])
    }

    @Test func duplicateKeysPointAtTheSecond() {
        expectDiagnostics(fixture("duplicate.yml"), [(6, 3, "duplicate key `xnat`")])
    }

    @Test func tabsSyntaxAndEmptyFiles() {
        expectDiagnostics(fixture("tabs.yml"), [(4, 1, "tab character in indentation")])
        expectDiagnostics(fixture("syntax.yml"), [(4, 7, "YAML syntax: did not find expected ',' or '}'")])
        expectDiagnostics(fixture("empty.yml"), [(1, 1, "file is empty")])
    }

    @Test func environmentAndVariables() {
        let strict = fixture("env.yml")
        expectDiagnostics(strict, [
            (5, 10, "environment variable `FLOWCTL_TEST_UNSET_URL` is not set"),
            (10, 14, "unknown variable `vars.archive`"),
        ])
        #expect(strict.warnings.contains { $0.message.contains("credential `token` is written in the job file") })
        // validate tolerates unset variables: they become warnings.
        let tolerant = fixture("env.yml", tolerant: true)
        #expect(errors(tolerant).count == 1)
    }

    @Test func overridesReplaceValues() throws {
        let result = fixture("good.yml", overrides: ["sources.xnat.url=http://127.0.0.1:9/", "sources.xnat.concurrency=2"])
        let job = try #require(result.job)
        #expect(job.source(named: "xnat")?.url == "http://127.0.0.1:9/")
        #expect(job.source(named: "xnat")?.concurrency == 2)
        let bad = fixture("good.yml", overrides: ["nonsense"])
        #expect(errors(bad).first?.contains("must be `path.to.key=value`") == true)
    }

    /// Issue #26: `--set 'select.dwi.subjects=[A,B]'` was the string "[A,B]" (a glob matching
    /// nothing), and `--set` errors quoted the job file's first line.
    @Test func overridesTakeYAMLValuesAndTheirErrorsQuoteTheSetText() throws {
        let job = try #require(fixture("good.yml", overrides: ["select.dwi.subjects=[A, 'B C']",
                                                               "sources.xnat.password=p#ss word"]).job)
        let subjects = job.selection(named: "dwi")?.filters.first { $0.field == "subject.label" }?.matcher
        #expect(subjects == .anyOf([.glob(Glob("A")), .glob(Glob("B C"))]))
        #expect(job.source(named: "xnat")?.credentials["password"]?.revealed == "p#ss word")

        let unknown = fixture("good.yml", overrides: ["sources.xnat.concurrency=2", "sources.xnat.concurency=3"])
        #expect(errors(unknown).count == 1)
        let text = unknown.rendered()
        #expect(text.contains("--set:2:20: error: unknown key `concurency`"), "\(text)")
        #expect(text.contains(" 2 | --set sources.xnat.concurency=3\n   |                    ^"), "\(text)")

        let broken = fixture("good.yml", overrides: ["select.dwi.subjects=[A, B"])
        #expect(broken.errors.first?.location.file == "--set")
        #expect(broken.rendered().contains(" 1 | --set select.dwi.subjects=[A, B"), "\(broken.rendered())")
    }

    /// Issue #26: a `password-command:` instead of a password in the environment.
    @Test func passwordCommandsAreReadNotRun() throws {
        let text = try #require(fixture("good.yml").source?.text)
        let commanded = JobLoader(environment: [:]).load(path: "cmd.yml", bytes: Array(text.replacingOccurrences(
            of: "password: ${env.XNAT_PASS:-}", with: "password-command: pass show xnat").utf8))
        let job = try #require(commanded.job, "\(commanded.rendered())")
        #expect(job.source(named: "xnat")?.credentialCommands["password"] == "pass show xnat")
        #expect(job.source(named: "xnat")?.credentials["password"] == nil)
        let both = fixture("good.yml", environment: ["XNAT_PASS": "x"],
                           overrides: ["sources.xnat.password=p", "sources.xnat.password-command=pass show xnat"])
        #expect(errors(both).contains { $0.contains("give `password` or `password-command`, not both") }, "\(errors(both))")
    }

    /// Issue #26: a bare `on:` key reads as `true` in YAML 1.1 tools (PyYAML, so the schema
    /// check), so the key is `over:`; old job files still load, with a warning.
    @Test func theOldOnKeyStillLoadsWithAWarning() throws {
        let text = try #require(fixture("cycle.yml").source?.text)
        let old = JobLoader(environment: [:]).load(path: "old.yml", bytes: Array(text.replacingOccurrences(of: "over:", with: "on:").utf8))
        #expect(errors(old) == errors(fixture("cycle.yml")))
        #expect(old.warnings.filter { $0.message.contains("`on:` is now `over:`") }.count == 4)
        let both = JobLoader(environment: [:]).load(path: "both.yml", bytes: Array(text.replacingOccurrences(
            of: "over: ct", with: "over: ct\n    on: ct").utf8))
        #expect(both.errors.contains { $0.message.contains("`on` is the old name of `over`") })
    }

    /// Issue #26: a job file saved with a UTF-8 byte-order mark was refused.
    @Test func aByteOrderMarkIsAccepted() throws {
        let plain = try #require(fixture("good.yml").source?.text)
        let result = JobLoader(environment: [:]).load(path: "bom.yml", bytes: [0xEF, 0xBB, 0xBF] + Array(plain.utf8))
        #expect(result.errors.isEmpty, "\(result.rendered())")
        #expect(result.job?.name == "good")
    }

    @Test func renderedDiagnosticsQuoteTheLineWithACaret() {
        let text = fixture("unknown-keys.yml").rendered()
        #expect(text.contains("unknown-keys.yml:7:5: error: unknown key `concurency`"))
        #expect(text.contains(" 7 |     concurency: 4\n   |     ^"))
    }
}

@Suite struct HostileInputTests {
    let loader = JobLoader(environment: [:])

    @Test func binaryGarbageIsRefusedNotParsed() {
        var bytes: [UInt8] = Array("flowctl: 1\n".utf8)
        var state: UInt64 = 42
        for _ in 0..<10_000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            bytes.append(UInt8(truncatingIfNeeded: state >> 33))
        }
        let result = loader.load(path: "garbage.yml", bytes: bytes)
        #expect(result.job == nil)
        #expect(result.errors.count == 1)
        let message = result.errors.first?.message ?? ""
        #expect(message.contains("NUL byte") || message.contains("not valid UTF-8"))
    }

    @Test func invalidUTF8IsLocated() {
        let bytes = Array("flowctl: 1\nname: caf".utf8) + [0xE9] + Array("\n".utf8)
        let result = loader.load(path: "latin1.yml", bytes: bytes)
        #expect(errors(result) == ["2:10: file is not valid UTF-8 (byte 0xE9); save it as UTF-8"])
    }

    @Test func hugeFilesAreRefusedWithoutReadingThem() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("huge-\(UUID()).yml").path
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: 50_000_000)  // a sparse 50 MB file
        try handle.close()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = loader.load(path: path)
        #expect(result.errors.count == 1)
        #expect(result.errors.first?.message.contains("more than a job file can be") == true)
    }

    @Test func aliasBombsStop() {
        var yaml = "flowctl: 1\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1..<9 {
            yaml += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        let result = loader.load(path: "bomb.yml", bytes: Array(yaml.utf8))
        #expect(result.job == nil)
        #expect(result.errors.contains { $0.message.contains("expands to more than") })
    }

    @Test func notAMappingAndMissingVersion() {
        #expect(errors(loader.load(path: "l.yml", bytes: Array("- a\n- b\n".utf8))).first?.contains("must be a mapping") == true)
        #expect(errors(loader.load(path: "v.yml", bytes: Array("name: x\n".utf8))).first?.contains("missing `flowctl: 1`") == true)
        #expect(errors(loader.load(path: "v.yml", bytes: Array("flowctl: 2\n".utf8))).first?.contains("unsupported format version") == true)
    }
}
