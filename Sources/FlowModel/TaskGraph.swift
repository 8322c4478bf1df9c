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
    /// Most tasks' id is `<action>/<item id>` (see `init(action:kind:item:...)`): it is then made
    /// when asked, not stored, so a plan of a million tasks keeps no id string per task.
    public var id: String {
        get { explicitID ?? action + "/" + item!.id }
        set { explicitID = newValue }
    }
    // The derived id must not change under it: changing the action or the item keeps it.
    public var action: String { willSet { pinID() } }
    /// The remote item it concerns (downloads, tags, runs).
    public var item: RemoteItem? { willSet { pinID() } }
    /// Upload: the local file. Download: the destination path relative to `root`.
    public var path: String?
    /// Download: the output root the path is relative to.
    public var root: String?
    /// Why it will not run, when it is already done.
    public var skipReason: String?
    /// Ids of tasks that must finish first.
    public var dependsOn: [String]
    /// Action-specific parameters (`extra: qc`, `socket: ...`), recorded in plans.
    public var parameters: [String: String]
    /// The id when it is not `<action>/<item id>`; nil when it is (then `item` is never nil).
    private var explicitID: String?
    /// Bytes it moves, when known.
    public var bytes: Int64?
    // Last, beside the optional's flag: a task is 120 bytes, not 128.
    public var kind: TaskKind

    public init(id: String, action: String, kind: TaskKind, item: RemoteItem? = nil, path: String? = nil,
                root: String? = nil, dependsOn: [String] = [], skipReason: String? = nil,
                bytes: Int64? = nil, parameters: [String: String] = [:]) {
        self.init(explicitID: id, action: action, kind: kind, item: item, path: path, root: root, dependsOn: dependsOn,
                  skipReason: skipReason, bytes: bytes, parameters: parameters)
    }

    /// A task whose id is `<action>/<item id>`, derived from them instead of stored.
    public init(action: String, kind: TaskKind, item: RemoteItem, path: String? = nil, root: String? = nil,
                dependsOn: [String] = [], skipReason: String? = nil, bytes: Int64? = nil,
                parameters: [String: String] = [:]) {
        self.init(explicitID: nil, action: action, kind: kind, item: item, path: path, root: root, dependsOn: dependsOn,
                  skipReason: skipReason, bytes: bytes, parameters: parameters)
    }

    private init(explicitID: String?, action: String, kind: TaskKind, item: RemoteItem?, path: String?, root: String?,
                 dependsOn: [String], skipReason: String?, bytes: Int64?, parameters: [String: String]) {
        self.explicitID = explicitID
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

    /// Stores the derived id before what it is derived from changes.
    private mutating func pinID() {
        if explicitID == nil, let item { explicitID = action + "/" + item.id }
    }

    /// Feeds the id's UTF-8 bytes to `hasher` without making the id (`TaskGraph`'s index).
    func hashID(into hasher: inout Hasher) {
        if let explicitID {
            explicitID.withContiguousUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        } else {
            action.withContiguousUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
            withUnsafeBytes(of: UInt8(ascii: "/")) { hasher.combine(bytes: $0) }
            item!.hashID(into: &hasher)
        }
    }

    /// Whether the id is `other`, byte for byte, without making the id.
    func hasID(_ other: String) -> Bool {
        if let explicitID { return PlannedTask.bytesEqual(explicitID, other) }
        return other.withContiguousUTF8 { o in
            action.withContiguousUTF8 { a in
                o.count > a.count && o[a.count] == UInt8(ascii: "/") && o[..<a.count].elementsEqual(a)
                    && item!.idIs(o[(a.count + 1)...])
            }
        }
    }

    /// Whether both tasks have one id, byte for byte.
    func hasSameID(as other: PlannedTask) -> Bool {
        if let explicitID { return other.hasID(explicitID) }
        if let otherID = other.explicitID { return hasID(otherID) }
        // Both derived: equal pieces are equal ids; pieces cut elsewhere are compared whole.
        if action.utf8.count == other.action.utf8.count {
            return PlannedTask.bytesEqual(action, other.action) && item!.hasSameID(as: other.item!)
        }
        return other.hasID(id)
    }

    private static func bytesEqual(_ a: String, _ b: String) -> Bool {
        a.utf8.count == b.utf8.count && a.withContiguousUTF8 { x in b.withContiguousUTF8 { y in x.elementsEqual(y) } }
    }

    // Equal and hashed by what they hold, whether their id is stored or derived.
    public static func == (a: PlannedTask, b: PlannedTask) -> Bool {
        a.hasSameID(as: b) && a.action == b.action && a.kind == b.kind && a.item == b.item && a.path == b.path
            && a.root == b.root && a.skipReason == b.skipReason && a.dependsOn == b.dependsOn
            && a.parameters == b.parameters && a.bytes == b.bytes
    }

    public func hash(into hasher: inout Hasher) {
        hashID(into: &hasher)
        hasher.combine(kind)
        hasher.combine(path)
    }
}

/// The tasks of a plan and their dependencies: a directed acyclic graph.
public struct TaskGraph: Sendable {
    public private(set) var tasks: [PlannedTask]
    /// Positions of the tasks by id: an open-addressing table of `hash << 32 | position + 1`
    /// (0: empty), the ids read from the tasks themselves. 8 bytes a slot, where a dictionary of
    /// id strings took 24 and made every id a string.
    private var slots: [UInt64]

    public init(_ tasks: [PlannedTask] = []) {
        self.tasks = []
        self.slots = []
        add(contentsOf: tasks)
    }

    /// Adds a task; a task with an id already present replaces nothing and is ignored.
    public mutating func add(_ task: PlannedTask) {
        reserve(tasks.count + 1)
        if insert(position: tasks.count, of: task, tag: TaskGraph.tag(of: task)) { tasks.append(task) }
    }

    /// Adds tasks in order, as `add` does one by one.
    public mutating func add(contentsOf newTasks: [PlannedTask]) {
        reserve(tasks.count + newTasks.count)
        // The ids are hashed on all cores first: hashing is most of the cost of filing a million.
        let tags = Parallel.map(newTasks.count, minimumChunk: 4096) { UInt32(truncatingIfNeeded: TaskGraph.tag(of: newTasks[$0])) }
        // An empty graph takes the array itself when its ids are distinct: no copy of each task.
        if tasks.isEmpty {
            var distinct = true
            for i in newTasks.indices where !insert(position: i, of: newTasks[i], tag: UInt64(tags[i]), in: newTasks) {
                distinct = false
                break
            }
            if distinct {
                tasks = newTasks
                return
            }
            for i in slots.indices { slots[i] = 0 }
        }
        tasks.reserveCapacity(tasks.count + newTasks.count)
        for i in newTasks.indices where insert(position: tasks.count, of: newTasks[i], tag: UInt64(tags[i])) { tasks.append(newTasks[i]) }
    }

    public subscript(id: String) -> PlannedTask? {
        position(of: id).map { tasks[$0] }
    }

    /// Where the task with this id is in `tasks`.
    public func position(of id: String) -> Int? {
        guard !slots.isEmpty else { return nil }
        // The same bytes, in one piece or in several, hash the same (`Hasher` streams them).
        let hash = id.utf8.withContiguousStorageIfAvailable { bytes -> Int in
            var hasher = Hasher()
            hasher.combine(bytes: UnsafeRawBufferPointer(bytes))
            return hasher.finalize()
        } ?? TaskGraph.hash(of: Array(id.utf8))
        return find(hash: hash) { tasks[$0].hasID(id) }
    }

    public var count: Int { tasks.count }

    private static func hash(of bytes: [UInt8]) -> Int {
        var hasher = Hasher()
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        return hasher.finalize()
    }

    /// The low half of the hash of the task's id: what the index files it by.
    private static func tag(of task: PlannedTask) -> UInt64 {
        var hasher = Hasher()
        task.hashID(into: &hasher)
        return UInt64(UInt32(truncatingIfNeeded: hasher.finalize()))
    }

    /// The position whose task `matches`, among those of this hash.
    private func find(hash: Int, matches: (Int) -> Bool) -> Int? {
        let mask = slots.count - 1
        let tag = UInt64(UInt32(truncatingIfNeeded: hash))
        var slot = Int(tag) & mask
        while slots[slot] != 0 {
            if slots[slot] >> 32 == tag, matches(Int(slots[slot] & 0xFFFF_FFFF) - 1) { return Int(slots[slot] & 0xFFFF_FFFF) - 1 }
            slot = (slot + 1) & mask
        }
        return nil
    }

    /// Records `task`, whose `tag` is given, at `position` unless a task of `tasks` (or of `among`) has its id; whether it did.
    private mutating func insert(position: Int, of task: PlannedTask, tag: UInt64, in among: [PlannedTask]? = nil) -> Bool {
        let mask = slots.count - 1
        var slot = Int(tag) & mask
        while slots[slot] != 0 {
            if slots[slot] >> 32 == tag {
                let other = Int(slots[slot] & 0xFFFF_FFFF) - 1
                if (among ?? tasks)[other].hasSameID(as: task) { return false }
            }
            slot = (slot + 1) & mask
        }
        slots[slot] = tag << 32 | UInt64(position + 1)
        return true
    }

    /// Room for `count` tasks at a load of at most a half (short probes).
    private mutating func reserve(_ count: Int) {
        guard slots.count < 2 * count else { return }
        var size = 16
        while size < 2 * count { size <<= 1 }
        // Move the entries: the tag is the hash's low half, which says where each goes.
        let old = slots
        slots = [UInt64](repeating: 0, count: size)
        let mask = size - 1
        for entry in old where entry != 0 {
            var slot = Int(entry >> 32) & mask
            while slots[slot] != 0 { slot = (slot + 1) & mask }
            slots[slot] = entry
        }
    }

    /// Tasks in an order where each comes after everything it depends on.
    /// Dependencies on ids not in the graph are ignored. Throws the cycle when there is one.
    public func topologicalOrder() throws(CycleError) -> [PlannedTask] {
        var indegree = [Int](repeating: 0, count: tasks.count)
        var dependents = [[Int]](repeating: [], count: tasks.count)
        for (i, task) in tasks.enumerated() {
            for dep in task.dependsOn {
                guard let d = position(of: dep) else { continue }
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
