import FlowConnector
#if canImport(Glibc)
import Glibc
#endif
import FlowHTTP
import FlowModel
import FlowPlanner

/// Why a task failed, as a value from the error to the report, the events and the exit status;
/// the words for people are rendered from it at the edge (`description`).
public struct TaskFailure: Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure, for machines (`--events json`) and for the summary's advice.
    public enum Kind: String, Sendable, Hashable {
        /// The network or the server's transport: refused, reset, cut, timed out.
        case transport
        /// The server answered an error status.
        case status
        /// Credentials refused.
        case authentication
        /// The bytes are not the listed bytes (size, digest) after the retries.
        case integrity
        /// The remote item changed or vanished since the lock file was written.
        case drift
        /// The server's reply made no sense (odd JSON, a hostile name, a refused redirect).
        case badReply = "bad-reply"
        /// The plan left the item out (an unsafe name, two items at one path, an unreadable listing).
        case notPlanned = "not-planned"
        /// This machine: a full disk, permissions, the journal.
        case local
        /// The platform or flowctl cannot do it.
        case unsupported
        /// A remote job (algorithm, task) ended in failure.
        case remoteJob = "remote-job"
    }

    /// The task, as `action/item id` (or what a user would look for).
    public var task: String
    public var kind: Kind
    /// The message: ours, bounded and escaped (`ErrorText`).
    public var message: String

    public init(task: String, kind: Kind, message: String) {
        self.task = task
        self.kind = kind
        self.message = ErrorText.clean(message)
    }

    /// The failure of `task` that `error` describes.
    public init(task: String, error: any Error) {
        let kind: Kind
        switch error {
        case let error as ConnectorError:
            switch error {
            case .status: kind = .status
            case .transport(let http, _):
                switch http {
                case .refusedRedirect, .unexpectedEncoding, .bodyTooLarge, .tooManyRedirects: kind = .badReply
                case .fileSystem: kind = .local
                default: kind = .transport
                }
            case .authentication: kind = .authentication
            case .badReply: kind = .badReply
            case .integrity: kind = .integrity
            case .changedUpstream: kind = .drift
            case .unsupported: kind = .unsupported
            case .local: kind = .local
            }
        case is HTTPError: kind = .transport
        case is RemoteJobFailed, is RemoteJobTimedOut: kind = .remoteJob
        default: kind = .local
        }
        self.init(task: task, kind: kind, message: "\(error)")
    }

    /// An item the plan left out.
    public init(_ problem: PlanProblem) {
        self.init(task: problem.task, kind: .notPlanned, message: problem.reason)
    }

    public var description: String { "\(task): \(message)" }

    /// Whether this machine ran out of room: a full disk or quota, a file-size limit, or SQLite
    /// finding the disk full (the system's own words, as the messages carry them).
    public var isOutOfSpace: Bool {
        guard kind == .local || kind == .transport else { return false }
        return message.contains("database or disk is full")
            || [ENOSPC, EDQUOT, EFBIG].contains { message.contains("\(String(cString: strerror($0))) (errno \($0))") }
    }
}
