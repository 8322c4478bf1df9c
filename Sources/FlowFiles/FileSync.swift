import CFileSystem
import Foundation

/// Durability for group commit: write many `.part` files, rename them, then sync once.
///
/// Downloads never fsync on their own (a per-file fsync costs more than a small transfer).
public enum FileSync {
    /// Flushes the whole file system that holds `path` (syncfs): one call for a batch of thousands.
    /// Blocks until the disk has it: call it from a Dispatch queue, never the cooperative pool.
    public static func syncFileSystem(containing path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileSystemError(path: path, errno: errno) }
        defer { close(fd) }
        guard flow_syncfs(fd) == 0 else { throw FileSystemError(path: path, errno: errno) }
    }
}

extension FileSync {
    /// Writes `bytes` to `<path>.part` with plain writes, then renames it over `path`: readers see
    /// the old file or the new one, never a part. `fsync` flushes the file before the rename;
    /// without it the file is as durable as the downloads beside it (until the next sync).
    /// (Foundation's `Data.write` always fsyncs, and `createFile` writes a temporary of its own.)
    public static func replace(_ path: String, with bytes: [UInt8], fsync: Bool = false) throws(FileSystemError) {
        try replace(path, fsync: fsync) { (write) throws(FileSystemError) in try write(bytes) }
    }

    /// `replace(_:with:fsync:)` for content made piece by piece: `produce` hands each piece to
    /// `write` as it is made, so a big file is never whole in memory.
    public static func replace(_ path: String, fsync: Bool = false,
                               writing produce: (_ write: ([UInt8]) throws(FileSystemError) -> Void) throws(FileSystemError) -> Void)
        throws(FileSystemError) {
        let part = path + ".part"
        let fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileSystemError(path: part, errno: errno) }
        var failure: Int32 = 0
        func write(_ bytes: [UInt8]) throws(FileSystemError) {
            bytes.withUnsafeBytes { raw in
                var done = 0
                while done < raw.count {
                    let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                    if n < 0 {
                        if errno == EINTR { continue }
                        failure = errno
                        return
                    }
                    done += n
                }
            }
            if failure != 0 { throw FileSystemError(path: path, errno: failure) }
        }
        do {
            try produce(write)
        } catch {
            close(fd)
            unlink(part)
            throw error
        }
        if fsync, Glibc.fsync(fd) != 0 { failure = errno }
        if close(fd) != 0, failure == 0 { failure = errno }
        if failure == 0, rename(part, path) != 0 { failure = errno }
        guard failure == 0 else {
            unlink(part)
            throw FileSystemError(path: path, errno: failure)
        }
    }
}
