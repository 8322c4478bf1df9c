import FlowModel
import Synchronization

/// Tells the planner which work is already done (from the journal or the files on disk).
public protocol CompletedWork: Sendable {
    /// Why `task` need not run again, or nil when it must.
    func skipReason(for task: PlannedTask) -> String?

    /// `skipReason` of each task, asked once per action so that tasks can share work.
    func skipReasons(for tasks: [PlannedTask]) -> [String?]

    /// Why a task an earlier run did (or began) is to do again, for a task not skipped; nil when
    /// no earlier run knew it.
    func redoReason(for task: PlannedTask) -> String?
}

extension CompletedWork {
    public func redoReason(for task: PlannedTask) -> String? { nil }

    public func skipReasons(for tasks: [PlannedTask]) -> [String?] {
        tasks.map(skipReason(for:))
    }
}

/// Compares download destinations with what is on disk: a file of the expected size is done.
public struct FilesOnDisk: CompletedWork {
    static let reason = "exists with the expected size"

    public init() {}

    public func skipReason(for task: PlannedTask) -> String? {
        // Without a listed size there is nothing to compare with: no stat.
        guard task.kind == .download, let destination = task.destination, let expected = task.item?.size,
              let size = FileStat.size(destination) else { return nil }
        return size == expected ? FilesOnDisk.reason : nil
    }

    /// As `skipReason`, but a folder found missing answers for every file in it: before the first
    /// run that is one `stat` per output folder instead of one per file.
    public func skipReasons(for tasks: [PlannedTask]) -> [String?] {
        skipReasons(for: tasks) { _ in true }
    }

    /// `skipReasons` for the tasks at the indices `include` accepts (nil for the others).
    /// Runs on all cores, each chunk of tasks with its own record of the missing folders.
    public func skipReasons(for tasks: [PlannedTask], where include: @Sendable (Int) -> Bool) -> [String?] {
        Parallel.map(tasks.count, minimumChunk: 4096, state: { FolderMemo() }) { memo, i -> String? in
            // Tasks read in place (`tasks[i]`): copying each out costs more than the check.
            // The size first: without one there is nothing to compare, and no path to build.
            guard include(i), tasks[i].kind == .download, let expected = tasks[i].item?.size, let path = tasks[i].path else {
                return nil
            }
            // Tasks come folder by folder: the last folder's answer needs no path put together.
            let root = tasks[i].root ?? ""
            let relativeFolder = path[..<(path.utf8.lastIndex(of: UInt8(ascii: "/")) ?? path.startIndex)]
            let sameFolder = memo.root == root && memo.relativeFolder == relativeFolder
            if sameFolder && memo.exists == false { return nil }
            guard let destination = tasks[i].destination else { return nil }
            let slash = destination.utf8.lastIndex(of: UInt8(ascii: "/")) ?? destination.startIndex
            let folder = destination[..<slash]
            if memo.folderExists[folder] == false { return nil }
            if let size = FileStat.size(destination) { return size == expected ? FilesOnDisk.reason : nil }
            if memo.folderExists[folder] == nil { memo.folderExists[folder] = folder.isEmpty || FileStat.isDirectory(String(folder)) }
            (memo.root, memo.relativeFolder, memo.exists) = (root, relativeFolder, memo.folderExists[folder])
            return nil
        }
    }
}

/// What `FilesOnDisk` knows of output folders, per thread: whether each exists, and which was
/// asked about last (a task's root and its path's folder part).
struct FolderMemo {
    var folderExists: [Substring: Bool] = [:]
    var root = ""
    var relativeFolder: Substring = ""
    var exists: Bool?
}

/// Nothing is done: plan everything.
public struct NothingDone: CompletedWork {
    public init() {}
    public func skipReason(for task: PlannedTask) -> String? { nil }
}

/// A compiled job: the task graph and what each action will do.
public struct Plan: Sendable {
    public var job: Job
    public var graph: TaskGraph
    /// Items each selection matched.
    public var items: [String: [RemoteItem]]
    /// Output root per download action, absolute.
    public var roots: [String: String]
    /// Items and parts of listings left out, and why: the run reports each as failed.
    public var problems: [PlanProblem] = []
    /// Task id -> the server values its path had to change to be safe.
    public var renames: [String: [LayoutTemplate.Rename]] = [:]
    /// Task id -> why work an earlier run did is to do again (its file is gone, it changed upstream).
    public var redoReasons: [String: String] = [:]

    public var pending: [PlannedTask] { graph.tasks.filter { !$0.isSkipped } }
    /// How many tasks would run, without collecting them (barriers do nothing: not counted).
    public var pendingCount: Int {
        let tasks = graph.tasks
        return tasks.indices.reduce(0) { $0 + (tasks[$1].isSkipped || tasks[$1].kind == .barrier ? 0 : 1) }
    }
    /// How many tasks do work: all but barriers.
    public var workCount: Int {
        let tasks = graph.tasks
        return tasks.indices.reduce(0) { $0 + (tasks[$1].kind == .barrier ? 0 : 1) }
    }
    /// Whether running it would change anything.
    public var hasChanges: Bool { graph.tasks.contains { !$0.isSkipped && $0.kind != .barrier } }
}

/// A problem that makes a job impossible to plan (two actions writing one path).
public struct PlanError: Error, CustomStringConvertible, Sendable {
    public var action: String
    public var message: String
    public var description: String { "action `\(action)`: \(message)" }
}

/// An item (or a part of a listing) the plan leaves out, and why. It costs only itself: the
/// rest is planned, and the run reports it among its failures.
public struct PlanProblem: Sendable, Hashable, CustomStringConvertible {
    /// What a user would look for: `action/item id`, or the action and the selection listed.
    public var task: String
    public var reason: String

    public init(task: String, reason: String) {
        self.task = task
        self.reason = reason
    }

    public var description: String { "\(task): \(reason)" }
}

/// Paths met so far, kept as the positions of the tasks that hold them: 4 bytes a slot, where a
/// `Set<String>` took 16 (a download of a million items checks a million paths). Paths are one
/// when equal as `String`s are (as Unicode text), as in a `Set`, whose hash they are filed by.
struct PathSet {
    /// Position + 1 of a task, 0 for none; at most half full, so probes stay short.
    private var slots: [UInt32]

    /// Room for `capacity` paths.
    init(capacity: Int) {
        var size = 16
        while size < 2 * capacity { size <<= 1 }
        slots = [UInt32](repeating: 0, count: size)
    }

    /// Adds the path of the task at `position`, whose hash is `hash`, unless one is there that
    /// `isEqual` (given the position of a task added before) says is the same; whether it did.
    mutating func insert(hash: UInt32, position: Int, isEqual: (Int) -> Bool) -> Bool {
        let mask = slots.count - 1
        var slot = Int(hash) & mask
        while slots[slot] != 0 {
            if isEqual(Int(slots[slot]) - 1) { return false }
            slot = (slot + 1) & mask
        }
        slots[slot] = UInt32(position + 1)
        return true
    }
}

/// Builds the task graph of a job from the items its selections matched.
public struct Planner: Sendable {
    /// Folder that relative `to:` paths are resolved against (the job file's folder).
    public var baseDirectory: String
    public var completed: any CompletedWork

    public init(baseDirectory: String, completed: any CompletedWork = FilesOnDisk()) {
        self.baseDirectory = baseDirectory
        self.completed = completed
    }

    public func plan(_ job: Job, items: [String: [RemoteItem]]) throws -> Plan {
        try plan(job, resolution: Resolver.Resolution(items: items))
    }

    /// The plan of what was listed; what could not be listed becomes the plan's problems.
    public func plan(_ job: Job, resolution: Resolver.Resolution) throws -> Plan {
        let items = resolution.items
        var graph = TaskGraph()
        var roots: [String: String] = [:]
        var tasksOfAction: [String: [String]] = [:]
        // Only actions that others come `after:` need their ids listed (a million strings).
        let waitedFor = Set(job.actions.flatMap(\.after))
        var problems: [PlanProblem] = []
        var renames: [String: [LayoutTemplate.Rename]] = [:]
        var redoReasons: [String: String] = [:]
        let order = Planner.actionOrder(job)
        for action in order {
            let after = action.after.flatMap { tasksOfAction[$0] ?? [] }
            var made: [PlannedTask] = []
            switch action.input {
            case .selection(let name)?:
                for problem in resolution.problems[name] ?? [] {
                    problems.append(PlanProblem(task: "\(action.name) (listing `\(name)`)", reason: problem.description))
                }
                made = tasks(for: action, inputs: items[name] ?? [], job: job, roots: &roots, problems: &problems,
                             renames: &renames)
            case .outputs(let producer)?:
                made = chained(action, on: producer, job: job, graph: graph, roots: &roots)
            case nil:
                break
            }
            // Each task depends on the `after:` tasks directly, or, when that makes more edges (an
            // action of 100,000 tasks after one of 100,000: 10^10), on a barrier that depends on them.
            let barrier = Planner.barrier(of: action, after: after, tasks: made.count, graph: graph)
            let waitsFor = barrier.map { [$0.id] } ?? after
            let listIDs = waitedFor.contains(action.name)
            var ids: [String] = []
            if listIDs { ids.reserveCapacity(made.count + 1) }
            if let barrier, listIDs { ids.append(barrier.id) }
            // Changed in place (a task is a large value: copies cost).
            for i in made.indices {
                // Shared, not copied, when the task has no dependency of its own: an action `after`
                // another of 100 tasks would otherwise copy 100 ids per task.
                if !waitsFor.isEmpty {
                    made[i].dependsOn = made[i].dependsOn.isEmpty ? waitsFor : made[i].dependsOn + waitsFor
                }
                if listIDs { ids.append(made[i].id) }
            }
            let reasons = completed.skipReasons(for: made)
            for i in made.indices where made[i].skipReason == nil { made[i].skipReason = reasons[i] }
            if action.archive != nil { Planner.skipFinishedArchives(&made) }
            for i in made.indices where made[i].skipReason == nil {
                if let reason = completed.redoReason(for: made[i]) { redoReasons[made[i].id] = reason }
            }
            if let barrier { graph.add(barrier) }
            graph.add(contentsOf: made)
            if listIDs { tasksOfAction[action.name, default: []] += ids }
        }
        try Planner.checkNoSharedPaths(graph, roots: roots, job: job)
        var plan = Plan(job: job, graph: graph, items: items, roots: roots)
        plan.problems = problems
        plan.renames = renames
        plan.redoReasons = redoReasons
        return plan
    }

    /// Id of the barrier of an action's `after:` (no `/`: no item's task has it).
    public static func barrierID(of action: String) -> String { "\(action)#after" }

    /// The barrier an action's tasks wait on instead of each `after:` task, when one saves edges
    /// (`tasks` × `after` > `tasks` + `after`). It is skipped when every task it waits for is:
    /// then nothing is to wait for, and a finished job plans no change.
    static func barrier(of action: Action, after: [String], tasks: Int, graph: TaskGraph) -> PlannedTask? {
        guard tasks * after.count > tasks + after.count else { return nil }
        let waited = after.allSatisfy { id in graph.position(of: id).map { graph.tasks[$0].isSkipped } ?? true }
        return PlannedTask(id: barrierID(of: action.name), action: action.name, kind: .barrier, dependsOn: after,
                           skipReason: waited ? "every task it waits for is skipped" : nil)
    }

    /// Two download actions never write one file: they would race on it, and each re-run would
    /// flip it between their sources. A job-file mistake, so the plan fails naming both.
    static func checkNoSharedPaths(_ graph: TaskGraph, roots: [String: String], job: Job) throws {
        // Only actions whose output folders are one or nest can meet (the usual job: none).
        let folders = roots.map { (action: $0.key, root: $0.value.hasSuffix("/") ? $0.value : $0.value + "/") }
        let overlapping = Set(folders.flatMap { a in
            folders.filter { b in a.action != b.action && a.root.hasPrefix(b.root) }.flatMap { [a.action, $0.action] }
        })
        guard !overlapping.isEmpty else { return }
        var writer: [String: String] = [:]  // destination -> task id
        for task in graph.tasks where overlapping.contains(task.action) {
            guard let destination = task.destination else { continue }
            if let other = writer.updateValue(task.id, forKey: destination), let otherAction = other.split(separator: "/").first,
               otherAction != Substring(task.action) {
                let source = { (id: String) in job.action(named: String(id.split(separator: "/").first ?? ""))
                    .flatMap { action -> String? in
                        if case .selection(let s)? = action.input { return job.selections.first { $0.name == s }?.source }
                        return nil
                    } ?? "?" }
                throw PlanError(action: task.action, message: "writes \(ErrorText.quoted(destination)), as action `\(otherAction)` "
                    + "does (`\(other)` from source `\(source(other))` and `\(task.id)` from source `\(source(task.id))`); "
                    + "give the actions different `to:` folders or layouts")
            }
        }
    }

    /// Actions with every dependency first (the loader has rejected cycles).
    static func actionOrder(_ job: Job) -> [Action] {
        var done = Set<String>()
        var order: [Action] = []
        func visit(_ action: Action) {
            guard !done.contains(action.name) else { return }
            done.insert(action.name)
            for dep in action.dependencies { if let d = job.action(named: dep) { visit(d) } }
            order.append(action)
        }
        job.actions.forEach(visit)
        return order
    }

    /// The output root of a download, absolute.
    public func root(of action: Action) -> String {
        let to = action.to ?? action.name
        return to.hasPrefix("/") ? to : (baseDirectory.hasSuffix("/") ? baseDirectory : baseDirectory + "/") + to
    }

    /// Tasks of an action that consumes a selection's items.
    /// Items that cannot be given a path (or would share one) become `problems`, not tasks.
    func tasks(for action: Action, inputs: [RemoteItem], job: Job, roots: inout [String: String],
               problems: inout [PlanProblem], renames: inout [String: [LayoutTemplate.Rename]]) -> [PlannedTask] {
        switch action.kind {
        case .download:
            let root = root(of: action)
            roots[action.name] = root
            let layout = job.layout(of: action)
            // One task per item, made on all cores: the layout is most of a task's cost. The few
            // items whose path renamed a value or could not be made are told apart afterwards, in order.
            let odd = OddPaths()
            var tasks = Parallel.map(inputs.count) { i -> PlannedTask in
                var renamed: [LayoutTemplate.Rename] = []
                var path: String?
                do {
                    path = try downloadPath(of: inputs[i], action: action, layout: layout, renamed: &renamed)
                    if !renamed.isEmpty { odd.add(i, .renamed(renamed)) }
                } catch {
                    odd.add(i, .failed("\(error)"))
                }
                // Its id (`<action>/<item id>`) is derived when asked, not stored.
                return PlannedTask(action: action.name, kind: .download, item: inputs[i], path: path, root: root,
                                   bytes: inputs[i].size)
            }
            var failed = false
            for (i, outcome) in odd.inOrder {
                switch outcome {
                case .renamed(let renamed): renames["\(action.name)/\(inputs[i].id)"] = renamed
                case .failed(let reason):
                    problems.append(PlanProblem(task: "\(action.name)/\(inputs[i].id)", reason: reason))
                    failed = true
                }
            }
            // A download without a path is no task: its problem says why.
            if failed { tasks.removeAll { $0.path == nil } }
            // Items that share a path: none of them is written (which one would be right?). Names
            // equal as Unicode text (NFC and NFD `é`) share a path too.
            let sharedPaths = Planner.sharedPaths(tasks)
            if !action.extras.isEmpty { tasks = Planner.withExtras(tasks, action: action, root: root) }
            guard !sharedPaths.isEmpty else { return conversions(for: action, downloads: archives(for: action, downloads: tasks, root: root), root: root) }
            // Item ids per shared path, in plan order.
            var shared: [String: [String]] = [:]
            for task in tasks where task.kind == .download {
                if let path = task.path, sharedPaths.contains(path) { shared[path, default: []].append(task.item?.id ?? "") }
            }
            var left = Set<String>()
            for (path, ids) in shared.sorted(by: { $0.key < $1.key }) {
                for id in ids {
                    problems.append(PlanProblem(task: "\(action.name)/\(id)", reason: "layout `\(layout.template)` puts it at "
                        + "\(ErrorText.quoted(path)), as it does \(Self.twins(of: id, among: ids)) (names equal as Unicode text "
                        + "count as one); none of them is written: add a field to the layout that tells them apart"))
                    left.insert(id)
                }
            }
            return conversions(for: action, downloads: archives(for: action, downloads: tasks.filter { !left.contains($0.item?.id ?? "") },
                                                                root: root), root: root)
        case .upload:
            return inputs.map { item in
                var parameters = action.into
                parameters["to"] = action.to ?? ""
                return PlannedTask(action: action.name, kind: .upload, item: item, path: item.url, bytes: item.size, parameters: parameters)
            }
        case .tag:
            // One task per tagged object: the files of one Agora dataset share their dataset's tag.
            let catalog = inputs.first.flatMap { job.source(named: $0.source) }.map { PlatformCatalog.of($0.type) }
            var tagged = Set<String>()
            return inputs.compactMap { item in
                let object = catalog?.taggedObject(of: item).map { "\($0.type)/\($0.id)" } ?? item.id
                guard tagged.insert(object).inserted else { return nil }
                return PlannedTask(id: "\(action.name)/\(object)", action: action.name, kind: .tag, item: item,
                                   parameters: ["tags": action.tags.joined(separator: ","),
                                                "object": object == item.id ? "" : object])
            }
        case .runAlgorithm, .runTask:
            return inputs.flatMap { runChain(action, item: $0, dependsOn: []) }
        }
    }

    /// What is odd about a download's path: the values it had to rename, or why there is none.
    enum OddPath: Sendable {
        case renamed([LayoutTemplate.Rename])
        case failed(String)
    }

    /// The few downloads whose path is odd, by the position of their item, noted from several
    /// threads at once.
    final class OddPaths: Sendable {
        private let found = Mutex<[Int: OddPath]>([:])

        func add(_ position: Int, _ odd: OddPath) { found.withLock { $0[position] = odd } }

        /// What was noted, by position.
        var inOrder: [(position: Int, odd: OddPath)] {
            found.withLock { $0.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
        }
    }

    /// The paths that two or more downloads share. Their hashes are taken on all cores first,
    /// so that the table, which one thread fills, compares a path only with paths of its hash.
    /// The other items at one shared path, for a reason: a few named, the rest counted, so
    /// that a layout putting a subject's 1,000 files on one path costs a line per file, not a
    /// page (every reason naming every twin was quadratic).
    static func twins(of id: String, among ids: [String], named: Int = 3) -> String {
        let others = ids.lazy.filter { $0 != id }
        let shown = others.prefix(named).map { "`\($0)`" }.joined(separator: ", ")
        let count = ids.count - 1
        return count <= named ? shown : "\(count) other item(s) (\(shown), ...)"
    }

    static func sharedPaths(_ tasks: [PlannedTask]) -> Set<String> {
        let hashes = Parallel.map(tasks.count, minimumChunk: 4096) { i in
            tasks[i].kind == .download ? UInt32(truncatingIfNeeded: tasks[i].path?.hashValue ?? 0) : 0
        }
        var paths = PathSet(capacity: tasks.count)
        var shared = Set<String>()
        for i in tasks.indices where tasks[i].kind == .download {
            guard let path = tasks[i].path else { continue }
            let hash = hashes[i]
            if !paths.insert(hash: hash, position: i, isEqual: { hashes[$0] == hash && tasks[$0].path == path }) {
                shared.insert(path)
            }
        }
        return shared
    }

    /// The downloads with their item's extra documents (LORIS QC, visit metadata) after each.
    static func withExtras(_ downloads: [PlannedTask], action: Action, root: String) -> [PlannedTask] {
        var tasks: [PlannedTask] = []
        tasks.reserveCapacity(downloads.count * (1 + action.extras.count))
        var visitDocs = Set<String>()
        for download in downloads {
            tasks.append(download)
            guard let item = download.item, let path = download.path else { continue }
            let id = "\(action.name)/\(item.id)"
            for extra in action.extras {
                var extraPath = path + ".qc.json"
                if extra == "visit-metadata" {
                    // One document per visit, beside its files, as the seed script writes it.
                    let dir = path.split(separator: "/").dropLast().joined(separator: "/")
                    extraPath = dir.isEmpty ? "session.json" : dir + "/session.json"
                    guard visitDocs.insert(extraPath).inserted else { continue }
                }
                tasks.append(PlannedTask(id: "\(id)#\(extra)", action: action.name, kind: .downloadExtra, item: item,
                                         path: extraPath, root: root, parameters: ["extra": extra]))
            }
        }
        return tasks
    }

    /// Where a download puts an item: its layout's path, or, when the action converts, the
    /// original under `sourcedata/<converted name>/<file name>` (one folder per conversion).
    func downloadPath(of item: RemoteItem, action: Action, layout: LayoutSpec,
                      renamed: inout [LayoutTemplate.Rename]) throws -> String {
        guard action.convert != nil else { return try layout.render(item, renamed: &renamed) }
        let stem = try layout.renderStem(item, renamed: &renamed)
        let name = try SafePath.component(item.field("file.name") ?? item.id)
        return ConvertSpec.sourceFolder + "/" + stem + "/" + name
    }

    /// The downloads, followed by one conversion per folder of originals when the action
    /// converts: it waits for the folder's files, and runs again only when one of them changed
    /// (its `fingerprint` covers every input's id, size, version and checksums).
    func conversions(for action: Action, downloads: [PlannedTask], root: String) -> [PlannedTask] {
        guard let convert = action.convert else { return downloads }
        let prefix = ConvertSpec.sourceFolder + "/"
        var groups: [String: [Int]] = [:]
        var order: [String] = []
        for i in downloads.indices where downloads[i].kind == .download {
            guard let path = downloads[i].path, path.hasPrefix(prefix), let slash = path.lastIndex(of: "/") else { continue }
            let stem = String(path[path.index(path.startIndex, offsetBy: prefix.count)..<slash])
            if groups[stem] == nil { order.append(stem) }
            groups[stem, default: []].append(i)
        }
        var conversions: [Int: PlannedTask] = [:]  // by the position of the group's last download
        for stem in order {
            let members = groups[stem]!.map { downloads[$0] }
            let inputs = members.compactMap(\.item).sorted { $0.id < $1.id }
            let fingerprint = Planner.fingerprint(inputs.map { item in
                ([item.id, item.size.map(String.init) ?? "", item.version ?? ""]
                    + item.checksums.map { "\($0.algorithm.rawValue):\($0.value)" }).joined(separator: "|")
            })
            conversions[groups[stem]!.last!] = (PlannedTask(id: "\(action.name)/\(stem)#convert", action: action.name, kind: .convert,
                                     item: inputs.first, path: stem + ".nii.gz", root: root, dependsOn: members.map(\.id),
                                     parameters: ["tool": convert.tool, "input": prefix + stem, "output": stem,
                                                  "fingerprint": fingerprint, "lane": ConvertSpec.lane(of: action.name)]))
        }
        // Each conversion right after its scan's files, so a plan reads scan by scan.
        var tasks: [PlannedTask] = []
        tasks.reserveCapacity(downloads.count + conversions.count)
        for i in downloads.indices {
            tasks.append(downloads[i])
            if let conversion = conversions[i] { tasks.append(conversion) }
        }
        return tasks
    }

    /// With `archive:`, one archive task per scan (resource, session) placed before the downloads
    /// of its files, each of which waits for it (parameter `archive`: the archive task's id).
    /// Files that name no scan are fetched one by one as usual.
    func archives(for action: Action, downloads: [PlannedTask], root: String) -> [PlannedTask] {
        guard let spec = action.archive else { return downloads }
        var units: [String: String] = [:]  // unit -> archive task id
        var members: [String: Int] = [:]
        var archiveAt: [Int: PlannedTask] = [:]  // by the position of its first download
        var out = downloads
        for i in out.indices where out[i].kind == .download {
            guard let item = out[i].item, let unit = spec.unit(of: item.fields) else { continue }
            let id = "\(action.name)/\(unit)#archive"
            if units[unit] == nil {
                units[unit] = id
                archiveAt[i] = PlannedTask(id: id, action: action.name, kind: .downloadArchive, item: item, root: root,
                                           parameters: ["format": spec.format, "per": spec.per.rawValue, "unit": unit])
            }
            members[id, default: 0] += 1
            out[i].dependsOn.append(id)
            out[i].parameters["archive"] = id
        }
        var tasks: [PlannedTask] = []
        tasks.reserveCapacity(out.count + archiveAt.count)
        for i in out.indices {
            if var archive = archiveAt[i] {
                archive.parameters["members"] = String(members[archive.id] ?? 0)
                tasks.append(archive)
            }
            tasks.append(out[i])
        }
        return tasks
    }

    /// An archive whose files are all done is skipped too. One with files still to do is fetched,
    /// unless an earlier run fetched it (its journaled skip reason) and each of those files is on
    /// disk at its listed size (the run was killed before journaling them): their downloads then
    /// check the files and journal them, fetching only a file that does not match.
    static func skipFinishedArchives(_ tasks: inout [PlannedTask]) {
        var pending: [String: [Int]] = [:]
        for i in tasks.indices where tasks[i].kind == .download && !tasks[i].isSkipped {
            if let archive = tasks[i].parameters["archive"] { pending[archive, default: []].append(i) }
        }
        for i in tasks.indices where tasks[i].kind == .downloadArchive {
            guard let members = pending[tasks[i].id] else {
                tasks[i].skipReason = "every file of it is done"
                continue
            }
            let fetchedBefore = tasks[i].skipReason != nil
            let onDisk = members.allSatisfy { m in
                guard let destination = tasks[m].destination, let size = tasks[m].item?.size else { return false }
                return FileStat.size(destination) == size
            }
            tasks[i].skipReason = fetchedBefore && onDisk ? "fetched in an earlier run; its files are checked on disk" : nil
        }
    }

    /// 64-bit FNV-1a of the lines, in hex: what a conversion's inputs were (not a security digest:
    /// it tells a changed input from an unchanged one).
    static func fingerprint(_ lines: [String]) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for line in lines {
            for byte in line.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
            hash = (hash ^ 0x0A) &* 0x0000_0100_0000_01B3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// A run and its wait for one input item.
    func runChain(_ action: Action, item: RemoteItem, dependsOn: [String]) -> [PlannedTask] {
        let run = PlannedTask(id: "\(action.name)/\(item.id)#run", action: action.name, kind: .run, item: item,
                              dependsOn: dependsOn,
                              parameters: ["target": action.target ?? "", "input": action.inputName ?? ""])
        let wait = PlannedTask(id: "\(action.name)/\(item.id)#wait", action: action.name, kind: .wait, item: item,
                               dependsOn: [run.id],
                               parameters: ["timeout": String(action.wait.timeoutSeconds), "poll": String(action.wait.pollSeconds)])
        return [run, wait]
    }

    /// Tasks of an action that consumes another action's outputs: one chain link per item,
    /// so item 1's result moves on while item 9 still runs.
    func chained(_ action: Action, on producer: String, job: Job, graph: TaskGraph, roots: inout [String: String]) -> [PlannedTask] {
        let producerTasks = graph.tasks.filter { $0.action == producer }
        // The task of the producer whose completion yields an item's outputs.
        let finals = producerTasks.filter { $0.kind == .wait || $0.kind == .upload }
        switch action.kind {
        case .download:
            let root = root(of: action)
            roots[action.name] = root
            return finals.map { final in
                let inputID = final.item?.id ?? final.id
                return PlannedTask(id: "\(action.name)/\(inputID)", action: action.name, kind: .downloadOutputs,
                                   item: final.item, root: root, dependsOn: [final.id])
            }
        case .runAlgorithm, .runTask:
            return finals.flatMap { final in runChain(action, item: final.item!, dependsOn: [final.id]) }
        case .tag:
            return finals.map { final in
                PlannedTask(id: "\(action.name)/\(final.item?.id ?? final.id)", action: action.name, kind: .tag,
                            item: final.item, dependsOn: [final.id], parameters: ["tags": action.tags.joined(separator: ",")])
            }
        case .upload:
            return []
        }
    }
}
