import FlowFiles
import FlowModel
import FlowPlanner

/// Completed work as the journal and the disk tell it: the planner marks these tasks skipped.
public struct JournalState: CompletedWork {
    public let records: [String: TaskRecord]
    /// The boot this process runs in (see `BootIdentity`).
    public let boot: String?

    public init(records: [String: TaskRecord], boot: String? = BootIdentity.current) {
        self.records = records
        self.boot = boot
    }

    /// Only what the journal records as done is skipped. A file on disk that the journal does
    /// not know (a run killed before its journal batch) is planned: the executor checks it
    /// against the listing and journals it (it reaches the manifest) instead of fetching it again.
    public func skipReason(for task: PlannedTask) -> String? {
        guard let record = records[task.id], record.state == .done else { return nil }
        return journaledSkipReason(for: task, record: record)
    }

    /// Why a task the journal knows is to do again, said by `plan` (`2 to do again: ...`):
    /// asked only of tasks not skipped.
    public func redoReason(for task: PlannedTask) -> String? {
        guard !records.isEmpty, let record = records[task.id] else { return nil }
        switch record.state {
        case .failed: return "failed in an earlier run"
        case .running: return "begun in an earlier run that stopped; resumes"
        case .done: break
        }
        switch task.kind {
        case .download, .downloadExtra:
            guard let destination = task.destination, let size = FileStat.size(destination) else {
                return "done in an earlier run, missing on disk now"
            }
            if let item = task.item, task.kind == .download {
                let sizeChanged = item.size != nil && record.size != nil && item.size != record.size
                let versionChanged = item.version != nil && record.remoteVersion != nil && item.version != record.remoteVersion
                let digestChanged = item.checksums.contains { checksum in
                    checksum.algorithm == .sha256 ? record.sha256.map { $0 != checksum.value } ?? false
                        : record.serverChecksum.map { $0.hasPrefix(checksum.algorithm.rawValue + ":")
                            && $0 != "\(checksum.algorithm.rawValue):\(checksum.value)" } ?? false
                }
                if sizeChanged || versionChanged || digestChanged { return "changed upstream since an earlier run fetched it" }
            }
            if let recorded = record.size ?? task.item?.size, recorded != size {
                return "done in an earlier run, another size on disk now"
            }
            return "done in an earlier run, not synced before a restart and its bytes differ now"
        case .convert:
            if let fingerprint = task.parameters["fingerprint"], record.remoteVersion != fingerprint {
                return "its DICOM files changed since an earlier run converted them"
            }
            return "converted in an earlier run, its image is missing now"
        default:
            return nil
        }
    }

    private func journaledSkipReason(for task: PlannedTask, record: TaskRecord) -> String? {
        switch task.kind {
        case .download, .downloadExtra:
            guard let destination = task.destination, let size = FileStat.size(destination) else { return nil }
            if let recorded = record.size, recorded != size { return nil }
            if let item = task.item, task.kind == .download {
                if let expected = item.size, expected != size { return nil }
                if let version = item.version, let old = record.remoteVersion, version != old { return nil }
                for checksum in item.checksums where checksum.algorithm != .sha256 {
                    if let old = record.serverChecksum, old.hasPrefix(checksum.algorithm.rawValue + ":"),
                       old != "\(checksum.algorithm.rawValue):\(checksum.value)" { return nil }
                }
                if let sha = item.checksum(.sha256), let old = record.sha256, sha != old { return nil }
            }
            if !survivedSinceWritten(record, at: destination) { return nil }
            return "downloaded in an earlier run, unchanged"
        case .upload: return "uploaded in an earlier run"
        case .tag: return "tagged in an earlier run"
        case .run: return "started in an earlier run"
        case .wait: return "finished in an earlier run"
        case .downloadOutputs: return "outputs downloaded in an earlier run"
        // The planner keeps this only while every file of it not journaled yet is on disk at its
        // listed size (a run killed between the archive's record and its files' records).
        case .downloadArchive: return "fetched in an earlier run"
        case .convert:
            // Converted from the same inputs, and its image is still there.
            guard let fingerprint = task.parameters["fingerprint"], record.remoteVersion == fingerprint,
                  let destination = task.destination, FileStat.size(destination) != nil else { return nil }
            return "converted in an earlier run, inputs unchanged"
        // Never journaled: the planner skips a barrier when everything it waits for is skipped.
        case .barrier: return nil
        }
    }

    /// Whether a downloaded file still holds what was written. Synced files, and files of this
    /// boot (a killed process loses nothing the kernel has), are trusted; an unsynced file of an
    /// earlier boot may have lost its last writes in a crash, so its sha256 is checked again.
    func survivedSinceWritten(_ record: TaskRecord, at destination: String) -> Bool {
        if record.durable { return true }
        if let boot, record.bootID == boot { return true }
        guard let expected = record.sha256,
              let digests = try? FileDigest.computeBlocking(path: destination) else { return false }
        return digests[.sha256] == expected
    }
}
