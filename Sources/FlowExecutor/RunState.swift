import FlowConnector
import Foundation
import FlowModel
import FlowPlanner
import Synchronization

/// A task handed out to run: what it gets from the tasks upstream and from the journal.
struct TaskStart: Sendable {
    let index: Int
    let task: PlannedTask
    /// Outputs of the tasks it depends on (uploaded items, job results).
    let inputs: [RemoteItem]
    /// The remote job an upstream task started, for a wait.
    let run: RemoteRun?
    /// The journal's record of it before this run.
    let previous: TaskRecord?
}

/// What the task that owns the workers does next.
enum CoordinatorStep: Sendable {
    /// Start this wait on a remote job in a task of its own (waits hold no worker).
    case wait(TaskStart)
    /// The run was stopped: cancel what is in flight.
    case cancelInFlight
    /// Nothing runs and nothing more will start.
    case over
}

/// The bookkeeping of one run, shared by its workers under one lock: the schedule, what finished
/// tasks hand downstream, the report and the journal batch. A worker that finds nothing ready
/// parks here until a finishing task makes something ready or the run ends.
///
/// Workers record their own outcomes, so a finished file costs one lock, not a hop through a
/// coordinating task (10,000 small files: about 0.07 CPU-s less, see benchmarks/RESULTS.md).
final class RunState: Sendable {
    private struct State {
        var schedule: Schedule
        var report: RunReport
        /// Outputs of finished tasks, for the tasks downstream.
        var outputs: [Int: [RemoteItem]] = [:]
        /// Remote jobs started (now or by an earlier run), by the position of their run task.
        var runs: [Int: RemoteRun] = [:]
        var parkedWorkers: [CheckedContinuation<TaskStart?, Never>] = []
        var parkedCoordinator: CheckedContinuation<CoordinatorStep, Never>?
        var cancelPending = false
    }

    private let tasks: [PlannedTask]
    private let earlier: [String: TaskRecord]
    private let committer: JournalCommitter
    private let events: any EventSink
    private let keepGoing: Bool
    private let state: Mutex<State>

    /// `limits`: how many tasks of each source may run at once (its `concurrency`).
    init(graph: TaskGraph, limits: [String: Int] = [:], earlier: [String: TaskRecord], committer: JournalCommitter,
         events: any EventSink, keepGoing: Bool) {
        tasks = graph.tasks
        self.earlier = earlier
        self.committer = committer
        self.events = events
        self.keepGoing = keepGoing
        var report = RunReport()
        report.written = earlier.compactMapValues(WrittenFile.init)
        state = Mutex(State(schedule: Schedule(graph, limits: limits), report: report))
    }

    /// The next task for a worker, waiting while none is ready; nil once nothing more will start.
    func nextTransfer() async -> TaskStart? {
        /// A task, or nil when nothing more will start; `.none` when the worker should park.
        func step(_ state: inout State) -> TaskStart?? {
            if let start = take(.transfers, &state) { return .some(start) }
            return state.schedule.isStopped || state.schedule.isOver ? .some(nil) : .none
        }
        // Skipped tasks taken on the way may have made waits ready or ended the run: `wake`.
        let (first, resumptions) = state.withLock { state in (step(&state), wake(&state)) }
        resume(resumptions)
        if let first { return first }
        return await withCheckedContinuation { continuation in
            let (found, resumptions) = state.withLock { state in
                // Something may have become ready since the look above.
                let found = step(&state)
                // Parked before `wake`, which may then hand this very worker a task.
                if found == nil { state.parkedWorkers.append(continuation) }
                return (found, wake(&state))
            }
            resume(resumptions)
            if let found { continuation.resume(returning: found) }
        }
    }

    /// What the coordinator does next, waiting until there is something to do.
    func nextCoordinatorStep() async -> CoordinatorStep {
        await withCheckedContinuation { continuation in
            // Skipped waits taken on the way may have made transfers ready: `wake`.
            let (step, resumptions) = state.withLock { state in
                let step = coordinatorStep(&state)
                if step == nil { state.parkedCoordinator = continuation }
                return (step, wake(&state))
            }
            resume(resumptions)
            if let step { continuation.resume(returning: step) }
        }
    }

    /// Records how a task ended, and makes what depends on it ready (or abandons it).
    func finish(_ start: TaskStart, _ outcome: Executor.Outcome) async {
        let i = start.index
        let kind = start.task.kind
        if case .done = outcome, kind == .run || kind == .wait {
            // Remote job ids reach the journal before anything downstream starts: a re-run must
            // not start a job twice.
            _ = state.withLock { record(i, outcome, &$0) }
            await committer.commitNow()
            resume(state.withLock { state in
                state.schedule.succeeded(i)
                return wake(&state)
            })
            return
        }
        resume(state.withLock { state in
            if record(i, outcome, &state) { state.schedule.succeeded(i) } else { state.schedule.failed(i) }
            return wake(&state)
        })
    }

    /// Starts nothing new and has in-flight tasks cancelled (their `.part` files stay for resume).
    func stop() {
        resume(state.withLock { state in
            if !state.schedule.isStopped { state.report.interrupted = true }
            state.schedule.stop()
            state.cancelPending = true
            return wake(&state)
        })
    }

    /// The report once every task has ended.
    var report: RunReport {
        state.withLock { state in
            var report = state.report
            report.notStarted += state.schedule.abandoned + state.schedule.neverStarted
            return report
        }
    }

    // MARK: under the lock

    /// Hands out the next ready task of `lane`; skipped tasks on the way complete at once.
    private func take(_ lane: Schedule.Lane, _ state: inout State) -> TaskStart? {
        while let i = state.schedule.take(lane) {
            let task = tasks[i]
            // A barrier does nothing: passed once ready, neither journaled nor reported.
            if task.kind == .barrier {
                state.schedule.succeeded(i)
                continue
            }
            let previous = earlier[task.id]
            if let reason = task.skipReason {
                state.report.skipped += 1
                state.outputs[i] = Executor.outputsRecorded(in: previous)
                state.runs[i] = previous?.remoteState.flatMap(RemoteStateRecord.init(json:))?.run
                events.emit(.taskSkipped(task, reason: reason))
                state.schedule.succeeded(i)
                continue
            }
            let upstream = state.schedule.dependencies[i]
            // One upstream task (an archive's files wait for it): its outputs shared, not copied
            // (300 files of a scan would copy 300 items each).
            let inputs = upstream.count == 1 ? state.outputs[upstream[0]] ?? [] : upstream.flatMap { state.outputs[$0] ?? [] }
            var run: RemoteRun?
            for d in upstream where run == nil { run = state.runs[d] }
            events.emit(.taskStarted(task))
            return TaskStart(index: i, task: task, inputs: inputs, run: run, previous: previous)
        }
        return nil
    }

    /// The coordinator's next step, or nil when it should park.
    private func coordinatorStep(_ state: inout State) -> CoordinatorStep? {
        if state.cancelPending {
            state.cancelPending = false
            return .cancelInFlight
        }
        if let start = take(.waits, &state) { return .wait(start) }
        // A stopped run is over only when its last task has ended: a stop may still cancel them.
        return state.schedule.isOver ? .over : nil
    }

    /// Records an outcome in the report and the journal batch; true when the task succeeded.
    private func record(_ i: Int, _ outcome: Executor.Outcome, _ state: inout State) -> Bool {
        let task = tasks[i]
        switch outcome {
        case .done(let record, let made, let transferred, let resumed, let retries, let wroteFile, let files):
            state.report.finished += 1
            state.report.bytes += transferred
            state.report.retries += retries
            if !made.isEmpty { state.outputs[i] = made }
            state.runs[i] = record.remoteState.flatMap(RemoteStateRecord.init(json:))?.run
            let records = files + [record]
            for record in records { state.report.written[record.id] = WrittenFile(record) }
            committer.add(records, transfer: transferred > 0 ? (task.id, transferred, resumed) : nil, wroteFile: wroteFile)
            events.emit(.taskFinished(task, bytes: transferred))
            return true
        case .failed(let failure, let retries, let restartRun):
            let message = failure.message
            state.report.retries += retries
            state.report.failures.append(failure)
            var records: [TaskRecord] = []
            if restartRun, let runTask = state.schedule.dependencies[i].first(where: { tasks[$0].kind == .run }) {
                // Forget the failed job so the next run starts a new one.
                records.append(TaskRecord(id: tasks[runTask].id, action: task.action, kind: TaskKind.run.rawValue,
                                          state: .failed, error: message))
            }
            records.append(TaskRecord(id: task.id, action: task.action, kind: task.kind.rawValue, state: .failed,
                                      attempts: retries + 1, remoteID: task.item?.id, error: message,
                                      finishedAt: Date().timeIntervalSince1970))
            committer.add(records, transfer: nil, wroteFile: false)
            events.emit(.taskFailed(task, failure))
            if !keepGoing { state.schedule.stop() }
            return false
        case .cancelled:
            state.report.stoppedInFlight += 1
            return false
        }
    }

    /// Hands ready work to parked workers and the parked coordinator; returns the resumptions,
    /// to run once the lock is released. Skipped tasks taken for one lane can make tasks of the
    /// other ready (a skipped wait, then its download): it goes round until nobody more can go.
    private func wake(_ state: inout State) -> [@Sendable () -> Void] {
        var resumptions: [@Sendable () -> Void] = []
        var woken = 0
        repeat {
            woken = resumptions.count
            while let worker = state.parkedWorkers.last {
                let start = take(.transfers, &state)
                guard start != nil || state.schedule.isStopped || state.schedule.isOver else { break }
                state.parkedWorkers.removeLast()
                resumptions.append { worker.resume(returning: start) }
            }
            if let coordinator = state.parkedCoordinator, let step = coordinatorStep(&state) {
                state.parkedCoordinator = nil
                resumptions.append { coordinator.resume(returning: step) }
            }
        } while resumptions.count > woken
        return resumptions
    }

    private func resume(_ resumptions: [@Sendable () -> Void]) {
        for resumption in resumptions { resumption() }
    }
}
