import Foundation
import Testing
import FlowModel
@testable import FlowExecutor

@Suite struct JSONEventWriterTests {
    /// The lines a writer produced for `events`, each parsed.
    func lines(for events: [ExecutionEvent]) throws -> (text: [String], objects: [[String: Any]]) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("flowctl-events-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        let writer = JSONEventWriter(handle: handle)
        for event in events { writer.emit(event) }
        try handle.close()
        let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
        let lines = text.split(separator: "\n").map(String.init)
        let objects = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        return (lines, objects)
    }

    let task = PlannedTask(id: "pull/a \"b\"", action: "pull", kind: .download,
                           item: RemoteItem(source: "web", id: "a", url: "http://x/a", size: 10), path: "out/a \"b\"")

    @Test func everyEventIsOneSortedLineAndTheLastIsWrittenAtOnce() throws {
        var report = RunReport()
        report.finished = 1
        report.bytes = 10
        report.failures = [TaskFailure(task: "pull/c", kind: .status, message: "gone")]
        let (text, objects) = try lines(for: [
            .runStarted(tasks: 2, skipped: 0, bytes: 10), .taskStarted(task), .progress(taskID: task.id, bytes: 4),
            .progress(taskID: task.id, bytes: 8), .retried(task, attempt: 1, delaySeconds: 0.5, reason: "HTTP 503"),
            .taskFinished(task, bytes: 10), .taskFailed(task, TaskFailure(task: task.id, kind: .transport, message: "line\nbreak")),
            .runFinished(report),
        ])
        // The second progress line came within 0.25 s of the first: dropped.
        #expect(objects.map { $0["event"] as? String } == ["run-started", "started", "progress", "retried", "finished",
                                                           "failed", "run-finished"])
        for object in objects { #expect(object["format_version"] as? Int == JSONEventWriter.formatVersion) }
        #expect(objects[1]["task"] as? String == task.id)
        #expect(objects[1]["path"] as? String == "out/a \"b\"")
        #expect(objects[1]["size"] as? Int == 10)
        #expect(objects[3]["delay_seconds"] as? Double == 0.5)
        #expect(objects[5]["error"] as? String == "line\\u{a}break")  // messages carry no raw control character
        #expect(objects[5]["failure"] as? String == "transport")
        #expect(objects[6]["failed"] as? Int == 1)
        #expect(objects[6]["interrupted"] as? Bool == false)
        // Keys in byte order, as `.sortedKeys` wrote them before.
        for line in text {
            let keys = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]).keys
            let positions = keys.map { line.range(of: "\"\($0)\":")!.lowerBound }
            #expect(zip(keys, positions).sorted { $0.1 < $1.1 }.map(\.0) == keys.sorted())
        }
    }

    /// Lines before the last arrive within the flush delay, without waiting for the run to end.
    @Test func linesArriveWhileTheRunGoesOn() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("flowctl-events-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        defer { try? handle.close() }
        let writer = JSONEventWriter(handle: handle)
        writer.emit(.taskStarted(task))
        let deadline = Date().addingTimeInterval(5)
        var text = ""
        while Date() < deadline {
            text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
            if !text.isEmpty { break }
            usleep(10_000)
        }
        #expect(text.hasSuffix("\n") && text.contains("\"event\":\"started\""))
    }
}

/// Progress in a pipe (a log, Slurm's output file): plain lines every `interval`, none at once.
@Suite struct ProgressDisplayTests {
    final class Lines: @unchecked Sendable {
        let lock = NSLock()
        var text: [String] = []
        func add(_ s: String) { lock.withLock { text.append(s) } }
    }

    /// A re-run with nothing to do printed "0/0 tasks  0 B  0 B/s", and every run began with a
    /// "0/N tasks" line before anything had moved.
    @Test func aPipeGetsNoLineBeforeTheFirstInterval() throws {
        let lines = Lines()
        let display = ProgressDisplay(live: false, interval: 60, write: { lines.add($0) })
        let task = PlannedTask(id: "pull/a", action: "pull", kind: .download,
                               item: RemoteItem(source: "s", id: "a", url: "u", size: 10), path: "a")
        display.emit(.runStarted(tasks: 1, skipped: 0, bytes: 10))
        display.emit(.taskStarted(task))
        display.emit(.taskFinished(task, bytes: 10))
        display.emit(.runFinished(RunReport()))
        #expect(lines.text.isEmpty, "\(lines.text)")

        // A failure is said at once, whatever the interval; the status lines come every interval.
        let often = Lines()
        let busy = ProgressDisplay(live: false, interval: 0, write: { often.add($0) })
        busy.emit(.runStarted(tasks: 2, skipped: 0, bytes: 10))
        busy.emit(.taskFailed(task, TaskFailure(task: task.id, kind: .status, message: "HTTP 404")))
        #expect(often.text.contains("failed pull/a: HTTP 404\n"), "\(often.text)")
        #expect(often.text.contains { $0.hasPrefix("1/2 tasks") }, "\(often.text)")
        #expect(!often.text.contains { $0.contains("\u{1B}[") }, "no terminal codes in a pipe: \(often.text)")
    }
}
