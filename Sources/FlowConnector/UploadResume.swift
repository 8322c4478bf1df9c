import Synchronization

/// Where an upload keeps what a later process needs to continue it after a kill (a Grand
/// Challenge upload id, an Agora import package): the run's journal. Writes are durable when
/// they return, so a SIGKILL right after leaves them for the next run.
public protocol UploadResumeStore: Sendable {
    /// What was saved under `key`, if anything.
    func value(_ key: String) -> String?
    /// Saves `value` under `key` (nil: forgets it, once the upload completed or was abandoned).
    func set(_ key: String, _ value: String?)
}

/// A connector's resume store, given by the executor before the run's first task
/// (`Connector.resumeUploads(in:)`): connectors are made per run, so the slot is the run's.
public final class UploadResumeSlot: Sendable {
    private let slot = Mutex<(any UploadResumeStore)?>(nil)
    public init() {}
    public var store: (any UploadResumeStore)? {
        get { slot.withLock { $0 } }
    }
    public func use(_ store: any UploadResumeStore) { slot.withLock { $0 = store } }
}
