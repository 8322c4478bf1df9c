import Foundation
import Testing
import FlowConnector

/// The fuzz targets' inputs as regression tests (issue #23): every file under
/// `Fuzz/Crashers/<target>/` (inputs that once crashed `scripts/fuzz.sh`) and
/// `Fuzz/Corpus/<target>/` (the seed corpus: real sandbox replies and job files) goes through the
/// same adapter as the libFuzzer target (the `*Adapter.swift` files here are symlinks to
/// `Fuzz/<target>/Adapter.swift`). Each must return or throw a `ConnectorError`; the job-file
/// loader must give a job exactly when it reports no error. Crashers run in a child process (an
/// exit test), so one that still traps fails its test instead of ending the whole run.
struct FuzzRegressionTests {
    static let targets = ["FuzzJobFile", "FuzzXNAT", "FuzzLORIS", "FuzzGrandChallenge", "FuzzAgora", "FuzzWebFolder"]

    /// `Fuzz/` at the root of the package.
    static let fuzzRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fuzz")

    /// The input files of `Fuzz/<kind>/<target>/`, sorted (none when the folder does not exist).
    static func inputs(_ kind: String, _ target: String) -> [URL] {
        let folder = fuzzRoot.appendingPathComponent(kind).appendingPathComponent(target)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { !$0.hasPrefix(".") && $0 != "README.md" }.sorted().map { folder.appendingPathComponent($0) }
    }

    /// Feeds one input through a target's adapter: nil when it behaved, else what went wrong.
    /// `seed` inputs are real replies: they must parse, not only fail cleanly.
    static func check(_ target: String, _ bytes: [UInt8], seed: Bool) -> String? {
        if target == "FuzzJobFile" {
            let result = JobFileFuzzAdapter.parse(bytes)
            if (result.jobs == 1) != (result.errors == 0) { return "job \(result.jobs) with \(result.errors) errors" }
            if result.errors > 0 && result.rendered.isEmpty { return "errors but nothing rendered" }
            return nil
        }
        let parse: ([UInt8]) throws -> (items: Int, rejected: Int)
        switch target {
        case "FuzzXNAT": parse = XNATFuzzAdapter.parse
        case "FuzzLORIS": parse = LORISFuzzAdapter.parse
        case "FuzzGrandChallenge": parse = GrandChallengeFuzzAdapter.parse
        case "FuzzAgora": parse = AgoraFuzzAdapter.parse
        case "FuzzWebFolder": parse = WebFolderFuzzAdapter.parse
        default: return "unknown target \(target)"
        }
        do {
            let result = try parse(bytes)
            if result.items < 0 || result.rejected < 0 { return "negative counts \(result)" }
            return nil
        } catch let error as ConnectorError {
            // A real reply must parse; a fuzzed one may be refused, with a bounded, printable message.
            if seed { return "a seed was refused: \(error)" }
            let text = "\(error)"
            if text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" }) { return "control character in \(text.debugDescription)" }
            return nil
        } catch {
            return "untyped error \(type(of: error)): \(error)"
        }
    }

    /// Crashers whose bug is not fixed yet: `Fuzz/Crashers/OPEN`, one `<target>/<file>  <why>`
    /// per line. They are fed apart, as a known issue: the run stays green while the bug is open,
    /// and fails once it is fixed until the line is removed (the known issue no longer occurs).
    static func openCrashers() -> Set<String> {
        let text = (try? String(contentsOf: fuzzRoot.appendingPathComponent("Crashers/OPEN"), encoding: .utf8)) ?? ""
        return Set(text.split(separator: "\n").compactMap { line in
            line.hasPrefix("#") ? nil : line.split(separator: " ").first.map(String.init)
        })
    }

    /// The crashers of `target` that are open (or not).
    static func crashers(_ target: String, open: Bool) -> [URL] {
        let known = openCrashers()
        return inputs("Crashers", target).filter { !$0.lastPathComponent.hasSuffix(".txt") }
            .filter { known.contains("\(target)/\($0.lastPathComponent)") == open }
    }

    /// Feeds the crashers of `target`; exits non-zero (or traps) when one misbehaves.
    static func feedCrashers(_ target: String, open: Bool) {
        for file in crashers(target, open: open) {
            guard let data = FileManager.default.contents(atPath: file.path) else { exit(3) }
            if let problem = check(target, [UInt8](data), seed: false) {
                FileHandle.standardError.write(Data("\(file.lastPathComponent): \(problem)\n".utf8))
                exit(2)
            }
        }
    }

    @Test("every fuzz target has a seed corpus, and each seed parses", arguments: targets)
    func seeds(target: String) throws {
        let files = Self.inputs("Corpus", target)
        #expect(files.count >= 3, "Fuzz/Corpus/\(target) holds \(files.count) seeds")
        for file in files {
            let data = try #require(FileManager.default.contents(atPath: file.path))
            // The loader's seeds include the deliberately broken fixtures: those must fail cleanly.
            let problem = Self.check(target, [UInt8](data), seed: target != "FuzzJobFile")
            #expect(problem == nil, "\(target)/\(file.lastPathComponent): \(problem ?? "")")
        }
    }

    @Test("the job files of jobs/ load as jobs from the fuzz corpus")
    func jobSeedsLoad() throws {
        let files = Self.inputs("Corpus", "FuzzJobFile").filter { $0.lastPathComponent.hasPrefix("jobs-") }
        #expect(!files.isEmpty)
        for file in files {
            let result = JobFileFuzzAdapter.parse([UInt8](try #require(FileManager.default.contents(atPath: file.path))))
            #expect(result.jobs == 1, "\(file.lastPathComponent): \(result.rendered)")
        }
    }

    // Each crasher runs in a child process (an exit test), so one that still traps fails its test
    // instead of ending the whole run.
    @Test("no crasher of Fuzz/Crashers traps any more", arguments: targets)
    func crashersNoLongerTrap(target: String) async {
        if !Self.crashers(target, open: false).isEmpty {
            await #expect(processExitsWith: .success, "a crasher of \(target) still fails (its stderr names it)") { [target] in
                FuzzRegressionTests.feedCrashers(target, open: false)
            }
        }
        if !Self.crashers(target, open: true).isEmpty {
            await withKnownIssue("open crashers of \(target), listed in Fuzz/Crashers/OPEN") {
                await #expect(processExitsWith: .success) { [target] in FuzzRegressionTests.feedCrashers(target, open: true) }
            }
        }
    }
}
