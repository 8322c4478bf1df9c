/// The kind of one unit of work in a plan.
public enum TaskKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// Fetch one remote file to a local path.
    case download
    /// Fetch an extra document of an item (LORIS QC, visit metadata).
    case downloadExtra = "download-extra"
    /// Send one local file to a platform.
    case upload
    /// Set tags on one remote object.
    case tag
    /// Start a remote algorithm job or task for one item.
    case run
    /// Poll a started job until it ends; holds no transfer worker.
    case wait
    /// Fetch the output files of a finished job (known only once it ends).
    case downloadOutputs = "download-outputs"
    /// Convert the files some downloads fetched (a scan's DICOM series) with a local tool.
    case convert
    /// Does nothing: waits for every task of the actions an action comes `after:`, so that each of
    /// its n tasks depends on the barrier alone (n + m edges, not n × m).
    case barrier
    /// Fetch one archive (a scan's, a resource's or a session's files) and extract the members
    /// its download tasks wait for; each of them then journals its own file.
    case downloadArchive = "download-archive"
}

/// One node of the task graph: what to do with one item, and what must come first.
public struct PlannedTask: Sendable, Hashable, Identifiable {
    /// Stable across runs: `<action>/<item id>[#kind]`, so the journal can recognise it.
    public var id: String
    public var action: String
    public var kind: TaskKind
    /// The remote item it concerns (downloads, tags, runs).
    public var item: RemoteItem?
    /// Upload: the local file. Download: the destination path relative to `root`.
    public var path: String?
    /// Download: the output root the path is relative to.
    public var root: String?
    /// Ids of tasks that must finish first.
    public var dependsOn: [String]
    /// Why it will not run, when it is already done.
    public var skipReason: String?
    /// Bytes it moves, when known.
    public var bytes: Int64?
    /// Action-specific parameters (`extra: qc`, `socket: ...`), recorded in plans.
    public var parameters: [String: String]

    public init(id: String, action: String, kind: TaskKind, item: RemoteItem? = nil, path: String? = nil,
                root: String? = nil, dependsOn: [String] = [], skipReason: String? = nil,
                bytes: Int64? = nil, parameters: [String: String] = [:]) {
        self.id = id
        self.action = action
        self.kind = kind
        self.item = item
        self.path = path
        self.root = root
        self.dependsOn = dependsOn
        self.skipReason = skipReason
        self.bytes = bytes
        self.parameters = parameters
    }

    public var isSkipped: Bool { skipReason != nil }

    /// Absolute (or root-relative) destination of a download.
    public var destination: String? {
        guard let path else { return nil }
        guard let root, !root.isEmpty else { return path }
        return root.hasSuffix("/") ? root + path : root + "/" + path
    }
}

/// The tasks of a plan and their dependencies: a directed acyclic graph.
public struct TaskGraph: Sendable {
    public private(set) var tasks: [PlannedTask]
    private var index: [String: Int]

    public init(_ tasks: [PlannedTask] = []) {
        self.tasks = []
        self.index = [:]
        for task in tasks { add(task) }
    }

    /// Adds a task; a task with an id already present replaces nothing and is ignored.
    public mutating func add(_ task: PlannedTask) {
        // One hash lookup in the common case (a new id); a repeated id gets its first position back.
        if let first = index.updateValue(tasks.count, forKey: task.id) {
            index[task.id] = first
            return
        }
        tasks.append(task)
    }

    /// Adds tasks in order, as `add` does one by one.
    public mutating func add(contentsOf newTasks: [PlannedTask]) {
        index.reserveCapacity(index.count + newTasks.count)
        // An empty graph takes the array itself when its ids are distinct: no copy of each task.
        if tasks.isEmpty {
            var distinct = true
            for i in newTasks.indices where index.updateValue(i, forKey: newTasks[i].id) != nil {
                distinct = false
                break
            }
            if distinct {
                tasks = newTasks
                return
            }
            index.removeAll(keepingCapacity: true)
        }
        tasks.reserveCapacity(tasks.count + newTasks.count)
        for task in newTasks { add(task) }
    }

    public subscript(id: String) -> PlannedTask? {
        index[id].map { tasks[$0] }
    }

    /// Where the task with this id is in `tasks`.
    public func position(of id: String) -> Int? {
        index[id]
    }

    public var count: Int { tasks.count }

    /// Tasks in an order where each comes after everything it depends on.
    /// Dependencies on ids not in the graph are ignored. Throws the cycle when there is one.
    public func topologicalOrder() throws(CycleError) -> [PlannedTask] {
        var indegree = [Int](repeating: 0, count: tasks.count)
        var dependents = [[Int]](repeating: [], count: tasks.count)
        for (i, task) in tasks.enumerated() {
            for dep in task.dependsOn {
                guard let d = index[dep] else { continue }
                indegree[i] += 1
                dependents[d].append(i)
            }
        }
        var ready = indegree.indices.filter { indegree[$0] == 0 }
        var order: [PlannedTask] = []
        order.reserveCapacity(tasks.count)
        var head = 0
        while head < ready.count {
            let i = ready[head]; head += 1
            order.append(tasks[i])
            for j in dependents[i] {
                indegree[j] -= 1
                if indegree[j] == 0 { ready.append(j) }
            }
        }
        if order.count < tasks.count {
            let stuck = tasks.indices.filter { indegree[$0] > 0 }.map { tasks[$0].id }
            throw CycleError(members: stuck)
        }
        return order
    }

    /// A dependency cycle among the named members.
    public struct CycleError: Error, Sendable, Hashable {
        public var members: [String]
    }
}

/// Finds a cycle in a dependency map (name -> names it depends on), returned as a closed path
/// `[a, b, c, a]`, or nil when there is none. Used for actions, whose cycles users must see named.
public func findCycle(in dependencies: [String: [String]]) -> [String]? {
    enum Mark { case visiting, done }
    var marks: [String: Mark] = [:]
    var stack: [String] = []

    func visit(_ node: String) -> [String]? {
        if marks[node] == .done { return nil }
        if marks[node] == .visiting {
            let start = stack.firstIndex(of: node)!
            return Array(stack[start...]) + [node]
        }
        marks[node] = .visiting
        stack.append(node)
        for next in dependencies[node, default: []].sorted() where dependencies[next] != nil {
            if let cycle = visit(next) { return cycle }
        }
        stack.removeLast()
        marks[node] = .done
        return nil
    }

    for node in dependencies.keys.sorted() {
        if let cycle = visit(node) { return cycle }
    }
    return nil
}
