import CCurl
import Foundation

/// Durability for group commit: write many `.part` files, rename them, then sync once.
///
/// Downloads never fsync on their own (a per-file fsync costs more than a small transfer).
public enum FileSync {
    /// Flushes the whole file system that holds `path` (syncfs): one call for a batch of thousands.
    /// Blocks until the disk has it: call it from a Dispatch queue, never the cooperative pool.
    public static func syncFileSystem(containing path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw HTTPError.fileSystem(path: path, errno: errno, message: errnoMessage(errno)) }
        defer { close(fd) }
        guard flow_syncfs(fd) == 0 else { throw HTTPError.fileSystem(path: path, errno: errno, message: errnoMessage(errno)) }
    }
}
