import FlowExecutor
import FlowModel
import Foundation
import Testing
@testable import FlowReport

/// A small run: two downloads from XNAT at once (one retried, one failing), an algorithm on
/// Grand Challenge started and waited for, its output downloaded.
enum Fixture {
    static let t0 = 1_800_000_000.0

    static let graph = PlanGraph(job: "fixture", actions: [
        .init(name: "scans", kind: "download", source: "xnat", tasks: 3, todo: 3, skipped: 0, bytesTodo: 3_000_000),
        .init(name: "lobes", kind: "run-algorithm", source: "gc", tasks: 2, todo: 2, skipped: 0, bytesTodo: 0),
        .init(name: "masks", kind: "download", source: "gc", tasks: 1, todo: 1, skipped: 0, bytesTodo: 0),
    ], edges: [.init(from: "lobes", to: "masks", tasks: 1), .init(from: "scans", to: "lobes", tasks: 1)])

    static let ndjson = """
        {"event":"run-started","time":\(t0),"tasks":6,"skipped":1,"bytes":3000000,"format_version":1}
        {"event":"started","time":\(t0 + 0.1),"task":"scans/a","action":"scans","kind":"download","format_version":1}
        {"event":"started","time":\(t0 + 0.2),"task":"scans/b","action":"scans","kind":"download","format_version":1}
        {"event":"retried","time":\(t0 + 1),"task":"scans/a","action":"scans","kind":"download","attempt":1,"delay_seconds":0.5,"reason":"HTTP 503 from https://user:hunter2@xnat.example/data?token=abc"}
        {"event":"finished","time":\(t0 + 2.1),"task":"scans/a","action":"scans","kind":"download","bytes":2000000}
        {"event":"failed","time":\(t0 + 2.5),"task":"scans/b","action":"scans","kind":"download","error":"HTTP 404 from https://user:hunter2@xnat.example/b","failure":"remote"}
        {"event":"skipped","time":\(t0 + 2.5),"task":"scans/c","action":"scans","kind":"download","reason":"done"}
        {"event":"started","time":\(t0 + 2.2),"task":"lobes/a","action":"lobes","kind":"run"}
        {"event":"finished","time":\(t0 + 2.4),"task":"lobes/a","action":"lobes","kind":"run","bytes":0}
        {"event":"started","time":\(t0 + 2.4),"task":"lobes/a/wait","action":"lobes","kind":"wait"}
        {"event":"request-retried","time":\(t0 + 3),"task":"lobes/a/wait","action":"lobes","kind":"wait","delay_seconds":1,"reason":"HTTP 503"}
        {"event":"finished","time":\(t0 + 8),"task":"lobes/a/wait","action":"lobes","kind":"wait","bytes":0}
        {"event":"started","time":\(t0 + 8),"task":"masks/a","action":"masks","kind":"download-outputs"}
        {"event":"finished","time":\(t0 + 9),"task":"masks/a","action":"masks","kind":"download-outputs","bytes":500000}
        {"event":"run-finished","time":\(t0 + 10),"files":4,"bytes":2500000,"retries":1,"skipped":1,"failed":1,"not_started":0,"seconds":10}
        {"event":"run-fini
        """

    static let records = [
        TaskRecord(id: "scans/a", action: "scans", kind: "download", state: .done, attempts: 2, bytesTransferred: 2_000_000,
                   size: 2_000_000, source: "xnat", startedAt: t0 + 0.1, finishedAt: t0 + 2.1),
        TaskRecord(id: "scans/b", action: "scans", kind: "download", state: .failed, attempts: 1,
                   error: "HTTP 404 from https://user:hunter2@xnat.example/b", finishedAt: t0 + 2.5),
        TaskRecord(id: "masks/a/out", action: "masks", kind: "output-file", state: .done, size: 500_000),
    ]

    static var input: ReportInput {
        ReportInput(records: records, runs: [Journal.RunRow(id: 1, job: "fixture", startedAt: t0, finishedAt: t0 + 10, outcome: "failed")],
                    events: RecordedEvent.parse(ndjson: Data(ndjson.utf8)), graph: graph)
    }
}

@Suite struct ReportModelTests {
    @Test func aBrokenLastLineIsLeftOut() {
        let events = RecordedEvent.parse(ndjson: Data(Fixture.ndjson.utf8))
        #expect(events.count == 15)
        #expect(events.last?.event == "run-finished")
    }

    @Test func countsComeFromTheRunsEvents() {
        let m = ReportModel.build(Fixture.input, now: Fixture.t0 + 20)
        #expect(m.counts.planned == 6)
        #expect(m.counts.done == 4)
        #expect(m.counts.failed == 1)
        #expect(m.counts.skipped == 1)
        #expect(m.counts.retries == 1)
        #expect(m.counts.bytes == 2_500_000)
        #expect(m.counts.requestRetries == 1)
        #expect(m.run?.outcome == "failed")
        #expect(m.journalDone == 1 && m.journalFailed == 1 && m.journalBytes == 2_500_000)
    }

    @Test func overlappingTransfersTakeLanesAndRemoteJobsHaveTheirOwn() {
        let m = ReportModel.build(Fixture.input, now: Fixture.t0 + 20)
        #expect(m.groups.map(\.name) == ["xnat", "gc · remote jobs", "gc"])
        #expect(m.groups.map(\.lanes) == [2, 1, 1])
        let a = m.bars.first { $0.task == "scans/a" }
        let b = m.bars.first { $0.task == "scans/b" }
        #expect(a?.lane != b?.lane)
        #expect(a?.retries == [ReportModel.Retry(at: Fixture.t0 + 1, delay: 0.5, attempt: 1, reason: "HTTP 503 from https://xnat.example/data")])
        #expect(b?.state == .failed)
        // A poll the session retried shows inside the wait.
        #expect(m.bars.first { $0.task == "lobes/a/wait" }?.retries.map(\.at) == [Fixture.t0 + 3])
        // The run and its wait follow each other on one row.
        #expect(m.bars.filter { $0.kind == "run" || $0.kind == "wait" }.map(\.lane) == [2, 2])
    }

    @Test func throughputKeepsEveryByteOfEachSource() {
        let m = ReportModel.build(Fixture.input, now: Fixture.t0 + 20)
        #expect(m.throughput.map(\.source) == ["gc", "xnat"])
        for series in m.throughput {
            let total = series.perSecond.reduce(0, +) * m.bucketSeconds
            #expect(abs(total - Double(series.bytes)) < 1, "\(series.source)")
        }
        // XNAT's bytes all land in the first 2.1 s of the 10.
        let xnat = m.throughput[1].perSecond
        #expect(xnat[13...].allSatisfy { $0 == 0 } && xnat[0] > 0)
    }

    @Test func failuresKeepTheirCauseWithoutCredentials() {
        let m = ReportModel.build(Fixture.input, now: Fixture.t0 + 20)
        #expect(m.failures.count == 1)
        #expect(m.failures[0].cause == "HTTP 404 from https://xnat.example/b")
        #expect(m.failures[0].category == "remote")
        let page = ReportHTML.render(m)
        #expect(!page.contains("hunter2") && !page.contains("token=abc"))
    }

    @Test func theGraphPlacesEachActionAfterTheOnesItWaitsFor() {
        let m = ReportModel.build(Fixture.input, now: Fixture.t0 + 20)
        #expect(m.nodes.map { "\($0.action.name)@\($0.column),\($0.row)" } == ["scans@0,0", "lobes@1,0", "masks@2,0"])
    }

    /// The record leaves file transfers out (the journal has their times): bars come from the
    /// journal rows this run wrote, with the retries of the record; rows of earlier runs stay out.
    @Test func transfersComeFromTheJournalRowsOfThisRun() {
        var input = Fixture.input
        input.events.removeAll { ($0.event == "started" || $0.event == "finished") && $0.kind == "download" }
        input.records.append(TaskRecord(id: "scans/old", action: "scans", kind: "download", state: .done, bytesTransferred: 5,
                                        startedAt: Fixture.t0 - 100, finishedAt: Fixture.t0 - 99))
        let m = ReportModel.build(input, now: Fixture.t0 + 20)
        let a = m.bars.first { $0.task == "scans/a" }
        #expect(a?.start == Fixture.t0 + 0.1 && a?.end == Fixture.t0 + 2.1 && a?.bytes == 2_000_000)
        #expect(a?.retries.count == 1)
        // The failed one starts at its first retry or, without one, is a mark at its end.
        let b = m.bars.first { $0.task == "scans/b" }
        #expect(b?.state == .failed && b?.start == Fixture.t0 + 2.5)
        #expect(!m.bars.contains { $0.task == "scans/old" })
        #expect(m.counts.done == 4 && m.counts.bytes == 2_500_000)
        #expect(m.throughput.map(\.bytes) == [500_000, 2_000_000])
    }

    /// A killed run: no run-finished line, a wait still open. It ends at the last line, not at
    /// the time the report is made (hours later, the timeline would be a flat line).
    @Test func aKilledRunEndsWhereItsRecordEnds() {
        var input = Fixture.input
        input.events.removeAll { $0.event == "run-finished" || $0.task == "lobes/a/wait" && $0.event == "finished" }
        input.events.removeAll { $0.task == "masks/a" }
        input.runs = [Journal.RunRow(id: 1, job: "fixture", startedAt: Fixture.t0)]
        let m = ReportModel.build(input, now: Fixture.t0 + 7200)
        let wait = m.bars.first { $0.task == "lobes/a/wait" }
        // Its last line: the retry of a poll at 3 s.
        #expect(wait?.state == .unfinished && wait?.end == Fixture.t0 + 3)
        #expect(m.run?.outcome == "unfinished" && m.run?.finishedAt == nil)
        #expect(m.bars.allSatisfy { $0.end <= Fixture.t0 + 3 })
        #expect(m.counts.done == 2)
    }

    @Test func theRecordKeepsWhatTheJournalLacks() {
        let download = PlannedTask(id: "d", action: "a", kind: .download)
        let wait = PlannedTask(id: "w", action: "b", kind: .wait)
        #expect(!RecordedEvents.keeps(.taskStarted(download)) && !RecordedEvents.keeps(.taskFinished(download, bytes: 1)))
        #expect(!RecordedEvents.keeps(.progress(taskID: "d", bytes: 1)) && !RecordedEvents.keeps(.taskSkipped(download, reason: "done")))
        #expect(RecordedEvents.keeps(.taskStarted(wait)) && RecordedEvents.keeps(.taskFinished(wait, bytes: 0)))
        #expect(RecordedEvents.keeps(.retried(download, attempt: 1, delaySeconds: 1, reason: "503")))
        #expect(RecordedEvents.keeps(.runStarted(tasks: 1, skipped: 0, bytes: 0)))
    }

    @Test func withoutARecordOfTheRunTheJournalsTimesAreUsed() {
        let m = ReportModel.build(ReportInput(records: Fixture.records), now: Fixture.t0 + 20)
        #expect(!m.fromEvents)
        #expect(m.counts.done == 1 && m.counts.failed == 1 && m.counts.retries == 1)
        #expect(m.bars.map(\.task) == ["scans/a"])
        #expect(m.failures.map(\.cause) == ["HTTP 404 from https://xnat.example/b"])
    }

    @Test func aLongRunShowsAtMostMaxBars() {
        var lines = ["{\"event\":\"run-started\",\"time\":0,\"tasks\":2500}"]
        for i in 0..<2500 {
            lines.append("{\"event\":\"started\",\"time\":\(Double(i) / 64),\"task\":\"t\(i)\",\"action\":\"a\",\"kind\":\"wait\"}")
            lines.append("{\"event\":\"finished\",\"time\":\(Double(i + 5) / 64),\"task\":\"t\(i)\",\"action\":\"a\",\"kind\":\"wait\",\"bytes\":10}")
        }
        let m = ReportModel.build(ReportInput(records: [], events: RecordedEvent.parse(ndjson: Data(lines.joined(separator: "\n").utf8))), now: 40)
        #expect(m.bars.count == ReportModel.maxBars && m.hiddenBars == 500)
        // Sampled over the whole run (39 s), not its first 31 s.
        #expect((m.bars.last?.start ?? 0) > 38)
        // The rows count every task: each lasts 5/64 s and one starts every 1/64 s, so five at once.
        #expect(m.groups.map(\.lanes) == [5])
        #expect(m.counts.done == 2500)
        let retried = ReportModel.Bar(task: "r", action: "a", kind: "download", start: 0, end: 1, state: .done, bytes: 0,
                                      retries: [.init(at: 0.5, delay: 0.1, attempt: 1, reason: "")], lane: 0)
        let failed = ReportModel.Bar(task: "f", action: "a", kind: "download", start: 0, end: 1, state: .failed, bytes: 0, retries: [], lane: 0)
        let plain = (0..<10).map { ReportModel.Bar(task: "p\($0)", action: "a", kind: "download", start: Double($0), end: Double($0) + 1,
                                                    state: .done, bytes: 0, retries: [], lane: 0) }
        let kept = ReportModel.sample(plain + [retried, failed], limit: 4).map(\.task)
        #expect(kept == ["p0", "p5", "r", "f"])
        #expect(m.throughput.first?.bytes == 25_000)
    }
}

@Suite struct ReportHTMLTests {
    @Test func thePageMatchesItsGolden() throws {
        let page = ReportHTML.render(ReportModel.build(Fixture.input, now: Fixture.t0 + 20))
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/report.html").path
        if ProcessInfo.processInfo.environment["FLOWCTL_UPDATE_GOLDEN"] == "1" {
            try page.write(toFile: path, atomically: false, encoding: .utf8)
        }
        #expect(page == (try String(contentsOfFile: path, encoding: .utf8)))
    }

    @Test func thePageFetchesNothing() {
        let page = ReportHTML.render(ReportModel.build(Fixture.input, now: Fixture.t0 + 20))
        for needle in ["src=", "href=\"http", "@import", "url(http", "<link", "fetch(", "XMLHttpRequest"] {
            #expect(!page.contains(needle), "\(needle)")
        }
        #expect(page.contains("id=\"count-done\">4<"))
    }

    @Test func durationsReadWellAtEveryScale() {
        #expect([0, 0.0035, 0.25, 2.5, 42, 3725].map(ReportHTML.seconds) == ["0 s", "3.5 ms", "250 ms", "2.50 s", "42.0 s", "62 min 05 s"])
    }

    @Test func textIsEscaped() {
        #expect(ReportHTML.esc("<a href=\"x\">&'") == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;")
    }
}
