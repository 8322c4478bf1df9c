import DequeModule
import FlowModel

/// Which tasks of a graph may start, as a plain value with no I/O: a task is ready once every
/// task it depends on has succeeded, and a failure abandons everything downstream of it.
///
/// Tasks are known by their position in the graph (no string hashing per step). Waits on remote
/// jobs have a lane of their own, since they hold no worker. A transfer is handed out only while
/// its source has fewer than its `concurrency` tasks running: a worker never sits waiting on a
/// busy source while another source has work (a narrow XNAT beside a wide Grand Challenge).
struct Schedule {
    /// Where a ready task queues: transfers take one of the `jobs` workers, waits do not.
    enum Lane { case transfers, waits }

    /// The transfers of one source: how many may run at once, how many do, and those ready, in
    /// the order they became ready.
    private struct Source {
        let limit: Int
        var running = 0
        var ready: Deque<(task: Int, turn: Int)> = []
    }

    /// Each task's dependencies, in `dependsOn` order.
    let dependencies: [[Int]]
    private var dependents: [[Int]]
    private let lanes: [Lane]
    /// The position in `sources` of each task's source (waits count against none).
    private let sourceOf: [Int]
    private var sources: [Source]
    private var readyWaits: Deque<Int> = []
    /// Counts tasks as they become ready: among the sources with room, the task that became ready
    /// first goes first, so a job whose sources have room runs in plain first-come order.
    private var turns = 0
    /// Dependencies not yet finished; nil once the task was handed out or abandoned.
    private var unmet: [Int?]
    /// Tasks handed out and not yet finished.
    private(set) var running = 0
    /// Tasks that will never start because something upstream failed.
    private(set) var abandoned = 0
    /// Set once nothing new may start (a failure without keep-going, or a stop).
    private(set) var isStopped = false

    /// `limits`: how many transfers of each source (by name) may run at once; no entry, no limit.
    init(_ graph: TaskGraph, limits: [String: Int] = [:]) {
        let tasks = graph.tasks
        dependencies = tasks.map { $0.dependsOn.compactMap(graph.position(of:)) }
        dependents = Array(repeating: [], count: tasks.count)
        for i in tasks.indices { for d in dependencies[i] { dependents[d].append(i) } }
        lanes = tasks.map { $0.kind == .wait ? .waits : .transfers }
        // Tasks read in place, and a run of tasks of one source costs a string comparison each.
        var sources: [Source] = []
        var positions: [String: Int] = [:]
        var sourceOf = [Int](repeating: 0, count: tasks.count)
        var previous: (name: String, position: Int)?
        for i in tasks.indices {
            let name = tasks[i].sourceName
            if let previous, previous.name == name {
                sourceOf[i] = previous.position
                continue
            }
            let position = positions[name] ?? sources.count
            if position == sources.count {
                positions[name] = position
                sources.append(Source(limit: max(1, limits[name] ?? .max)))
            }
            sourceOf[i] = position
            previous = (name, position)
        }
        self.sourceOf = sourceOf
        self.sources = sources
        unmet = dependencies.map(\.count)
        for i in tasks.indices where unmet[i] == 0 { enqueue(i) }
    }

    /// Hands out the next ready task of `lane` (nil when none is ready, none of the ready ones'
    /// sources has room, or the schedule stopped).
    mutating func take(_ lane: Lane) -> Int? {
        guard !isStopped else { return nil }
        let i: Int
        switch lane {
        case .waits:
            guard let next = readyWaits.popFirst() else { return nil }
            i = next
        case .transfers:
            guard let s = nextSource() else { return nil }
            i = sources[s].ready.removeFirst().task
            sources[s].running += 1
        }
        unmet[i] = nil
        running += 1
        return i
    }

    func hasReady(_ lane: Lane) -> Bool {
        !isStopped && (lane == .transfers ? nextSource() != nil : !readyWaits.isEmpty)
    }

    /// A handed-out task succeeded: its dependents whose last dependency it was become ready.
    mutating func succeeded(_ i: Int) {
        release(i)
        for next in dependents[i] {
            guard let n = unmet[next] else { continue }
            unmet[next] = n - 1
            if n == 1 { enqueue(next) }
        }
    }

    /// A handed-out task failed or was cancelled: everything downstream of it never starts.
    mutating func failed(_ i: Int) {
        release(i)
        var stack = dependents[i]
        while let next = stack.popLast() {
            guard unmet[next] != nil else { continue }
            unmet[next] = nil
            abandoned += 1
            stack += dependents[next]
        }
    }

    /// Starts nothing more; tasks already handed out still finish.
    mutating func stop() { isStopped = true }

    /// Nothing runs and nothing more can start.
    var isOver: Bool {
        running == 0 && (isStopped || (readyWaits.isEmpty && sources.allSatisfy { $0.ready.isEmpty }))
    }

    /// Tasks neither handed out nor abandoned: ready ones left when the run stopped, and those
    /// still waiting on a dependency.
    var neverStarted: Int { unmet.lazy.filter { $0 != nil }.count }

    /// The source with room whose ready task came first (a job has a handful of sources).
    private func nextSource() -> Int? {
        var best: Int?
        for s in sources.indices where sources[s].running < sources[s].limit {
            guard let head = sources[s].ready.first else { continue }
            if let b = best, sources[b].ready.first!.turn < head.turn { continue }
            best = s
        }
        return best
    }

    /// A handed-out task ended: it no longer runs, nor counts against its source.
    private mutating func release(_ i: Int) {
        running -= 1
        if lanes[i] == .transfers { sources[sourceOf[i]].running -= 1 }
    }

    private mutating func enqueue(_ i: Int) {
        if lanes[i] == .waits {
            readyWaits.append(i)
        } else {
            sources[sourceOf[i]].ready.append((i, turns))
            turns += 1
        }
    }
}

extension PlannedTask {
    /// The source whose connector performs the task: an upload's destination, else the item's own.
    var sourceName: String {
        switch kind {
        case .upload: return parameters["to"] ?? ""
        // Conversions use this machine, not a server: a lane of their own, limited apart.
        case .convert: return parameters["lane"] ?? ""
        default: return item?.source ?? ""
        }
    }
}
