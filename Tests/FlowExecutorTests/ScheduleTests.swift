import Testing
import FlowModel
@testable import FlowExecutor

/// The schedule is a plain value: these drive it by hand, with no executor and no I/O.
@Suite struct ScheduleTests {
    /// run/a -> wait/a -> get/a, and an independent download other/b.
    static func chain() -> TaskGraph {
        var graph = TaskGraph()
        graph.add(PlannedTask(id: "run/a", action: "run", kind: .run))
        graph.add(PlannedTask(id: "wait/a", action: "wait", kind: .wait, dependsOn: ["run/a"]))
        graph.add(PlannedTask(id: "get/a", action: "get", kind: .download, dependsOn: ["wait/a"]))
        graph.add(PlannedTask(id: "other/b", action: "other", kind: .download))
        return graph
    }

    @Test func aTaskIsReadyOnceItsDependenciesSucceededAndWaitsHaveTheirOwnLane() {
        var schedule = Schedule(Self.chain())
        #expect(!schedule.hasReady(.waits))
        #expect(schedule.take(.transfers) == 0)
        #expect(schedule.take(.transfers) == 3)
        #expect(schedule.take(.transfers) == nil)
        #expect(schedule.running == 2)

        schedule.succeeded(0)
        #expect(schedule.take(.transfers) == nil)
        #expect(schedule.take(.waits) == 1)
        schedule.succeeded(1)
        #expect(schedule.take(.transfers) == 2)
        #expect(!schedule.isOver)
        schedule.succeeded(2)
        schedule.succeeded(3)
        #expect(schedule.isOver)
        #expect(schedule.neverStarted == 0)
        #expect(schedule.abandoned == 0)
    }

    @Test func aSourceAtItsLimitLetsAnotherSourcesTaskGoFirst() {
        func download(_ id: String, from source: String) -> PlannedTask {
            PlannedTask(id: id, action: "get", kind: .download, item: RemoteItem(source: source, id: id, url: "x"))
        }
        var graph = TaskGraph()
        for id in ["a1", "a2", "a3"] { graph.add(download(id, from: "xnat")) }
        graph.add(download("b1", from: "gc"))
        graph.add(PlannedTask(id: "up", action: "up", kind: .upload, parameters: ["to": "xnat"]))
        var schedule = Schedule(graph, limits: ["xnat": 1])

        #expect(schedule.take(.transfers) == 0)
        #expect(schedule.take(.transfers) == 3)  // xnat is busy: gc's task goes ahead of a2
        #expect(schedule.take(.transfers) == nil)  // the upload counts against xnat too
        #expect(!schedule.hasReady(.transfers) && !schedule.isOver)
        schedule.succeeded(0)
        #expect(schedule.take(.transfers) == 1)  // then first come, first served again
        schedule.failed(1)  // a failure frees the slot as well
        #expect(schedule.take(.transfers) == 2)
        schedule.succeeded(2)
        #expect(schedule.take(.transfers) == 4)
        schedule.succeeded(3)
        schedule.succeeded(4)
        #expect(schedule.isOver)
    }

    /// Conversions run on this machine: their own lane, limited by `convert.concurrency`, and
    /// never counted against the source their files came from.
    @Test func conversionsHaveALaneOfTheirOwn() {
        var graph = TaskGraph()
        let item = RemoteItem(source: "xnat", id: "f", url: "x")
        graph.add(PlannedTask(id: "get", action: "bids", kind: .download, item: item))
        for id in ["c1", "c2", "c3"] {
            graph.add(PlannedTask(id: id, action: "bids", kind: .convert, item: item,
                                  parameters: ["lane": ConvertSpec.lane(of: "bids")]))
        }
        var schedule = Schedule(graph, limits: ["xnat": 1, ConvertSpec.lane(of: "bids"): 2])
        #expect(schedule.take(.transfers) == 0)  // xnat's one slot
        #expect(schedule.take(.transfers) == 1)  // conversions do not wait for xnat...
        #expect(schedule.take(.transfers) == 2)
        #expect(schedule.take(.transfers) == nil)  // ...but only two at once
        schedule.succeeded(1)
        #expect(schedule.take(.transfers) == 3)
    }

    @Test func aFailureAbandonsEverythingDownstreamAndNothingElse() {
        var schedule = Schedule(Self.chain())
        let run = schedule.take(.transfers)
        let other = schedule.take(.transfers)
        schedule.failed(run!)
        #expect(schedule.abandoned == 2)
        #expect(!schedule.hasReady(.waits))
        #expect(!schedule.isOver)  // `other` still runs
        schedule.succeeded(other!)
        #expect(schedule.isOver)
        #expect(schedule.neverStarted == 0)
    }

    @Test func aStoppedScheduleHandsOutNothingButWaitsForWhatRuns() {
        var schedule = Schedule(Self.chain())
        let run = schedule.take(.transfers)!
        schedule.stop()
        #expect(schedule.take(.transfers) == nil)
        #expect(!schedule.hasReady(.transfers))
        #expect(!schedule.isOver)
        schedule.succeeded(run)
        #expect(schedule.take(.waits) == nil)
        #expect(schedule.isOver)
        // other/b was ready and the wait became ready: neither started, and get/a never could.
        #expect(schedule.neverStarted == 3)
    }

    @Test func anEmptyGraphIsOverAtOnce() {
        let schedule = Schedule(TaskGraph())
        #expect(schedule.isOver)
        #expect(schedule.neverStarted == 0)
    }
}

@Suite struct RunStateTests {
    /// A re-run where the whole chain is done: the worker skips the run and parks (the skipped
    /// wait is the coordinator's); the coordinator skipping the wait makes the download ready,
    /// and must wake the worker to skip it too, or neither ever learns that the run is over.
    @Test(.timeLimit(.minutes(1))) func skippedTasksInOneLaneWakeTheOther() async throws {
        var graph = TaskGraph()
        graph.add(PlannedTask(id: "run/a", action: "run", kind: .run, skipReason: "done"))
        graph.add(PlannedTask(id: "wait/a", action: "wait", kind: .wait, dependsOn: ["run/a"], skipReason: "done"))
        graph.add(PlannedTask(id: "get/a", action: "get", kind: .downloadOutputs, dependsOn: ["wait/a"], skipReason: "done"))
        let fixture = try Fixture()
        defer { fixture.remove() }
        let committer = JournalCommitter(journal: fixture.journal, syncRoots: [], batchSize: 10, batchSeconds: 1, syncSeconds: 60)
        let state = RunState(graph: graph, earlier: [:], committer: committer, events: EventFanOut([]), keepGoing: false)

        let worker = Task { await state.nextTransfer() }
        try await Task.sleep(for: .milliseconds(50))  // the worker has skipped the run and parked
        guard case .over = await state.nextCoordinatorStep() else {
            Issue.record("the coordinator should find the run over")
            return
        }
        #expect(await worker.value == nil)
        #expect(state.report.skipped == 3)
        #expect(state.report.notStarted == 0)
    }
}
