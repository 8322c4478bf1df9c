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
    }
}
