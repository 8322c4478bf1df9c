import FlowFiles
import Dispatch
import Foundation
import Synchronization

/// Group commit off the executor's workers: finished tasks go to the journal in batches on a
/// serial queue of their own, and a filesystem sync now and then marks them durable on another,
/// so neither SQLite nor the disk ever holds up the next transfer. Safe to call from any task.
///
/// Why it is safe to journal a file before it is synced: within one boot the page cache is
/// authoritative (a killed process loses nothing already written), and a crash or power cut
/// ends the boot. Records carry the boot id and a `durable` flag; `JournalState` re-hashes an
/// unsynced file of an earlier boot before trusting it.
final class JournalCommitter: Sendable {
    private typealias Moved = (taskID: String, bytes: Int64, resumed: Bool)

    private struct State {
        var records: [TaskRecord] = []
        var transfers: [Moved] = []
        var lastCommit = ContinuousClock.now
        var lastSync = ContinuousClock.now
        var wroteFiles = false
        var syncing = false
        var failures: [String] = []
    }

    private let journal: Journal
    /// Folders whose file systems hold the downloads (one sync per distinct folder).
    private let syncRoots: [String]
    private let batchSize: Int
    private let batchSeconds: Double
    private let syncSeconds: Double
    private let commits = DispatchQueue(label: "flowctl.journal.commit")
    private let syncs = DispatchQueue(label: "flowctl.journal.sync")
    private let state = Mutex(State())

    init(journal: Journal, syncRoots: [String], batchSize: Int, batchSeconds: Double, syncSeconds: Double) {
        self.journal = journal
        self.syncRoots = syncRoots
        self.batchSize = batchSize
        self.batchSeconds = batchSeconds
        self.syncSeconds = syncSeconds
    }

    /// Queues records of a finished task; commits when the batch is full or old enough.
    func add(_ new: [TaskRecord], transfer: (taskID: String, bytes: Int64, resumed: Bool)?, wroteFile: Bool) {
        let startSync = state.withLock { state in
            state.records += new
            if let transfer { state.transfers.append(transfer) }
            state.wroteFiles = state.wroteFiles || wroteFile
            let now = ContinuousClock.now
            if state.records.count >= batchSize || state.lastCommit.duration(to: now) > .seconds(batchSeconds) {
                // Queued under the lock, so that batches reach the journal in the order they were taken.
                let (batch, moved) = takeBatch(&state)
                commits.async { self.save(batch, moved) }
            }
            guard state.wroteFiles, !state.syncing, state.lastSync.duration(to: now) > .seconds(syncSeconds) else {
                return false
            }
            state.syncing = true
            state.lastSync = now
            state.wroteFiles = false
            return true
        }
        if startSync { syncInBackground() }
    }

    /// Commits everything queued and waits until it is in the journal (remote job ids must be
    /// recorded before anything depends on them).
    func commitNow() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            state.withLock { state in
                let (batch, moved) = takeBatch(&state)
                commits.async {
                    self.save(batch, moved)
                    continuation.resume()
                }
            }
        }
    }

    /// Commits what is left and waits for every commit; returns the failures of the whole run.
    /// A sync still running is not waited for: its records simply stay "not yet durable".
    func finish() async -> [String] {
        await commitNow()
        return state.withLock { $0.failures }
    }

    private func takeBatch(_ state: inout State) -> ([TaskRecord], [Moved]) {
        defer {
            state.records.removeAll(keepingCapacity: true)
            state.transfers.removeAll(keepingCapacity: true)
            state.lastCommit = .now
        }
        return (state.records, state.transfers)
    }

    private func save(_ batch: [TaskRecord], _ moved: [Moved]) {
        do { try journal.save(batch, transfers: moved) } catch { fail("cannot write the journal: \(error)") }
    }

    private func fail(_ message: String) { state.withLock { $0.failures.append(message) } }

    /// Syncs the output file systems, then marks what finished before the sync began durable.
    private func syncInBackground() {
        let start = Date().timeIntervalSince1970
        let roots = syncRoots
        syncs.async {
            var failed = false
            for root in roots where FileManager.default.fileExists(atPath: root) {
                do { try FileSync.syncFileSystem(containing: root) } catch {
                    failed = true
                    self.fail("cannot sync the files in \(root) to disk: \(error)")
                }
            }
            // Behind the commits queued so far, so that their rows exist when they are marked.
            self.commits.async { [failed] in
                if !failed {
                    do { try self.journal.markDurable(finishedBefore: start, boot: BootIdentity.current) }
                    catch { self.fail("cannot write the journal: \(error)") }
                }
                self.state.withLock { $0.syncing = false }
            }
        }
    }
}
