import Foundation
import FlowModel

/// Shows a run's progress on stderr: on a terminal a live display redrawn 4 times a second
/// (files, bytes, rate, ETA, active transfers); elsewhere a plain line every few seconds.
public final class ProgressDisplay: EventSink, @unchecked Sendable {
    private let lock = NSLock()
    private let live: Bool
    private let interval: Double
    private var totalTasks = 0
    private var totalBytes: Int64 = 0
    private var doneTasks = 0
    private var doneBytes: Int64 = 0
    private var failed = 0
    private var retries = 0
    private var active: [String: (name: String, bytes: Int64, size: Int64?)] = [:]
    private var start = Date()
    private var lastDraw = Date.distantPast
    private var drawnLines = 0
    private let write: @Sendable (String) -> Void

    /// `live`: redraw in place (a terminal). `write` receives text for stderr.
    public init(live: Bool, interval: Double? = nil,
                write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.live = live
        self.interval = interval ?? (live ? 0.25 : 5)
        self.write = write
    }

    public func emit(_ event: ExecutionEvent) {
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case .runStarted(let tasks, let skipped, let bytes):
            totalTasks = tasks - skipped
            totalBytes = bytes
            start = Date()
            // In a log the first line comes after `interval`, not at once: "0/0 tasks  0 B  0 B/s"
            // on a re-run with nothing to do, or "0/2 tasks" before a run of a second, says nothing.
            if !live { lastDraw = start }
        case .taskStarted(let task):
            if task.kind != .wait {
                active[task.id] = (task.item?.field("file.name") ?? task.item?.id ?? task.id, 0, task.item?.size)
            }
        case .progress(let id, let bytes):
            if let entry = active[id] {
                doneBytes += bytes - entry.bytes
                active[id] = (entry.name, bytes, entry.size)
            }
        case .retried(let task, _, _, let reason):
            retries += 1
            if !live { write("retry \(task.id): \(reason)\n") }
            if let entry = active[task.id] { doneBytes -= entry.bytes; active[task.id] = (entry.name, 0, entry.size) }
        case .taskFinished(let task, let bytes):
            doneTasks += 1
            if let entry = active.removeValue(forKey: task.id) { doneBytes += bytes - entry.bytes }
        case .taskSkipped:
            break
        case .taskFailed(let task, let failure):
            doneTasks += 1
            failed += 1
            if let entry = active.removeValue(forKey: task.id) { doneBytes -= entry.bytes }
            clear()
            write("failed \(task.id): \(failure.message)\n")
        case .notPlanned(let failure):
            failed += 1
            clear()
            write("failed \(failure)\n")
        case .renamed(let task, let renames):
            clear()
            write("warning: \(task.id): \(renames.joined(separator: "; "))\n")
        case .warning(let task, let message):
            clear()
            write("warning: \(task.id): \(message)\n")
        case .runFinished:
            clear()
            return
        }
        let now = Date()
        if now.timeIntervalSince(lastDraw) >= interval {
            lastDraw = now
            draw(now)
        }
    }

    /// The one-line summary: `120/400 files  1.2 GiB/4.0 GiB  85.0 MiB/s  ETA 0:34`.
    func statusLine(_ now: Date) -> String {
        let seconds = max(now.timeIntervalSince(start), 0.001)
        let rate = Double(doneBytes) / seconds
        var line = "\(doneTasks)/\(totalTasks) tasks  \(Quantities.formatBytes(doneBytes))"
        if totalBytes > 0 { line += "/\(Quantities.formatBytes(totalBytes))" }
        line += "  \(Quantities.formatBytes(Int64(rate)))/s"
        if totalBytes > doneBytes, rate > 0 { line += "  ETA \(Self.clock((Double(totalBytes - doneBytes)) / rate))" }
        if retries > 0 { line += "  \(retries) retries" }
        if failed > 0 { line += "  \(failed) failed" }
        return line
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600):\(String(format: "%02d:%02d", s / 60 % 60, s % 60))" : "\(s / 60):\(String(format: "%02d", s % 60))"
    }

    private func draw(_ now: Date) {
        guard live else {
            write(statusLine(now) + "\n")
            return
        }
        var lines = [statusLine(now)]
        for (_, entry) in active.sorted(by: { $0.key < $1.key }).prefix(5) {
            let size = entry.size.map { "/" + Quantities.formatBytes($0) } ?? ""
            lines.append("  \(entry.name.prefix(60))  \(Quantities.formatBytes(entry.bytes))\(size)")
        }
        clear()
        write(lines.joined(separator: "\n") + "\n")
        drawnLines = lines.count
    }

    private func clear() {
        guard live, drawnLines > 0 else { return }
        write(String(repeating: "\u{1B}[1A\u{1B}[2K", count: drawnLines))
        drawnLines = 0
    }
}
