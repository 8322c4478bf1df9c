import FlowConnector
import FlowExecutor
import Foundation

/// What the report page shows, as a plain value built from the journal and the last run's
/// record (`ReportModel.build`, no I/O): the run and its counts, per-source throughput over
/// time, a timeline of tasks packed into lanes per source, every failure with its cause, and
/// the plan's action graph laid out in columns.
public struct ReportModel: Sendable, Hashable {
    public struct Counts: Sendable, Hashable {
        public var planned = 0
        public var done = 0
        public var skipped = 0
        public var failed = 0
        public var retries = 0
        public var notStarted = 0
        /// Requests the sources' sessions retried within tasks (a poll answered 503).
        public var requestRetries = 0
        public var bytes: Int64 = 0
    }

    public struct Run: Sendable, Hashable {
        public var id: Int64?
        public var startedAt: Double
        public var finishedAt: Double?
        public var outcome: String
    }

    /// Bytes per second of one source in equal time buckets from the run's start.
    public struct Throughput: Sendable, Hashable {
        public var source: String
        public var bytes: Int64
        public var perSecond: [Double]
    }

    /// A wait between two attempts of a task.
    public struct Retry: Sendable, Hashable {
        public var at: Double
        public var delay: Double
        public var attempt: Int
        public var reason: String
    }

    /// One task on the timeline.
    public struct Bar: Sendable, Hashable {
        public enum State: String, Sendable, Hashable { case done, failed, unfinished }
        public var task: String
        public var action: String
        public var kind: String
        public var start: Double
        public var end: Double
        public var state: State
        public var bytes: Int64
        public var retries: [Retry]
        /// Row of the timeline: lanes of one group hold tasks that overlapped in time.
        public var lane: Int
    }

    /// A band of timeline rows: one source's transfers, or its remote jobs.
    public struct LaneGroup: Sendable, Hashable {
        public var name: String
        public var firstLane: Int
        public var lanes: Int
        public var tasks: Int
    }

    public struct Failure: Sendable, Hashable {
        public var task: String
        public var action: String
        public var kind: String
        public var category: String
        public var cause: String
        public var at: Double?
        public var attempts: Int
    }

    /// A node of the plan's graph at its place: column (depth) and row.
    public struct Node: Sendable, Hashable {
        public var action: PlanGraph.Action
        public var column: Int
        public var row: Int
    }

    public var job: String
    public var generatedAt: Double
    /// The run the timeline shows (the last one), nil when the journal recorded none.
    public var run: Run?
    /// Every run of the job the journal recorded, newest first.
    public var history: [Run]
    public var counts: Counts
    /// Tasks the journal holds as done and failed over all runs, and their bytes.
    public var journalDone: Int
    public var journalFailed: Int
    public var journalBytes: Int64
    public var bucketSeconds: Double
    public var throughput: [Throughput]
    public var bars: [Bar]
    public var groups: [LaneGroup]
    /// Tasks of the run left off the timeline (it shows at most `maxBars`).
    public var hiddenBars: Int
    public var failures: [Failure]
    public var nodes: [Node]
    public var edges: [PlanGraph.Edge]
    /// Where the timeline came from: the run's events, or only the journal's start and end times.
    public var fromEvents: Bool

    public static let maxBars = 2000
    static let buckets = 60

    /// The page of `input`, made at `now` (the time of an unfinished run's end).
    public static func build(_ input: ReportInput, now: Double) -> ReportModel {
        let graph = input.graph
        let sourceOfAction = Dictionary(graph?.actions.map { ($0.name, $0.source) } ?? [], uniquingKeysWith: { a, _ in a })
        let recordByID = Dictionary(input.records.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        func source(of task: String, action: String) -> String {
            sourceOfAction[action].flatMap { $0.isEmpty ? nil : $0 } ?? recordByID[task]?.source ?? action
        }

        var history = input.runs.reversed().map {
            Run(id: $0.id, startedAt: $0.startedAt, finishedAt: $0.finishedAt, outcome: $0.outcome ?? "unfinished")
        }
        var counts = Counts()
        var bars: [Bar] = []
        var failures: [Failure] = []
        let fromEvents = input.events.contains { $0.event == "run-started" }
        var run = history.first

        if fromEvents {
            // The last run in the events (a record holds one run; take the last start to be safe).
            let start = input.events.lastIndex { $0.event == "run-started" } ?? 0
            let events = input.events[start...]
            let first = events[start]
            let finish = events.last { $0.event == "run-finished" }
            var retries: [String: [Retry]] = [:]
            for e in events where e.event == "retried" || e.event == "request-retried" {
                guard let task = e.task else { continue }
                retries[task, default: []].append(Retry(at: e.time, delay: e.delaySeconds ?? 0, attempt: e.attempt ?? 0,
                                                        reason: Scrub.text(e.reason ?? "")))
            }
            // Remote jobs, conversions and failures are in the events; file transfers, which the
            // record leaves out, in the journal rows this run wrote.
            var open: [String: Bar] = [:]
            var order: [String] = []
            for e in events {
                guard let task = e.task else { continue }
                switch e.event {
                case "started":
                    if open[task] == nil { order.append(task) }
                    open[task] = Bar(task: task, action: e.action ?? "", kind: e.kind ?? "", start: e.time, end: e.time,
                                     state: .unfinished, bytes: 0, retries: retries[task] ?? [], lane: 0)
                case "finished":
                    open[task]?.end = e.time
                    open[task]?.state = .done
                    open[task]?.bytes = e.bytes ?? 0
                case "failed":
                    if open[task] == nil, e.planned != false {
                        // A transfer's start is in no event: from its first retry, else a mark at its end.
                        order.append(task)
                        open[task] = Bar(task: task, action: e.action ?? "", kind: e.kind ?? "", start: retries[task]?.first?.at ?? e.time,
                                         end: e.time, state: .failed, bytes: 0, retries: retries[task] ?? [], lane: 0)
                    }
                    open[task]?.end = e.time
                    open[task]?.state = .failed
                    failures.append(Failure(task: task, action: e.action ?? "", kind: e.kind ?? (e.planned == false ? "not planned" : ""),
                                            category: e.failure ?? "", cause: Scrub.text(e.error ?? ""), at: e.time,
                                            attempts: e.planned == false ? 0 : (retries[task]?.count ?? 0) + 1))
                default:
                    break
                }
            }
            for r in input.records where r.kind != "output-file" && open[r.id] == nil {
                guard let s = r.startedAt, let e = r.finishedAt, e >= first.time, r.state == .done else { continue }
                bars.append(Bar(task: r.id, action: r.action, kind: r.kind, start: s, end: e, state: .done,
                                bytes: r.bytesTransferred, retries: retries[r.id] ?? [], lane: 0))
            }
            // A run that was killed has no end: its unfinished tasks end where its record does
            // (the last thing it wrote), not when the report is made.
            let lastSeen = max(events.map(\.time).max() ?? first.time, bars.map(\.end).max() ?? first.time)
            for id in order {
                guard var bar = open[id] else { continue }
                if bar.state == .unfinished { bar.end = max(bar.start, finish?.time ?? lastSeen) }
                bars.append(bar)
            }
            bars.sort { ($0.start, $0.task) < ($1.start, $1.task) }
            counts.planned = first.tasks ?? 0
            counts.done = finish?.files ?? bars.filter { $0.state == .done }.count
            counts.failed = failures.count
            counts.skipped = finish?.skipped ?? 0
            counts.retries = finish?.retries ?? events.filter { $0.event == "retried" }.count
            counts.requestRetries = events.filter { $0.event == "request-retried" }.count
            counts.bytes = finish?.bytes ?? bars.reduce(Int64(0)) { $0 + $1.bytes }
            counts.notStarted = finish?.notStarted ?? 0
            let runEnd = finish?.time
            if run == nil || abs((run?.startedAt ?? 0) - first.time) > 60 {
                // The journal's run rows and the record disagree (an older journal): the record counts.
                run = Run(id: nil, startedAt: first.time, finishedAt: runEnd, outcome: runEnd == nil ? "unfinished" : "finished")
                if history.isEmpty { history = [run!] }
            }
        } else {
            // No record of the run: the journal's tasks with both times, failures with their errors.
            for r in input.records where r.kind != "output-file" {
                switch r.state {
                case .done: counts.done += 1; counts.bytes += r.bytesTransferred
                case .failed: counts.failed += 1
                case .running: break
                }
                counts.retries += max(0, r.attempts - 1)
                if let s = r.startedAt {
                    let state: Bar.State = r.state == .done ? .done : r.state == .failed ? .failed : .unfinished
                    bars.append(Bar(task: r.id, action: r.action, kind: r.kind, start: s, end: r.finishedAt ?? s, state: state,
                                    bytes: r.bytesTransferred, retries: [], lane: 0))
                }
                if r.state == .failed {
                    failures.append(Failure(task: r.id, action: r.action, kind: r.kind, category: "", cause: Scrub.text(r.error ?? ""),
                                            at: r.finishedAt, attempts: r.attempts))
                }
            }
            counts.planned = counts.done + counts.failed
            bars.sort { ($0.start, $0.task) < ($1.start, $1.task) }
        }
        failures.sort { ($0.at ?? 0, $0.task) < ($1.at ?? 0, $1.task) }

        // Time span and throughput (every task, even those the timeline leaves off).
        let t0 = run?.startedAt ?? bars.map(\.start).min() ?? now
        let t1 = max(run?.finishedAt ?? bars.map(\.end).max() ?? now, bars.map(\.end).max() ?? t0, t0 + 0.001)
        let bucketSeconds = (t1 - t0) / Double(buckets)
        var perSource: [String: [Double]] = [:]
        var bytesPerSource: [String: Int64] = [:]
        for bar in bars where bar.bytes > 0 {
            let name = source(of: bar.task, action: bar.action)
            var series = perSource[name] ?? Array(repeating: 0, count: buckets)
            bytesPerSource[name, default: 0] += bar.bytes
            // The bytes spread evenly over the task's time (events carry no finer progress).
            let (s, e) = (max(bar.start, t0), max(min(bar.end, t1), max(bar.start, t0)))
            let span = e - s
            if span <= 0 {
                series[min(buckets - 1, Int((s - t0) / bucketSeconds))] += Double(bar.bytes)
            } else {
                var b = min(buckets - 1, Int((s - t0) / bucketSeconds))
                while b < buckets {
                    let lo = t0 + Double(b) * bucketSeconds, hi = lo + bucketSeconds
                    let overlap = min(hi, e) - max(lo, s)
                    if overlap > 0 { series[b] += Double(bar.bytes) * overlap / span }
                    if hi >= e { break }
                    b += 1
                }
            }
            perSource[name] = series
        }
        let throughput = perSource.keys.sorted().map { name in
            Throughput(source: name, bytes: bytesPerSource[name] ?? 0, perSecond: perSource[name]!.map { $0 / bucketSeconds })
        }

        // The timeline: every bar packed into lanes per group (so a group's rows are its true
        // peak of tasks at once), then at most `maxBars` drawn.
        var shown = bars
        func group(of bar: Bar) -> String {
            let name = source(of: bar.task, action: bar.action)
            switch bar.kind {
            case "run", "wait": return name + " · remote jobs"
            case "convert": return "convert · " + bar.action
            default: return name
            }
        }
        var groupNames: [String] = []
        var members: [String: [Int]] = [:]
        for i in shown.indices {
            let name = group(of: shown[i])
            if members[name] == nil { groupNames.append(name) }
            members[name, default: []].append(i)
        }
        var groups: [LaneGroup] = []
        var nextLane = 0
        for name in groupNames {
            var laneEnds: [Double] = []
            for i in members[name]!.sorted(by: { shown[$0].start < shown[$1].start }) {
                if let free = laneEnds.firstIndex(where: { $0 <= shown[i].start }) {
                    laneEnds[free] = shown[i].end
                    shown[i].lane = nextLane + free
                } else {
                    laneEnds.append(shown[i].end)
                    shown[i].lane = nextLane + laneEnds.count - 1
                }
            }
            groups.append(LaneGroup(name: name, firstLane: nextLane, lanes: laneEnds.count, tasks: members[name]!.count))
            nextLane += laneEnds.count
        }
        shown = sample(shown, limit: maxBars)
        let hidden = bars.count - shown.count

        // The graph: an action's column is the longest chain of actions before it.
        var nodes: [Node] = []
        if let graph {
            var column: [String: Int] = [:]
            func depth(_ name: String, _ seen: Set<String>) -> Int {
                if let known = column[name] { return known }
                let ups = graph.edges.filter { $0.to == name && !seen.contains($0.from) }.map(\.from)
                let d = ups.map { depth($0, seen.union([name])) + 1 }.max() ?? 0
                column[name] = d
                return d
            }
            var rows: [Int: Int] = [:]
            for action in graph.actions {
                let c = depth(action.name, [])
                nodes.append(Node(action: action, column: c, row: rows[c, default: 0]))
                rows[c, default: 0] += 1
            }
        }

        let journalTasks = input.records.filter { $0.kind != "output-file" }
        return ReportModel(
            job: graph?.job ?? input.runs.last?.job ?? "",
            generatedAt: now, run: run, history: history, counts: counts,
            journalDone: journalTasks.filter { $0.state == .done }.count,
            journalFailed: journalTasks.filter { $0.state == .failed }.count,
            journalBytes: input.records.filter { $0.state == .done }.reduce(Int64(0)) { $0 + ($1.size ?? 0) },
            bucketSeconds: bucketSeconds, throughput: throughput, bars: shown, groups: groups, hiddenBars: hidden,
            failures: failures, nodes: nodes, edges: graph?.edges ?? [], fromEvents: fromEvents)
    }
}

extension ReportModel {
    /// At most `limit` bars, in their order: every failed, unfinished or retried one, and the
    /// others evenly spread over the rest, so the timeline still covers the whole run.
    static func sample(_ bars: [Bar], limit: Int) -> [Bar] {
        guard bars.count > limit else { return bars }
        let notable = bars.indices.filter { bars[$0].state != .done || !bars[$0].retries.isEmpty }
        var keep = Set(notable.prefix(limit))
        let others = bars.indices.filter { !keep.contains($0) && bars[$0].state == .done && bars[$0].retries.isEmpty }
        let room = limit - keep.count
        if room > 0 { for j in 0..<room { keep.insert(others[j * others.count / room]) } }
        return bars.indices.filter { keep.contains($0) }.map { bars[$0] }
    }
}

/// Keeps credentials out of the page: any URL in a message loses its `user:password@` and its
/// query (the journal's and events' messages are redacted already; this holds for older ones).
enum Scrub {
    static func text(_ message: String) -> String {
        guard message.contains("://") else { return message }
        var out = ""
        var word = ""
        func flush() {
            out += word.contains("://") ? URLText.redacted(word) : word
            word = ""
        }
        for ch in message {
            if ch == " " || ch == "\n" || ch == "\t" || ch == "\"" || ch == "'" || ch == "<" || ch == ">" || ch == "`" {
                flush()
                out.append(ch)
            } else {
                word.append(ch)
            }
        }
        flush()
        return out
    }
}
