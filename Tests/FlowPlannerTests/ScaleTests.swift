import Testing
import FlowModel
@testable import FlowPlanner

@Suite struct ScaleTests {
    /// Correctness at scale (timing lives in benchmarks/plan-scale.sh, not in tests).
    @Test func plansTwentyThousandItemsWithUniquePaths() throws {
        let job = Job(path: "j.yml", name: "big", sources: [SourceSpec(name: "s", type: .xnat, url: "https://x")],
                      selections: [Selection(name: "all", source: "s")],
                      actions: [Action(name: "pull", kind: .download, input: .selection("all"), to: "out",
                                       layout: .inline("{subject.label}/{scan.type}/{file.name}"))])
        let items = (0..<20_000).map { i in
            RemoteItem(source: "s", id: "e\(i)", url: "https://x/\(i)", size: 100,
                       fields: ["subject.label": "S\(i / 100)", "scan.type": "T\(i % 10)", "file.name": "f\(i).dcm"])
        }
        let plan = try Planner(baseDirectory: "/nonexistent", completed: NothingDone()).plan(job, items: ["all": items])
        #expect(plan.graph.count == 20_000)
        #expect(Set(plan.graph.tasks.compactMap(\.path)).count == 20_000)
        #expect(plan.graph.tasks[12_345].id == "pull/e12345" && plan.graph.position(of: "pull/e12345") == 12_345)
    }

    /// Among many paths, the few met twice are found, names equal as Unicode text (NFC and NFD
    /// `é`) included, however the paths are kept while checking.
    @Test func pathsMetTwiceAmongManyAreFound() throws {
        let job = Job(path: "j.yml", name: "big", sources: [SourceSpec(name: "s", type: .xnat, url: "https://x")],
                      selections: [Selection(name: "all", source: "s")],
                      actions: [Action(name: "pull", kind: .download, input: .selection("all"), to: "out",
                                       layout: .inline("{file.name}"))])
        var names = (0..<3_000).map { "f\($0).dcm" }
        names += ["caf\u{E9}.dcm", "cafe\u{301}.dcm", "f7.dcm"]
        let items = names.enumerated().map { i, name in
            RemoteItem(source: "s", id: "e\(i)", url: "https://x/\(i)", size: 1, fields: ["file.name": name])
        }
        let plan = try Planner(baseDirectory: "/nonexistent", completed: NothingDone()).plan(job, items: ["all": items])
        #expect(plan.problems.map(\.task).sorted() == ["pull/e3000", "pull/e3001", "pull/e3002", "pull/e7"])
        #expect(plan.graph.count == 2_999)
    }

    /// Paths are made on all cores; the items whose path fails or renames a value still come out
    /// in item order, as one thread made them.
    @Test func oddPathsAmongManyComeInItemOrder() throws {
        let job = Job(path: "j.yml", name: "big", sources: [SourceSpec(name: "s", type: .xnat, url: "https://x")],
                      selections: [Selection(name: "all", source: "s")],
                      actions: [Action(name: "pull", kind: .download, input: .selection("all"), to: "out",
                                       layout: .inline("{file.name}"))])
        let names = (0..<20_000).map { i in i % 997 == 5 ? ".." : i % 1_009 == 3 ? "a/b\(i).dcm" : "f\(i).dcm" }
        let items = names.enumerated().map { i, name in
            RemoteItem(source: "s", id: "e\(i)", url: "https://x/\(i)", size: 1, fields: ["file.name": name])
        }
        let plan = try Planner(baseDirectory: "/nonexistent", completed: NothingDone()).plan(job, items: ["all": items])
        let failed = names.indices.filter { names[$0] == ".." }.map { "pull/e\($0)" }
        #expect(plan.problems.map(\.task) == failed)
        #expect(plan.renames.count == names.filter { $0.hasPrefix("a/") }.count)
        #expect(plan.renames["pull/e3"]?.first?.safe == "a_b3.dcm")
        #expect(plan.graph.count == 20_000 - failed.count)
        #expect(plan.graph.tasks.map { $0.item!.id } == items.map(\.id).filter { !failed.contains("pull/" + $0) })
    }
}

/// `after:` between two large actions: one barrier task, n + m edges instead of n × m.
@Suite struct BarrierTests {
    static func job() -> Job {
        Job(path: "j.yml", name: "after", sources: [SourceSpec(name: "s", type: .xnat, url: "https://x")],
            selections: [Selection(name: "a", source: "s"), Selection(name: "b", source: "s")],
            actions: [Action(name: "first", kind: .download, input: .selection("a"), to: "one", layout: .inline("{item.id}")),
                      Action(name: "second", kind: .download, input: .selection("b"), to: "two", layout: .inline("{item.id}"),
                             after: ["first"])])
    }

    static func items(_ count: Int, _ prefix: String) -> [RemoteItem] {
        (0..<count).map { RemoteItem(source: "s", id: "\(prefix)\($0)", url: "https://x/\(prefix)\($0)", size: 1) }
    }

    /// Skips the tasks of one action (what the journal says of a finished action).
    struct Done: CompletedWork {
        var action: String
        func skipReason(for task: PlannedTask) -> String? { task.action == action ? "done" : nil }
    }

    @Test func largeActionsAfterEachOtherMeetAtOneBarrier() throws {
        let n = 2_000
        let plan = try Planner(baseDirectory: "/nonexistent", completed: NothingDone())
            .plan(Self.job(), items: ["a": Self.items(n, "a"), "b": Self.items(n, "b")])
        let barrier = try #require(plan.graph[Planner.barrierID(of: "second")])
        #expect(barrier.kind == .barrier && barrier.action == "second" && !barrier.isSkipped)
        #expect(barrier.dependsOn == plan.graph.tasks.filter { $0.action == "first" }.map(\.id))
        let second = plan.graph.tasks.filter { $0.action == "second" && $0.kind == .download }
        #expect(second.count == n)
        #expect(second.allSatisfy { $0.dependsOn == [barrier.id] })
        #expect(plan.graph.tasks.reduce(0) { $0 + $1.dependsOn.count } == 2 * n)
        let order = try plan.graph.topologicalOrder().map(\.id)
        let at = try #require(order.firstIndex(of: barrier.id))
        #expect(at == n && order.prefix(n).allSatisfy { $0.hasPrefix("first/") })
        // The JSON holds each edge once: about n + m ids, not n × m.
        let json = PlanRenderer.json(plan)
        #expect(json.components(separatedBy: "\"first/").count - 1 == 2 * n)
        // It does no work: the figures leave it out.
        let text = PlanRenderer.text(plan)
        #expect(text.contains("\n    2000 to do,") && !text.contains("barrier") && text.hasSuffix("4000 task(s): 4000 to do, 0 skipped.\n"))
        #expect(json.contains("\"kind\" : \"barrier\"") && json.contains("\"tasks\" : 4000,\n    \"todo\" : 4000"))
    }

    @Test func aBarrierIsSkippedOnlyWhenAllItWaitsForIs() throws {
        let items = ["a": Self.items(3, "a"), "b": Self.items(3, "b")]
        let finished = try Planner(baseDirectory: "/nonexistent", completed: Done(action: "first")).plan(Self.job(), items: items)
        #expect(finished.graph[Planner.barrierID(of: "second")]?.isSkipped == true)
        let pending = try Planner(baseDirectory: "/nonexistent", completed: Done(action: "second")).plan(Self.job(), items: items)
        #expect(pending.graph[Planner.barrierID(of: "second")]?.isSkipped == false)
        // A job whose every task is done plans no change, its barrier included.
        struct All: CompletedWork { func skipReason(for task: PlannedTask) -> String? { "done" } }
        let all = try Planner(baseDirectory: "/nonexistent", completed: All()).plan(Self.job(), items: items)
        #expect(all.graph.count == 7 && !all.hasChanges)
    }

    @Test func fewEdgesStayDirect() throws {
        // 3 × 1 edges are fewer than the 3 + 1 a barrier would make.
        let plan = try Planner(baseDirectory: "/nonexistent", completed: NothingDone())
            .plan(Self.job(), items: ["a": Self.items(3, "a"), "b": Self.items(1, "b")])
        #expect(plan.graph[Planner.barrierID(of: "second")] == nil)
        #expect(plan.graph.tasks.last?.dependsOn == ["first/a0", "first/a1", "first/a2"])
    }
}
