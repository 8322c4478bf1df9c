import Dispatch
import Foundation
import FlowHTTP

/// Group commit off the executor's loop: finished tasks go to the journal in batches on a
/// serial queue of their own, and a filesystem sync now and then marks them durable on another,
/// so neither SQLite nor the disk ever holds up the next transfer.
///
/// Why it is safe to journal a file before it is synced: within one boot the page cache is
/// authoritative (a killed process loses nothing already written), and a crash or power cut
/// ends the boot. Records carry the boot id and a `durable` flag; `JournalState` re-hashes an
/// unsynced file of an earlier boot before trusting it.
final class JournalCommitter: @unchecked Sendable {
    private let journal: Journal
    /// Folders whose file systems hold the downloads (one sync per distinct folder).
    private let syncRoots: [String]
    private let batchSize: Int
    private let batchSeconds: Double
    private let syncSeconds: Double
    private let commits = DispatchQueue(label: "flowctl.journal.commit")
    private let syncs = DispatchQueue(label: "flowctl.journal.sync")

    // Loop-only state (the executor's loop is one task).
    private var records: [TaskRecord] = []
    private var transfers: [(taskID: String, bytes: Int64, resumed: Bool)] = []
    private var lastCommit = ContinuousClock.now
    private var lastSync = ContinuousClock.now
    private var wroteFiles = false

    // Shared with the queues.
    private let lock = NSLock()
    private var failures: [String] = []
    private var syncing = false

    init(journal: Journal, syncRoots: [String], batchSize: Int, batchSeconds: Double, syncSeconds: Double) {
        self.journal = journal
        self.syncRoots = syncRoots
        self.batchSize = batchSize
        self.batchSeconds = batchSeconds
        self.syncSeconds = syncSeconds
    }

    /// Queues records of a finished task; commits when the batch is full or old enough.
    func add(_ new: [TaskRecord], transfer: (taskID: String, bytes: Int64, resumed: Bool)?, wroteFile: Bool) {
        records += new
        if let transfer { transfers.append(transfer) }
        wroteFiles = wroteFiles || wroteFile
        if records.count >= batchSize || lastCommit.duration(to: .now) > .seconds(batchSeconds) { commitInBackground() }
        if wroteFiles, lastSync.duration(to: .now) > .seconds(syncSeconds) { syncInBackground() }
    }

    /// Commits everything queued and waits until it is in the journal (remote job ids must be
    /// recorded before anything depends on them).
    func commitNow() async {
        let (batch, moved) = takeBatch()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            commits.async {
                self.save(batch, moved)
                continuation.resume()
            }
        }
    }

    /// Commits what is left and waits for every commit; returns the failures of the whole run.
    /// A sync still running is not waited for: its records simply stay "not yet durable".
    func finish() async -> [String] {
        await commitNow()
        return lock.withLock { failures }
    }

    private func takeBatch() -> ([TaskRecord], [(taskID: String, bytes: Int64, resumed: Bool)]) {
        defer {
            records.removeAll(keepingCapacity: true)
            transfers.removeAll(keepingCapacity: true)
            lastCommit = .now
        }
        return (records, transfers)
    }

    private func commitInBackground() {
        let (batch, moved) = takeBatch()
        commits.async { self.save(batch, moved) }
    }

    private func save(_ batch: [TaskRecord], _ moved: [(taskID: String, bytes: Int64, resumed: Bool)]) {
        do { try journal.save(batch, transfers: moved) }
        catch { lock.withLock { failures.append("cannot write the journal: \(error)") } }
    }

    /// Syncs the output file systems, then marks what finished before the sync began durable.
    private func syncInBackground() {
        let alreadySyncing = lock.withLock {
            defer { syncing = true }
            return syncing
        }
        guard !alreadySyncing else { return }
        lastSync = .now
        wroteFiles = false
        let start = Date().timeIntervalSince1970
        let roots = syncRoots
        syncs.async {
            var failed = false
            for root in roots where FileManager.default.fileExists(atPath: root) {
                do { try FileSync.syncFileSystem(containing: root) } catch {
                    failed = true
                    self.lock.withLock { self.failures.append("cannot sync the files in \(root) to disk: \(error)") }
                }
            }
            // Behind the commits queued so far, so that their rows exist when they are marked.
            self.commits.async { [failed] in
                if !failed {
                    do { try self.journal.markDurable(finishedBefore: start, boot: BootIdentity.current) }
                    catch { self.lock.withLock { self.failures.append("cannot write the journal: \(error)") } }
                }
                self.lock.withLock { self.syncing = false }
            }
        }
    }
}
