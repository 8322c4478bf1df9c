import Foundation
import FlowExecutor
import FlowModel
import FlowPlanner

/// The plan of a run at the level of its actions: what the report draws as the plan's graph
/// (one node per action with its task counts, one edge per action another depends on). Small
/// whatever the plan's size, so every run can keep it.
public struct PlanGraph: Codable, Sendable, Hashable {
    public struct Action: Codable, Sendable, Hashable {
        public var name: String
        public var kind: String
        public var source: String
        public var tasks: Int
        public var todo: Int
        public var skipped: Int
        public var bytesTodo: Int64

        public init(name: String, kind: String, source: String, tasks: Int, todo: Int, skipped: Int, bytesTodo: Int64) {
            (self.name, self.kind, self.source, self.tasks, self.todo, self.skipped, self.bytesTodo)
                = (name, kind, source, tasks, todo, skipped, bytesTodo)
        }
    }

    /// `to` has `tasks` tasks that wait for tasks of `from`.
    public struct Edge: Codable, Sendable, Hashable {
        public var from: String
        public var to: String
        public var tasks: Int

        public init(from: String, to: String, tasks: Int) { (self.from, self.to, self.tasks) = (from, to, tasks) }
    }

    public var formatVersion = 1
    public var job: String
    public var actions: [Action]
    public var edges: [Edge]

    public init(job: String, actions: [Action], edges: [Edge]) {
        (self.job, self.actions, self.edges) = (job, actions, edges)
    }

    /// The action-level graph of a plan.
    public init(_ plan: Plan) {
        let summaries = PlanRenderer.summaries(plan)
        actions = summaries.map {
            Action(name: $0.name, kind: $0.kind, source: $0.source, tasks: $0.tasks, todo: $0.todo, skipped: $0.skipped,
                   bytesTodo: $0.bytesTodo)
        }
        job = plan.job.name
        var counts: [Edge: Int] = [:]
        let tasks = plan.graph.tasks
        for t in tasks.indices {
            // One count per task and upstream action, however many of its tasks it waits for.
            var upstream: Set<String> = []
            for dependency in tasks[t].dependsOn {
                if let from = plan.graph[dependency]?.action, from != tasks[t].action { upstream.insert(from) }
            }
            for from in upstream { counts[Edge(from: from, to: tasks[t].action, tasks: 0), default: 0] += 1 }
        }
        edges = counts.map { Edge(from: $0.key.from, to: $0.key.to, tasks: $0.value) }
            .sorted { ($0.from, $0.to) < ($1.from, $1.to) }
    }

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", job, actions, edges
    }
}

/// Where a run leaves what its report reads, beside its journal: `.flowctl/journal.report/`
/// for `.flowctl/journal.sqlite` (named after the journal, so runs that keep journals of their
/// own keep records of their own) holds the last run's action graph (`plan.json`) and the
/// events its report needs (`events.ndjson`, lines of the `--events json` format).
public enum RunRecord {
    public static func directory(forJournal journal: String) -> String {
        (journal.hasSuffix(".sqlite") ? String(journal.dropLast(".sqlite".count)) : journal) + ".report"
    }

    /// Starts the record of a run: writes the plan's graph and returns the sink its events go to.
    /// Replaces the previous run's record; the journal keeps every run's tasks.
    public static func begin(journal: String, plan: Plan) throws -> any EventSink {
        let directory = directory(forJournal: journal)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(PlanGraph(plan)).write(to: URL(fileURLWithPath: directory + "/plan.json"))
        let path = directory + "/events.ndjson"
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        return RecordedEvents(writer: JSONEventWriter(handle: handle))
    }
}

/// The events of a run its report needs and the journal lacks: the run's start and end, remote
/// jobs, conversions and tags, retries (of tasks, and of requests within them), failures. File transfers' starts and ends are in the
/// journal already, so their lines (and progress, skipped and renamed lines) are left out: a
/// 10,000-file run records a few lines, not 30,000.
struct RecordedEvents: EventSink {
    let writer: JSONEventWriter

    func emit(_ event: ExecutionEvent) {
        guard Self.keeps(event) else { return }
        writer.emit(event)
    }

    func requestRetried(_ task: PlannedTask, delaySeconds: Double, reason: String) {
        writer.requestRetried(task, delaySeconds: delaySeconds, reason: reason)
    }

    static func keeps(_ event: ExecutionEvent) -> Bool {
        switch event {
        case .progress, .taskSkipped, .renamed: false
        case .taskStarted(let task), .taskFinished(let task, _): !task.kind.isFileTransfer
        case .runStarted, .runFinished, .retried, .taskFailed, .notPlanned: true
        }
    }
}

extension TaskKind {
    /// One file moved, whose times the journal records.
    var isFileTransfer: Bool { self == .download || self == .downloadExtra || self == .upload }
}
