import Foundation
import FlowModel

/// Prints a plan for people (`text`), machines (`json`, versioned) and pictures (`dot`, `mermaid`).
public enum PlanRenderer {
    /// Version of the JSON plan format; bumped on any incompatible change.
    public static let jsonFormatVersion = 1

    /// How many tasks of an action the text form lists before "... and N more".
    public static let listedTasks = 10

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
    }

    public static func summaries(_ plan: Plan) -> [ActionSummary] {
        var byName: [String: ActionSummary] = [:]
        for action in plan.job.actions {
            let source = action.kind == .upload ? (action.to ?? "") : (plan.job.sourceName(of: action) ?? "")
            byName[action.name] = ActionSummary(name: action.name, kind: action.kind.rawValue, source: source,
                                                destination: action.kind == .download ? action.to : nil)
        }
        for task in plan.graph.tasks {
            var s = byName[task.action]!
            s.tasks += 1
            if let reason = task.skipReason {
                s.skipped += 1
                s.skipReasons[reason, default: 0] += 1
            } else {
                s.todo += 1
                if let bytes = task.bytes { s.bytesTodo += bytes } else if task.kind == .download { s.bytesUnknown += 1 }
            }
            byName[task.action] = s
        }
        return plan.job.actions.compactMap { byName[$0.name] }
    }

    // MARK: text

    public static func text(_ plan: Plan) -> String {
        var out = "Plan for job `\(plan.job.name)` (\(plan.job.path))\n"
        for selection in plan.job.selections {
            guard let items = plan.items[selection.name] else { continue }
            let bytes = items.reduce(Int64(0)) { $0 + ($1.size ?? 0) }
            out += "  select \(selection.name): \(items.count) item(s), \(Quantities.formatBytes(bytes)) on `\(selection.source)`\n"
        }
        out += "\n"
        let summaries = summaries(plan)
        for s in summaries {
            var head = "  \(s.name) (\(s.kind)"
            head += s.kind == ActionKind.upload.rawValue ? " to `\(s.source)`" : " on `\(s.source)`"
            if let destination = s.destination { head += " -> \(destination)" }
            out += head + ")\n"
            var line = "    \(s.todo) to do"
            if s.bytesTodo > 0 { line += ", \(Quantities.formatBytes(s.bytesTodo))" }
            if s.bytesUnknown > 0 { line += " (+\(s.bytesUnknown) of unknown size)" }
            line += "; \(s.skipped) skipped"
            out += line + "\n"
            for (reason, count) in s.skipReasons.sorted(by: { $0.key < $1.key }) {
                out += "      \(count) skipped: \(reason)\n"
            }
            let tasks = plan.graph.tasks.filter { $0.action == s.name && !$0.isSkipped }
            for task in tasks.prefix(listedTasks) { out += "      + \(describe(task))\n" }
            if tasks.count > listedTasks { out += "      ... and \(tasks.count - listedTasks) more\n" }
        }
        let total = plan.graph.count
        let todo = plan.pending.count
        out += "\n\(total) task(s): \(todo) to do, \(total - todo) skipped."
        out += todo == 0 ? " Nothing to do.\n" : "\n"
        return out
    }

    static func describe(_ task: PlannedTask) -> String {
        let size = task.bytes.map { " (\(Quantities.formatBytes($0)))" } ?? ""
        switch task.kind {
        case .download: return "\(task.item?.id ?? "?") -> \(task.path ?? "?")\(size)"
        case .downloadExtra: return "\(task.parameters["extra"] ?? "extra") of \(task.item?.id ?? "?") -> \(task.path ?? "?")"
        case .downloadOutputs: return "outputs of \(task.item?.id ?? "?") (known when the job ends)"
        case .upload: return "\(task.item?.id ?? "?")\(size) -> \(task.parameters["to"] ?? "?")"
        case .tag: return "tag \(task.item?.id ?? "?") with \(task.parameters["tags"] ?? "")"
        case .run: return "run \(task.parameters["target"] ?? "?") on \(task.item?.id ?? "?")"
        case .wait: return "wait for \(task.item?.id ?? "?")"
        }
    }

    // MARK: json

    public static func json(_ plan: Plan, drift: Drift? = nil) -> String {
        let actions: [[String: Any]] = summaries(plan).map { s in
            var a: [String: Any] = ["name": s.name, "kind": s.kind, "source": s.source, "tasks": s.tasks,
                                    "todo": s.todo, "skipped": s.skipped, "bytes_todo": s.bytesTodo]
            if let destination = s.destination { a["destination"] = destination }
            a["skip_reasons"] = s.skipReasons
            return a
        }
        let tasks: [[String: Any]] = plan.graph.tasks.map { task in
            var t: [String: Any] = ["id": task.id, "action": task.action, "kind": task.kind.rawValue,
                                    "depends_on": task.dependsOn]
            if let item = task.item {
                var i: [String: Any] = ["id": item.id, "source": item.source]
                if let size = item.size { i["size"] = size }
                if !item.checksums.isEmpty {
                    i["checksums"] = Dictionary(uniqueKeysWithValues: item.checksums.map { ($0.algorithm.rawValue, $0.value) })
                }
                t["item"] = i
            }
            if let path = task.path, task.kind != .upload { t["path"] = path }
            if let reason = task.skipReason { t["skip_reason"] = reason }
            if let bytes = task.bytes { t["bytes"] = bytes }
            if !task.parameters.isEmpty { t["parameters"] = task.parameters }
            return t
        }
        var document: [String: Any] = [
            "format_version": jsonFormatVersion,
            "job": ["name": plan.job.name, "path": plan.job.path],
            "actions": actions,
            "tasks": tasks,
            "totals": ["tasks": plan.graph.count, "todo": plan.pending.count,
                       "skipped": plan.graph.count - plan.pending.count],
        ]
        if let drift {
            func list(_ changes: [Drift.Change]) -> [[String: String]] {
                changes.map { ["selection": $0.selection, "id": $0.id, "detail": $0.detail] }
            }
            document["drift"] = ["added": list(drift.added), "removed": list(drift.removed), "changed": list(drift.changed)]
        }
        let data = try! JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys,
                                                                                  .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    // MARK: graphs

    /// Graphviz: one node per task, clustered by action; skipped tasks grey.
    public static func dot(_ plan: Plan) -> String {
        var out = "digraph \"\(escape(plan.job.name))\" {\n  rankdir=LR;\n  node [shape=box, fontsize=10];\n"
        for action in plan.job.actions {
            out += "  subgraph \"cluster_\(escape(action.name))\" {\n    label=\"\(escape(action.name)) (\(action.kind.rawValue))\";\n"
            for task in plan.graph.tasks where task.action == action.name {
                let style = task.isSkipped ? ", style=dashed, color=grey" : ""
                out += "    \"\(escape(task.id))\" [label=\"\(escape(label(task)))\"\(style)];\n"
            }
            out += "  }\n"
        }
        for task in plan.graph.tasks {
            for dep in task.dependsOn { out += "  \"\(escape(dep))\" -> \"\(escape(task.id))\";\n" }
        }
        return out + "}\n"
    }

    /// Mermaid flowchart; node ids are indices because task ids hold characters Mermaid rejects.
    public static func mermaid(_ plan: Plan) -> String {
        var out = "flowchart LR\n"
        var ids: [String: String] = [:]
        for (i, task) in plan.graph.tasks.enumerated() { ids[task.id] = "t\(i)" }
        for action in plan.job.actions {
            out += "  subgraph \(mermaidText(action.name))\n"
            for task in plan.graph.tasks where task.action == action.name {
                out += "    \(ids[task.id]!)[\"\(mermaidText(label(task)))\"]\n"
            }
            out += "  end\n"
        }
        for task in plan.graph.tasks {
            for dep in task.dependsOn { if let from = ids[dep] { out += "  \(from) --> \(ids[task.id]!)\n" } }
        }
        for task in plan.graph.tasks where task.isSkipped { out += "  style \(ids[task.id]!) stroke-dasharray: 5 5\n" }
        return out
    }

    static func label(_ task: PlannedTask) -> String {
        let name = task.item?.fields["file.name"] ?? task.item?.id ?? task.id
        return "\(task.kind.rawValue): \(name)" + (task.isSkipped ? " (skip)" : "")
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    }

    static func mermaidText(_ text: String) -> String {
        text.replacingOccurrences(of: "\"", with: "#quot;")
    }
}
