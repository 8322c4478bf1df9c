#if canImport(Glibc)
import Glibc
#endif

/// A local file operation failed (a full disk, permissions, a vanished folder).
public struct FileSystemError: Error, Sendable, Hashable, CustomStringConvertible {
    public var path: String
    public var errno: Int32
    public var message: String

    public init(path: String, errno: Int32, message: String) {
        self.path = path
        self.errno = errno
        self.message = message
    }

    /// The failure `code` (an errno) of an operation on `path`, in the system's words.
    public init(path: String, errno code: Int32) {
        self.init(path: path, errno: code, message: errnoMessage(code))
    }

    public var description: String { "\(path): \(message) (errno \(errno))" }
}

/// Digest algorithms computed while bytes stream to disk or are read back.
public enum DigestAlgorithm: String, Sendable, Hashable, CaseIterable, Codable {
    case md5, sha1, sha256
}

/// The system's words for an errno.
package func errnoMessage(_ code: Int32) -> String {
    String(cString: strerror(code))
}
