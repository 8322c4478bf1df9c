import CCurl
import Foundation

/// Durability helpers for group commit: write many `.part` files, rename them, then sync once.
///
/// Downloads never fsync on their own (a per-file fsync costs more than a small transfer).
public enum FileSync {
    /// fsyncs each path (files or directories) on a Dispatch thread, off the cooperative pool.
    public static func sync(_ paths: [String]) async throws {
        try await offPool {
            for path in paths {
                let fd = open(path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw HTTPError.fileSystem(path: path, errno: errno, message: errnoMessage(errno)) }
                defer { close(fd) }
                guard fsync(fd) == 0 else { throw HTTPError.fileSystem(path: path, errno: errno, message: errnoMessage(errno)) }
            }
        }
    }

    /// Flushes the whole file system that holds `path` (syncfs): one call for a batch of thousands.
    public static func syncFileSystem(containing path: String) async throws {
        try await offPool { try syncFileSystemBlocking(containing: path) }
    }

    /// `syncFileSystem` on the calling thread (a Dispatch queue's, never the cooperative pool's).
    public static func syncFileSystemBlocking(containing path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw HTTPError.fileSystem(path: path, errno: errno, message: errnoMessage(errno)) }
        defer { close(fd) }
        guard flow_syncfs(fd) == 0 else { throw HTTPError.fileSystem(path: path, errno: errno, message: errnoMessage(errno)) }
    }

    private static func offPool(_ work: @escaping @Sendable () throws -> Void) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            DispatchQueue.global().async {
                do {
                    try work()
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}
