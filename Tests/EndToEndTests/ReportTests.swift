import Foundation
import Testing

/// Issue #26 item 4: `run --report` writes a page a real browser shows without errors.
extension EndToEnd {
@Suite struct ReportTests {
    /// Headless Chromium from Debian (`scripts/setup.sh` installs it); missing, the test fails.
    static func chromium() throws -> String {
        for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw HarnessError("Chromium is missing: the report's browser test needs `chromium` (Debian package; `bash scripts/setup.sh` installs it)")
    }

    /// The lobe segmentation on 10 CTs with a server that cuts downloads and answers 503 now and
    /// then: the page counts what the run did, draws every task and retry (of a download, of a
    /// request within a task) on its timeline, and Chromium logs nothing.
    @Test func theReportOfARealRunRendersInChromium() throws {
        let browser = try Self.chromium()
        let sandbox = try SandboxProcess(["--platforms", "gc", "--seed", "3", "--cut-after-bytes", "4096", "--cut-rate", "0.3",
                                          "--fault-rate", "503=0.15", "--retry-after", "0"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["covid-lobes.yml"])
        defer { workspace.remove() }
        let job = workspace.job("covid-lobes.yml")
        let result = try flowctl(["run", job, "--report", "--set", "actions.lobes.wait.poll=200ms"], environment: sandbox.environment)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("30 done"), "\(result.stderr)")
        let page = workspace.root + "/data/covid-lobes/.flowctl/report.html"
        #expect(result.stderr.contains("report: \(page) (last run: 30 done, 0 skipped, 0 failed"), "\(result.stderr)")
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(!html.contains(sandbox.environment["GC_TOKEN"] ?? "no token?"))

        // The page as Chromium made it, after its script ran.
        let profile = workspace.root + "/chromium-profile"
        let common = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=" + profile,
                      "--enable-logging=stderr", "--v=0"]
        let dom = try run(browser, common + ["--dump-dom", "file://" + page], environment: ["HOME": workspace.root])
        #expect(dom.status == 0, "\(dom.stderr)")
        let console = dom.stderr.split(separator: "\n").filter { $0.contains(":CONSOLE") }
        #expect(console.isEmpty, "console messages: \(console)")
        #expect(dom.stdout.contains("data-ready=\"yes\""), "the page's script did not finish")
        // 10 algorithm jobs started, 10 waits, 10 downloads of their outputs, all on the timeline.
        #expect(dom.stdout.contains("data-bars=\"30\""), "\(dom.stdout.prefix(400))")
        #expect(dom.stdout.contains("id=\"count-done\">30<"))
        #expect(dom.stdout.contains("id=\"count-failed\">0<"))
        let retries = try #require(result.stderr.firstMatch(of: /, (\d+) retries,/)?.1)
        #expect(dom.stdout.contains("id=\"count-retries\">\(retries)<"), "run said \(retries) retries")
        #expect(Int(retries) ?? 0 > 0, "the sandbox cut no download")
        #expect(dom.stdout.contains("<rect class=\"retry\""), "no retry on the timeline")
        // Polls and job starts the session retried (1 in 7 requests answered 503).
        let record = try String(contentsOfFile: workspace.root + "/data/covid-lobes/.flowctl/journal.report/events.ndjson", encoding: .utf8)
        let requestRetries = record.split(separator: "\n").filter { $0.contains("\"event\":\"request-retried\"") }.count
        #expect(requestRetries > 0)
        #expect(dom.stdout.contains("id=\"count-request-retries\">\(requestRetries)<"), "\(requestRetries) request retries")
        #expect(dom.stdout.contains("gc · remote jobs"))
        #expect(dom.stdout.contains("class=\"node\""))

        // A screenshot for people, kept with the test's artefacts.
        let artefacts = repositoryRoot + "/.build/test-artefacts"
        try FileManager.default.createDirectory(atPath: artefacts, withIntermediateDirectories: true)
        let shot = artefacts + "/report-covid-lobes.png"
        try? FileManager.default.removeItem(atPath: shot)
        let screenshot = try run(browser, common + ["--screenshot=" + shot, "--window-size=1280,2200", "--hide-scrollbars",
                                                    "file://" + page], environment: ["HOME": workspace.root])
        #expect(screenshot.status == 0, "\(screenshot.stderr)")
        let size = (try? FileManager.default.attributesOfItem(atPath: shot)[.size] as? Int) ?? 0
        #expect(size > 20_000, "screenshot \(shot): \(size) bytes")
    }

    /// `flowctl report DIR` writes the same page afterwards, where it is told to.
    @Test func reportWritesThePageOfAnEarlierRun() throws {
        let workspace = try Workspace(jobs: ["local-copy.yml"])
        defer { workspace.remove() }
        try workspace.copy("examples")
        let job = workspace.job("local-copy.yml")
        let first = try flowctl(["run", job, "--report-to", workspace.root + "/during.html"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("report: \(workspace.root)/during.html ("), "\(first.stderr)")
        let report = try flowctl(["report", workspace.root + "/out/local-copy", "-o", workspace.root + "/r.html"])
        #expect(report.status == 0, "\(report.stderr)")
        let html = try String(contentsOfFile: workspace.root + "/r.html", encoding: .utf8)
        #expect(html.contains("id=\"count-failed\">0<"))
        let files = try workspace.listing("out/local-copy").split(separator: "\n").count
        #expect(html.contains("id=\"count-done\">\(files)<"), "\(files) files")
        // Given the job file, the page lands beside its journal.
        let byJob = try flowctl(["report", job])
        #expect(byJob.status == 0, "\(byJob.stderr)")
        #expect(FileManager.default.fileExists(atPath: workspace.root + "/out/local-copy/.flowctl/report.html"))
        let missing = try flowctl(["report", workspace.root + "/nowhere"])
        #expect(missing.status == 1 && missing.stderr.contains("no journal at"), "\(missing.stderr)")
    }
}
}
