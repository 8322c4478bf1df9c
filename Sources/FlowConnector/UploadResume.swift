/// Where an upload keeps what a later process needs to continue it after a kill (a Grand
/// Challenge upload id, an Agora import package): the run's journal. Writes are durable when
/// they return, so a SIGKILL right after leaves them for the next run.
public protocol UploadResumeStore: Sendable {
    /// What was saved under `key`, if anything.
    func value(_ key: String) -> String?
    /// Saves `value` under `key` (nil: forgets it, once the upload completed or was abandoned).
    func set(_ key: String, _ value: String?)
}

/// The resume store of the upload running in this task (the executor sets it around `upload`).
public enum UploadResume {
    @TaskLocal public static var store: (any UploadResumeStore)?
}
