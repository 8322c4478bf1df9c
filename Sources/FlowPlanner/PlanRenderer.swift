import FlowModel

/// Prints a plan for people (`text`), machines (`json`, versioned) and pictures (`dot`, `mermaid`).
public enum PlanRenderer {
    /// Version of the JSON plan format; bumped on any incompatible change.
    public static let jsonFormatVersion = 1

    /// How many tasks of an action the text form lists (about a screen) before it shows groups.
    public static let listedTasks = 25

    /// Per-action figures.
    public struct ActionSummary: Sendable, Hashable {
        public var name: String
        public var kind: String
        public var source: String
        public var destination: String?
        public var tasks = 0
        public var todo = 0
        public var skipped = 0
        public var bytesTodo: Int64 = 0
        public var bytesUnknown = 0
        public var skipReasons: [String: Int] = [:]
        /// Tasks to do again (an earlier run did them), by why.
        public var redoReasons: [String: Int] = [:]
        /// Tasks to do per kind, for an action that makes more than one (a download that converts).
        public var todoByKind: [String: Int] = [:]
    }

    public static func summaries(_ plan: Plan) -> [ActionSummary] {
        var summaries: [ActionSummary] = []
        var indexOfAction: [String: Int] = [:]
        for action in plan.job.actions {
            let source = action.kind == .upload ? (action.to ?? "") : (plan.job.sourceName(of: action) ?? "")
            indexOfAction[action.name] = summaries.count
            summaries.append(ActionSummary(name: action.name, kind: action.kind.rawValue, source: source,
                                           destination: action.kind == .download ? action.to : nil))
        }
        // Tasks read in place (`tasks[t]`), not copied out: a task is a large value.
        let tasks = plan.graph.tasks
        // A barrier does no work: the figures leave it out (the JSON's task list has it).
        for t in tasks.indices where tasks[t].kind != .barrier {
            guard let i = indexOfAction[tasks[t].action] else { continue }
            // Updated in place: a copy out and back would copy `skipReasons` per task.
            summaries[i].tasks += 1
            if let reason = tasks[t].skipReason {
                summaries[i].skipped += 1
                summaries[i].skipReasons[reason, default: 0] += 1
            } else {
                summaries[i].todo += 1
                summaries[i].todoByKind[tasks[t].kind.rawValue, default: 0] += 1
                if !plan.redoReasons.isEmpty, let reason = plan.redoReasons[tasks[t].id] {
                    summaries[i].redoReasons[reason, default: 0] += 1
                }
                if let bytes = tasks[t].bytes { summaries[i].bytesTodo += bytes }
                else if tasks[t].kind == .download { summaries[i].bytesUnknown += 1 }
            }
        }
        return summaries
    }

    // MARK: text

    /// The plan for people: per selection and action, what is to do, named as people name it.
    /// An action with more than `limit` tasks to do is shown by its groups (subjects,
    /// candidates, images, exams) instead; `limit: nil` lists every task.
    public static func text(_ plan: Plan, limit: Int? = listedTasks) -> String {
        var out = "Plan for job `\(plan.job.name)` (\(plan.job.path))\n"
        for selection in plan.job.selections {
            guard let items = plan.items[selection.name] else { continue }
            let known = items.filter { $0.size != nil }
            let bytes = known.reduce(Int64(0)) { $0 + ($1.size ?? 0) }
            let size = known.isEmpty && !items.isEmpty ? "size unknown"
                : Quantities.formatBytes(bytes) + (known.count < items.count ? " (+\(items.count - known.count) of unknown size)" : "")
            out += "  select \(selection.name): \(items.count) item(s), \(size) on `\(selection.source)`\n"
        }
        out += "\n"
        let names = ItemNames(job: plan.job)
        let summaries = summaries(plan)
        let tasks = plan.graph.tasks
        for s in summaries {
            var head = "  \(s.name) (\(s.kind)"
            head += s.kind == ActionKind.upload.rawValue ? " to `\(s.source)`" : " on `\(s.source)`"
            if let destination = s.destination { head += " -> \(destination)" }
            out += head + ")\n"
            var line = "    \(s.todo) to do"
            if s.todoByKind.count > 1 {
                line += " (" + s.todoByKind.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ") + ")"
            }
            if s.bytesTodo > 0 { line += ", \(Quantities.formatBytes(s.bytesTodo))" }
            if s.bytesUnknown > 0 { line += s.bytesTodo > 0 ? " (+\(s.bytesUnknown) of unknown size)" : ", size unknown" }
            line += "; \(s.skipped) skipped"
            out += line + "\n"
            for (reason, count) in s.skipReasons.sorted(by: { $0.key < $1.key }) {
                out += "      \(count) skipped: \(reason)\n"
            }
            for (reason, count) in s.redoReasons.sorted(by: { $0.key < $1.key }) {
                out += "      \(count) to do again: \(reason)\n"
            }
            let pending = tasks.indices.filter { tasks[$0].action == s.name && !tasks[$0].isSkipped && tasks[$0].kind != .barrier }
            if let limit, pending.count > limit {
                out += groups(of: pending.map { tasks[$0] }, names: names, limit: limit)
            } else {
                for t in pending { out += "      + \(describe(tasks[t], names: names))\n" }
            }
        }
        if !plan.renames.isEmpty {
            out += "\n  \(plan.renames.count) item(s) renamed to be safe paths (the manifest keeps the server's id):\n"
            let shown = plan.renames.sorted(by: { $0.key < $1.key }).prefix(limit ?? plan.renames.count)
            for (task, renames) in shown {
                out += "    ~ \(task): \(renames.map(\.description).joined(separator: "; "))\n"
            }
            if plan.renames.count > shown.count { out += "    ... and \(plan.renames.count - shown.count) more\n" }
        }
        if !plan.problems.isEmpty {
            out += "\n  \(plan.problems.count) item(s) or listing(s) cannot be planned; the rest can:\n"
            // Capped as the renames are: `run` names every one at its end, `--all` here.
            let shown = plan.problems.prefix(limit ?? plan.problems.count)
            for problem in shown { out += "    ! \(problem.task): \(problem.reason)\n" }
            if plan.problems.count > shown.count { out += "    ... and \(plan.problems.count - shown.count) more (`--all` lists them)\n" }
        }
        let total = plan.workCount
        let todo = plan.pendingCount
        out += "\n\(total) task(s): \(todo) to do, \(total - todo) skipped."
        if !plan.problems.isEmpty { out += " \(plan.problems.count) cannot be planned." }
        out += todo == 0 && plan.problems.isEmpty ? " Nothing to do.\n" : "\n"
        return out
    }

    /// Names items as their platform's users do, from the catalog of their source.
    struct ItemNames {
        let job: Job

        func catalog(_ item: RemoteItem) -> PlatformCatalog? { job.source(named: item.source).map { PlatformCatalog.of($0.type) } }
        func name(_ item: RemoteItem?) -> String {
            guard let item else { return "?" }
            return catalog(item)?.displayName(of: item) ?? item.id
        }
        func group(_ item: RemoteItem?) -> String { item.flatMap { catalog($0)?.group(of: $0) } ?? "" }
        func noun(_ item: RemoteItem?) -> String { item.flatMap { catalog($0)?.groupNoun } ?? "group" }
    }

    /// `+ SUBJ_003: 4 tasks, 1.2 MiB` per group, the first `limit` groups in plan order.
    static func groups(of pending: [PlannedTask], names: ItemNames, limit: Int) -> String {
        var order: [String] = []
        var figures: [String: (tasks: Int, bytes: Int64, unknown: Int)] = [:]
        for task in pending {
            let group = names.group(task.item)
            if figures[group] == nil { order.append(group) }
            var f = figures[group] ?? (0, 0, 0)
            f.tasks += 1
            if let bytes = task.bytes { f.bytes += bytes } else if task.kind == .download { f.unknown += 1 }
            figures[group] = f
        }
        let noun = names.noun(pending.first?.item)
        var out = "      \(order.count) \(noun)(s):\n"
        for group in order.prefix(limit) {
            let f = figures[group]!
            var line = "      + \(group.isEmpty ? "(no \(noun))" : group): \(f.tasks) task(s)"
            if f.bytes > 0 { line += ", \(Quantities.formatBytes(f.bytes))" }
            out += line + "\n"
        }
        if order.count > limit { out += "      ... and \(order.count - limit) more \(noun)(s) (`--all` lists every task)\n" }
        return out
    }

    static func describe(_ task: PlannedTask, names: ItemNames) -> String {
        let size = task.bytes.map { " (\(Quantities.formatBytes($0)))" } ?? ""
        let item = names.name(task.item)
        switch task.kind {
        case .download: return "\(item) -> \(task.path ?? "?")\(size)"
        case .downloadExtra: return "\(task.parameters["extra"] ?? "extra") of \(item) -> \(task.path ?? "?")"
        case .downloadOutputs: return "outputs of \(item) (known when the job ends)"
        case .upload: return "\(item)\(size) -> \(task.parameters["to"] ?? "?")"
        case .tag:
            // A tagged object (an Agora dataset) is named without the file that stands for it.
            guard let object = task.parameters["object"], let type = object.split(separator: "/").first else {
                return "tag \(item) with \(task.parameters["tags"] ?? "")"
            }
            let named = item.contains("/") ? String(item[..<item.lastIndex(of: "/")!]) : object
            return "tag \(type) \(named) with \(task.parameters["tags"] ?? "")"
        case .run: return "run \(task.parameters["target"] ?? "?") on \(item)"
        case .wait: return "wait for \(item)"
        case .downloadArchive:
            return "\(task.parameters["format"] ?? "zip") of \(task.parameters["per"] ?? "scan") \(task.parameters["unit"] ?? "?") "
                + "(\(task.parameters["members"] ?? "?") file(s))"
        case .convert:
            return "\(task.parameters["tool"] ?? "convert") \(task.parameters["input"] ?? "?") (\(task.dependsOn.count) file(s)) -> \(task.path ?? "?")"
        case .barrier: return "wait for \(task.dependsOn.count) earlier task(s)"
        }
    }

    // MARK: json

    /// The plan as JSON (`format_version` 1): one document, keys sorted, two-space indents.
    public static func json(_ plan: Plan, drift: Drift? = nil) -> String {
        var bytes: [UInt8] = []
        writeJSON(plan, drift: drift) { bytes.append(contentsOf: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Bytes `writeJSON` collects before handing them to its output.
    static let jsonChunkSize = 1 << 20
    /// Tasks one thread writes at a time, and tasks written before the next are begun: a plan of
    /// a million tasks is written on all cores in windows of about 2.5 MB.
    static let jsonTasksPerChunk = 512
    static let jsonTasksPerWindow = 8 * 1024

    /// Writes what `json` returns in chunks of about a megabyte, so that a plan of a million tasks
    /// is never held as one string.
    public static func writeJSON(_ plan: Plan, drift: Drift? = nil, to output: ([UInt8]) throws -> Void) rethrows {
        var json = JSONWriter(.pretty, reservingCapacity: jsonChunkSize + 64 * 1024)
        json.openObject()
        json.key("actions")
        json.openArray()
        for s in summaries(plan) {
            json.openObject()
            json.key("bytes_todo"); json.value(s.bytesTodo)
            if let destination = s.destination { json.key("destination"); json.value(destination) }
            json.key("kind"); json.value(s.kind)
            json.key("name"); json.value(s.name)
            json.key("skip_reasons"); json.value(s.skipReasons)
            json.key("skipped"); json.value(s.skipped)
            json.key("source"); json.value(s.source)
            json.key("tasks"); json.value(s.tasks)
            json.key("todo"); json.value(s.todo)
            json.closeObject()
        }
        json.closeArray()
        if let drift {
            json.key("drift")
            json.openObject()
            for (name, changes) in [("added", drift.added), ("changed", drift.changed), ("removed", drift.removed)] {
                json.key(name)
                json.openArray()
                for change in changes {
                    json.openObject()
                    json.key("detail"); json.value(change.detail)
                    json.key("id"); json.value(change.id)
                    json.key("selection"); json.value(change.selection)
                    json.closeObject()
                }
                json.closeArray()
            }
            json.closeObject()
        }
        json.key("format_version"); json.value(jsonFormatVersion)
        json.key("job")
        json.openObject()
        json.key("name"); json.value(plan.job.name)
        json.key("path"); json.value(plan.job.path)
        json.closeObject()
        if !plan.problems.isEmpty {
            json.key("problems")
            json.openArray()
            for problem in plan.problems {
                json.openObject()
                json.key("reason"); json.value(problem.reason)
                json.key("task"); json.value(problem.task)
                json.closeObject()
            }
            json.closeArray()
        }
        if !plan.renames.isEmpty {
            json.key("renames")
            json.openArray()
            for (task, renames) in plan.renames.sorted(by: { $0.key < $1.key }) {
                for rename in renames {
                    json.openObject()
                    json.key("field"); json.value(rename.field)
                    json.key("original"); json.value(rename.original)
                    json.key("safe"); json.value(rename.safe)
                    json.key("task"); json.value(task)
                    json.closeObject()
                }
            }
            json.closeArray()
        }
        json.key("tasks")
        json.openArray()
        let tasks = plan.graph.tasks
        if tasks.count < 2 * jsonTasksPerChunk {
            for t in tasks.indices {
                writeTask(tasks[t], to: &json)
                if json.bytes.count >= jsonChunkSize { try output(json.take()) }
            }
        } else {
            // Many tasks: written on all cores, a window at a time (so that memory stays bounded),
            // each window's chunks handed out in order after what came before.
            try output(json.take())
            let parent = json
            for window in stride(from: 0, to: tasks.count, by: jsonTasksPerWindow) {
                let count = min(jsonTasksPerWindow, tasks.count - window)
                let chunks = Parallel.chunkCount(count, minimumChunk: jsonTasksPerChunk)
                let parts = Parallel.map(chunks, minimumChunk: 1) { chunk -> [UInt8] in
                    let range = Parallel.range(of: chunk, chunks: chunks, count: count)
                    var members = parent.members(first: window == 0 && chunk == 0, reservingCapacity: 384 * range.count)
                    for t in range { writeTask(tasks[window + t], to: &members) }
                    return members.finish()
                }
                for part in parts { try output(part) }
            }
            json.membersWrittenElsewhere()
        }
        json.closeArray()
        let todo = plan.pendingCount
        json.key("totals")
        json.openObject()
        let total = plan.workCount
        json.key("skipped"); json.value(total - todo)
        json.key("tasks"); json.value(total)
        json.key("todo"); json.value(todo)
        json.closeObject()
        json.closeObject()
        var last = json.finish()
        last.append(UInt8(ascii: "\n"))
        try output(last)
    }

    /// The keys of a task and its item, made once for a million tasks.
    private enum TaskKeys {
        static let action = JSONWriter.Key("action")
        static let bytes = JSONWriter.Key("bytes")
        static let checksums = JSONWriter.Key("checksums")
        static let dependsOn = JSONWriter.Key("depends_on")
        static let id = JSONWriter.Key("id")
        static let item = JSONWriter.Key("item")
        static let kind = JSONWriter.Key("kind")
        static let parameters = JSONWriter.Key("parameters")
        static let path = JSONWriter.Key("path")
        static let size = JSONWriter.Key("size")
        static let skipReason = JSONWriter.Key("skip_reason")
        static let source = JSONWriter.Key("source")
    }

    /// One task of the JSON plan; keys in byte order.
    private static func writeTask(_ task: PlannedTask, to json: inout JSONWriter) {
        json.openObject()
        json.key(TaskKeys.action); json.value(task.action)
        if let bytes = task.bytes { json.key(TaskKeys.bytes); json.value(bytes) }
        json.key(TaskKeys.dependsOn); json.value(task.dependsOn)
        json.key(TaskKeys.id); json.value(task.id)
        if let item = task.item {
            json.key(TaskKeys.item)
            json.openObject()
            if !item.checksums.isEmpty {
                json.key(TaskKeys.checksums)
                // The first checksum of an algorithm counts, as in `RemoteItem.checksum(_:)`.
                var byAlgorithm: [String: String] = [:]
                for checksum in item.checksums where byAlgorithm[checksum.algorithm.rawValue] == nil {
                    byAlgorithm[checksum.algorithm.rawValue] = checksum.value
                }
                json.value(byAlgorithm)
            }
            json.key(TaskKeys.id); json.value(item.id)
            if let size = item.size { json.key(TaskKeys.size); json.value(size) }
            json.key(TaskKeys.source); json.value(item.source)
            json.closeObject()
        }
        json.key(TaskKeys.kind); json.value(task.kind.rawValue)
        if !task.parameters.isEmpty { json.key(TaskKeys.parameters); json.value(task.parameters) }
        // An upload's path is the local file, which the item already names.
        if let path = task.path, task.kind != .upload { json.key(TaskKeys.path); json.value(path) }
        if let reason = task.skipReason { json.key(TaskKeys.skipReason); json.value(reason) }
        json.closeObject()
    }

    // MARK: graphs

    /// Graphviz: one node per task, clustered by action; skipped tasks grey.
    public static func dot(_ plan: Plan) -> String {
        var out = "digraph \"\(escape(plan.job.name))\" {\n  rankdir=LR;\n  node [shape=box, fontsize=10];\n"
        let tasks = plan.graph.tasks
        for action in plan.job.actions {
            out += "  subgraph \"cluster_\(escape(action.name))\" {\n    label=\"\(escape(action.name)) (\(action.kind.rawValue))\";\n"
            for t in tasks.indices where tasks[t].action == action.name {
                let style = tasks[t].isSkipped ? ", style=dashed, color=grey" : ""
                out += "    \"\(escape(tasks[t].id))\" [label=\"\(escape(label(tasks[t])))\"\(style)];\n"
            }
            out += "  }\n"
        }
        for t in tasks.indices {
            for dep in tasks[t].dependsOn { out += "  \"\(escape(dep))\" -> \"\(escape(tasks[t].id))\";\n" }
        }
        return out + "}\n"
    }

    /// Mermaid flowchart; node ids are positions (`t0`, `t1`, ...) because task ids hold characters
    /// Mermaid rejects.
    public static func mermaid(_ plan: Plan) -> String {
        var out = "flowchart LR\n"
        let tasks = plan.graph.tasks
        for action in plan.job.actions {
            out += "  subgraph \(mermaidText(action.name))\n"
            for i in tasks.indices where tasks[i].action == action.name {
                out += "    t\(i)[\"\(mermaidText(label(tasks[i])))\"]\n"
            }
            out += "  end\n"
        }
        for i in tasks.indices {
            for dep in tasks[i].dependsOn {
                if let from = plan.graph.position(of: dep) { out += "  t\(from) --> t\(i)\n" }
            }
        }
        for i in tasks.indices where tasks[i].isSkipped { out += "  style t\(i) stroke-dasharray: 5 5\n" }
        return out
    }

    static func label(_ task: PlannedTask) -> String {
        let name = task.item?.field("file.name") ?? task.item?.id ?? task.id
        return "\(task.kind.rawValue): \(name)" + (task.isSkipped ? " (skip)" : "")
    }

    /// Text inside a Graphviz string: `\` and `"` backslashed.
    static func escape(_ text: String) -> String {
        replacingScalars(in: text) { $0 == "\\" ? "\\\\" : $0 == "\"" ? "\\\"" : nil }
    }

    /// Text inside a Mermaid label: `"` as its entity.
    static func mermaidText(_ text: String) -> String {
        replacingScalars(in: text) { $0 == "\"" ? "#quot;" : nil }
    }

    /// `text` with the scalars `replacement` returns text for replaced; the text itself when none is
    /// (the common case, without building a new string).
    private static func replacingScalars(in text: String, _ replacement: (Unicode.Scalar) -> String?) -> String {
        guard text.unicodeScalars.contains(where: { replacement($0) != nil }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            if let replaced = replacement(scalar) { out += replaced } else { out.unicodeScalars.append(scalar) }
        }
        return out
    }
}
