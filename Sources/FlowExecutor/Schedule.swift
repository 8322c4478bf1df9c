import DequeModule
import FlowModel

/// Which tasks of a graph may start, as a plain value with no I/O: a task is ready once every
/// task it depends on has succeeded, and a failure abandons everything downstream of it.
///
/// Tasks are known by their position in the graph (no string hashing per step). Waits on remote
/// jobs have a lane of their own, since they hold no worker.
struct Schedule {
    /// Where a ready task queues: transfers take one of the `jobs` workers, waits do not.
    enum Lane { case transfers, waits }

    /// Each task's dependencies, in `dependsOn` order.
    let dependencies: [[Int]]
    private var dependents: [[Int]]
    private let lanes: [Lane]
    /// Dependencies not yet finished; nil once the task was handed out or abandoned.
    private var unmet: [Int?]
    private var ready: (transfers: Deque<Int>, waits: Deque<Int>) = ([], [])
    /// Tasks handed out and not yet finished.
    private(set) var running = 0
    /// Tasks that will never start because something upstream failed.
    private(set) var abandoned = 0
    /// Set once nothing new may start (a failure without keep-going, or a stop).
    private(set) var isStopped = false

    init(_ graph: TaskGraph) {
        let tasks = graph.tasks
        dependencies = tasks.map { $0.dependsOn.compactMap(graph.position(of:)) }
        dependents = Array(repeating: [], count: tasks.count)
        for i in tasks.indices { for d in dependencies[i] { dependents[d].append(i) } }
        lanes = tasks.map { $0.kind == .wait ? .waits : .transfers }
        unmet = dependencies.map(\.count)
        for i in tasks.indices where unmet[i] == 0 { enqueue(i) }
    }

    /// Hands out the next ready task of `lane` (nil when none is ready or the schedule stopped).
    mutating func take(_ lane: Lane) -> Int? {
        guard !isStopped else { return nil }
        let next = lane == .transfers ? ready.transfers.popFirst() : ready.waits.popFirst()
        guard let i = next else { return nil }
        unmet[i] = nil
        running += 1
        return i
    }

    func hasReady(_ lane: Lane) -> Bool {
        !isStopped && !(lane == .transfers ? ready.transfers.isEmpty : ready.waits.isEmpty)
    }

    /// A handed-out task succeeded: its dependents whose last dependency it was become ready.
    mutating func succeeded(_ i: Int) {
        running -= 1
        for next in dependents[i] {
            guard let n = unmet[next] else { continue }
            unmet[next] = n - 1
            if n == 1 { enqueue(next) }
        }
    }

    /// A handed-out task failed or was cancelled: everything downstream of it never starts.
    mutating func failed(_ i: Int) {
        running -= 1
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
        running == 0 && (isStopped || (ready.transfers.isEmpty && ready.waits.isEmpty))
    }

    /// Tasks neither handed out nor abandoned: ready ones left when the run stopped, and those
    /// still waiting on a dependency.
    var neverStarted: Int { unmet.lazy.filter { $0 != nil }.count }

    private mutating func enqueue(_ i: Int) {
        if lanes[i] == .waits { ready.waits.append(i) } else { ready.transfers.append(i) }
    }
}
