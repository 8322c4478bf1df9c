import Foundation
import Testing
@testable import FlowModel
@testable import FlowPlanner

/// `PlanRenderer.json` writes its bytes itself; they must be the bytes `JSONSerialization` gave
/// for format_version 1 (pretty, sorted keys, slashes unescaped), awkward strings included.
@Suite struct JSONPlanTests {
    /// Values that need escaping or are not ASCII.
    static let awkward = ["quote\"d", "back\\slash", "tab\there", "line\nbreak", "bell\u{7}", "del\u{7F}",
                          "é/ü 😀", "e\u{301}", "a/b/c", "\u{2028}", ""]

    static func awkwardPlan() -> Plan {
        let job = Job(path: "jobs/\"odd\".yml", name: "odd \\ name",
                      sources: [SourceSpec(name: "s", type: .xnat, url: "https://x")],
                      selections: [Selection(name: "all", source: "s")],
                      actions: [Action(name: "pull", kind: .download, input: .selection("all"), to: "out/é")])
        var graph = TaskGraph()
        for (i, text) in awkward.enumerated() {
            let item = RemoteItem(source: "s", id: "item/\(text)", url: "https://x/\(i)", size: i == 0 ? nil : Int64(i * 1000),
                                  checksums: i % 2 == 0 ? [Checksum(.md5, "AB\(i)"), Checksum(.sha1, "cd"), Checksum(.md5, "ignored")] : [],
                                  fields: ["file.name": text])
            graph.add(PlannedTask(id: "pull/\(text)#\(i)", action: "pull", kind: i % 3 == 0 ? .upload : .download, item: item,
                                  path: "p/\(text)", root: "/out", dependsOn: i > 0 ? ["pull/\(awkward[i - 1])#\(i - 1)"] : [],
                                  skipReason: i % 4 == 1 ? "exists with the expected size" : (i % 4 == 2 ? "already there" : nil),
                                  bytes: i == 0 ? nil : Int64(i), parameters: i % 2 == 1 ? ["extra": text, "to": "x"] : [:]))
        }
        return Plan(job: job, graph: graph, items: [:], roots: ["pull": "/out"])
    }

    static let drift: Drift = {
        var drift = Drift()
        drift.added = [.init(selection: "all", id: "new \"one\"", detail: "12 bytes")]
        drift.changed = [.init(selection: "all", id: "é", detail: "size 1 -> 2")]
        return drift
    }()

    @Test func bytesAreWhatJSONSerializationGave() throws {
        let plan = Self.awkwardPlan()
        #expect(PlanRenderer.json(plan) == Self.reference(plan, drift: nil))
        #expect(PlanRenderer.json(plan, drift: Self.drift) == Self.reference(plan, drift: Self.drift))
    }

    @Test func streamedChunksMakeTheSameDocument() throws {
        // Enough tasks for several chunks.
        let job = Job(path: "j.yml", name: "big", sources: [SourceSpec(name: "s", type: .xnat, url: "https://x")],
                      selections: [Selection(name: "all", source: "s")],
                      actions: [Action(name: "pull", kind: .download, input: .selection("all"), to: "out")])
        let items = (0..<12_000).map { RemoteItem(source: "s", id: "i\($0)", url: "u", size: 1, fields: ["file.name": "f\($0)"]) }
        let plan = try Planner(baseDirectory: "/nonexistent", completed: NothingDone()).plan(job, items: ["all": items])
        var chunks: [[UInt8]] = []
        PlanRenderer.writeJSON(plan) { chunks.append($0) }
        #expect(chunks.count > 1)
        #expect(String(decoding: chunks.joined(), as: UTF8.self) == Self.reference(plan, drift: nil))
    }

    /// The plan as format_version 1 was first written: a `[String: Any]` tree through `JSONSerialization`.
    static func reference(_ plan: Plan, drift: Drift?) -> String {
        let actions: [[String: Any]] = PlanRenderer.summaries(plan).map { s in
            var a: [String: Any] = ["name": s.name, "kind": s.kind, "source": s.source, "tasks": s.tasks,
                                    "todo": s.todo, "skipped": s.skipped, "bytes_todo": s.bytesTodo]
            if let destination = s.destination { a["destination"] = destination }
            a["skip_reasons"] = s.skipReasons
            return a
        }
        let tasks: [[String: Any]] = plan.graph.tasks.map { task in
            var t: [String: Any] = ["id": task.id, "action": task.action, "kind": task.kind.rawValue, "depends_on": task.dependsOn]
            if let item = task.item {
                var i: [String: Any] = ["id": item.id, "source": item.source]
                if let size = item.size { i["size"] = size }
                if !item.checksums.isEmpty {
                    i["checksums"] = Dictionary(item.checksums.map { ($0.algorithm.rawValue, $0.value) }, uniquingKeysWith: { a, _ in a })
                }
                t["item"] = i
            }
            if let path = task.path, task.kind != .upload { t["path"] = path }
            if let reason = task.skipReason { t["skip_reason"] = reason }
            if let bytes = task.bytes { t["bytes"] = bytes }
            if !task.parameters.isEmpty { t["parameters"] = task.parameters }
            return t
        }
        let todo = plan.pendingCount
        var document: [String: Any] = [
            "format_version": 1, "job": ["name": plan.job.name, "path": plan.job.path], "actions": actions, "tasks": tasks,
            "totals": ["tasks": plan.graph.count, "todo": todo, "skipped": plan.graph.count - todo],
        ]
        if let drift {
            func list(_ changes: [Drift.Change]) -> [[String: String]] {
                changes.map { ["selection": $0.selection, "id": $0.id, "detail": $0.detail] }
            }
            document["drift"] = ["added": list(drift.added), "removed": list(drift.removed), "changed": list(drift.changed)]
        }
        let data = try! JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
