import Foundation
import FlowExecutor

/// One line of a run's events (`events.ndjson`, the `--events json` format), the fields the
/// report reads.
public struct RecordedEvent: Decodable, Sendable, Hashable {
    public var event: String
    public var time: Double
    public var task: String?
    public var action: String?
    public var kind: String?
    public var bytes: Int64?
    public var size: Int64?
    public var attempt: Int?
    public var delaySeconds: Double?
    public var reason: String?
    public var error: String?
    public var failure: String?
    public var planned: Bool?
    // run-started / run-finished
    public var tasks: Int?
    public var skipped: Int?
    public var files: Int?
    public var retries: Int?
    public var failed: Int?
    public var seconds: Double?
    public var interrupted: Bool?
    public var notStarted: Int?

    public init(event: String, time: Double, task: String? = nil, action: String? = nil, kind: String? = nil,
                bytes: Int64? = nil, attempt: Int? = nil, delaySeconds: Double? = nil, reason: String? = nil,
                error: String? = nil, failure: String? = nil) {
        (self.event, self.time, self.task, self.action, self.kind, self.bytes) = (event, time, task, action, kind, bytes)
        (self.attempt, self.delaySeconds, self.reason, self.error, self.failure) = (attempt, delaySeconds, reason, error, failure)
    }

    enum CodingKeys: String, CodingKey {
        case event, time, task, action, kind, bytes, size, attempt, reason, error, failure, planned, tasks, skipped, files
        case retries, failed, seconds, interrupted
        case delaySeconds = "delay_seconds", notStarted = "not_started"
    }

    /// The events of NDJSON text; a line that does not parse (a run killed mid-line) is left out.
    public static func parse(ndjson: Data) -> [RecordedEvent] {
        let decoder = JSONDecoder()
        return ndjson.split(separator: UInt8(ascii: "\n")).compactMap { try? decoder.decode(RecordedEvent.self, from: Data($0)) }
    }
}

/// What a report is made of: the journal (every task of every run, and the runs), and the last
/// run's record (its action graph and events) when it left one.
public struct ReportInput: Sendable {
    public var records: [TaskRecord]
    public var runs: [Journal.RunRow]
    public var events: [RecordedEvent]
    public var graph: PlanGraph?

    public init(records: [TaskRecord], runs: [Journal.RunRow] = [], events: [RecordedEvent] = [], graph: PlanGraph? = nil) {
        (self.records, self.runs, self.events, self.graph) = (records, runs, events, graph)
    }

    /// Reads what the run(s) left under an output root (or its `.flowctl` folder).
    public static func load(root: String) throws -> ReportInput {
        var root = root
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        if (root as NSString).lastPathComponent == ".flowctl" { root = (root as NSString).deletingLastPathComponent }
        let journalPath = Journal.path(forRoot: root)
        guard FileManager.default.fileExists(atPath: journalPath) else { throw ReportError.noJournal(journalPath) }
        let journal: Journal
        do { journal = try Journal(path: journalPath, create: false) } catch { journal = try Journal(path: journalPath, create: true) }
        let records = try journal.records()
        let runs = try journal.runs()
        let directory = RunRecord.directory(forJournal: journalPath)
        let events = FileManager.default.contents(atPath: directory + "/events.ndjson").map(RecordedEvent.parse(ndjson:)) ?? []
        let graph = FileManager.default.contents(atPath: directory + "/plan.json").flatMap { try? JSONDecoder().decode(PlanGraph.self, from: $0) }
        return ReportInput(records: Array(records.values), runs: runs, events: events, graph: graph)
    }
}

public enum ReportError: Error, CustomStringConvertible {
    case noJournal(String)

    public var description: String {
        switch self {
        case .noJournal(let path): "no journal at \(path): give the output folder of a job that has run"
        }
    }
}

/// Writes the report of the run(s) under an output root.
public enum ReportFile {
    /// The page's default place: beside the journal, so `verify` does not count it as a stray file.
    public static func defaultPath(forRoot root: String) -> String {
        (root.hasSuffix("/") ? root : root + "/") + ".flowctl/report.html"
    }

    /// Reads the journal and record under `root`, writes the page to `path` (through a rename);
    /// returns what the page shows.
    @discardableResult
    public static func write(root: String, to path: String, now: Double = Date().timeIntervalSince1970) throws -> ReportModel {
        let model = ReportModel.build(try ReportInput.load(root: root), now: now)
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        try Data(ReportHTML.render(model).utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        return model
    }
}
