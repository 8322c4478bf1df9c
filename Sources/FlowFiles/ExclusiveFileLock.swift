import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive advisory lock on a file (`flock`), taken without waiting: what keeps two runs from
/// writing one output folder at once. The kernel drops it when the process ends, however it ends,
/// so a killed run leaves no stale lock; the file keeps only who held it last, for the message.
public final class ExclusiveFileLock: @unchecked Sendable {
    public let path: String
    // Written once in `acquire`; -1 once released.
    private var descriptor: Int32
    private let mutex = NSLock()

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    /// Why a lock was not taken.
    public enum Failure: Error, Sendable, Equatable {
        /// Another process (or another open of the file) holds it; `holder` is what that one wrote.
        case held(holder: String)
        /// The file or one of its folders cannot be made or opened.
        case fileSystem(FileSystemError)
    }

    /// Takes the lock at `path`, making the file and its folders; `holder` (who takes it: a pid,
    /// a host) is written into the file, for the message of whoever finds it held.
    public static func acquire(path: String, holder: String) throws(Failure) -> ExclusiveFileLock {
        do { try makeDirectories((path as NSString).deletingLastPathComponent) } catch { throw .fileSystem(error) }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .fileSystem(FileSystemError(path: path, errno: errno)) }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            defer { close(fd) }
            guard code == EWOULDBLOCK else { throw .fileSystem(FileSystemError(path: path, errno: code)) }
            throw .held(holder: readHolder(fd))
        }
        let bytes = Array((holder + "\n").utf8)
        _ = ftruncate(fd, 0)
        _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return ExclusiveFileLock(path: path, descriptor: fd)
    }

    /// Releases the lock (it is released anyway when the process ends).
    public func release() {
        mutex.lock(); defer { mutex.unlock() }
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// What the holder wrote, on one line and bounded (it is shown to the user).
    private static func readHolder(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        let text = String(decoding: buffer.prefix(max(0, count)), as: UTF8.self)
        let line = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        let printable = line.filter { !$0.isASCII || ($0.asciiValue! >= 0x20 && $0.asciiValue! < 0x7f) }
        return printable.isEmpty ? "holder unknown" : printable
    }

    /// `mkdir -p` that says which folder failed and why.
    private static func makeDirectories(_ path: String) throws(FileSystemError) {
        guard !path.isEmpty else { return }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { return }
            throw FileSystemError(path: path, errno: ENOTDIR)
        }
        try makeDirectories((path as NSString).deletingLastPathComponent)
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw FileSystemError(path: path, errno: errno) }
    }
}
