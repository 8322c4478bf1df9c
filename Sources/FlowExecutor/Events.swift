import Foundation
import FlowModel

/// Something that happened during a run, for progress displays and `--events json`.
public enum ExecutionEvent: Sendable {
    case runStarted(tasks: Int, skipped: Int, bytes: Int64)
    case taskStarted(PlannedTask)
    case progress(taskID: String, bytes: Int64)
    case retried(PlannedTask, attempt: Int, delaySeconds: Double, reason: String)
    case taskFinished(PlannedTask, bytes: Int64)
    case taskSkipped(PlannedTask, reason: String)
    case taskFailed(PlannedTask, error: String)
    case runFinished(RunReport)
}

/// Receives events; called from many tasks at once, so implementations are thread-safe.
public protocol EventSink: Sendable {
    func emit(_ event: ExecutionEvent)
}

/// Writes one JSON object per line (NDJSON) for machines. Never contains credentials:
/// items carry no secrets and URLs are redacted.
public final class JSONEventWriter: EventSink, @unchecked Sendable {
    public static let formatVersion = 1
    private let handle: FileHandle
    private let lock = NSLock()
    private var lastProgress: [String: Double] = [:]

    public init(handle: FileHandle = .standardOutput) {
        self.handle = handle
    }

    public func emit(_ event: ExecutionEvent) {
        var object: [String: Any] = ["format_version": Self.formatVersion, "time": Date().timeIntervalSince1970]
        switch event {
        case .runStarted(let tasks, let skipped, let bytes):
            object["event"] = "run-started"; object["tasks"] = tasks; object["skipped"] = skipped; object["bytes"] = bytes
        case .taskStarted(let task):
            object["event"] = "started"; describe(task, into: &object)
        case .progress(let id, let bytes):
            // At most 4 progress lines per second per task.
            let now = Date().timeIntervalSince1970
            lock.lock()
            let last = lastProgress[id] ?? 0
            if now - last < 0.25 { lock.unlock(); return }
            lastProgress[id] = now
            lock.unlock()
            object["event"] = "progress"; object["task"] = id; object["bytes"] = bytes
        case .retried(let task, let attempt, let delay, let reason):
            object["event"] = "retried"; describe(task, into: &object)
            object["attempt"] = attempt; object["delay_seconds"] = delay; object["reason"] = reason
        case .taskFinished(let task, let bytes):
            object["event"] = "finished"; describe(task, into: &object); object["bytes"] = bytes
        case .taskSkipped(let task, let reason):
            object["event"] = "skipped"; describe(task, into: &object); object["reason"] = reason
        case .taskFailed(let task, let error):
            object["event"] = "failed"; describe(task, into: &object); object["error"] = error
        case .runFinished(let report):
            object["event"] = "run-finished"
            object["files"] = report.finished; object["bytes"] = report.bytes; object["seconds"] = report.seconds
            object["retries"] = report.retries; object["skipped"] = report.skipped; object["failed"] = report.failures.count
            object["interrupted"] = report.interrupted
        }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return }
        lock.lock()
        handle.write(data + Data("\n".utf8))
        lock.unlock()
    }

    private func describe(_ task: PlannedTask, into object: inout [String: Any]) {
        object["task"] = task.id
        object["action"] = task.action
        object["kind"] = task.kind.rawValue
        if let path = task.path, task.kind != .upload { object["path"] = path }
        if let size = task.item?.size { object["size"] = size }
    }
}

/// Fans events out to several sinks.
public struct EventFanOut: EventSink {
    public var sinks: [any EventSink]
    public init(_ sinks: [any EventSink]) { self.sinks = sinks }
    public func emit(_ event: ExecutionEvent) { for sink in sinks { sink.emit(event) } }
}

/// The outcome of a run: what `run` prints at the end and `--events json` reports.
public struct RunReport: Sendable {
    public var finished = 0
    public var skipped = 0
    public var bytes: Int64 = 0
    public var retries = 0
    public var seconds = 0.0
    public var failures: [(task: String, error: String)] = []
    /// Tasks not started because a dependency failed or the run stopped.
    public var notStarted = 0
    public var interrupted = false

    public init() {}

    public var succeeded: Bool { failures.isEmpty && !interrupted && notStarted == 0 }
}
