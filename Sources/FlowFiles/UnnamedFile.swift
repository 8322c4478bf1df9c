import CFileSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A downloaded file that has no name yet (Linux `O_TMPFILE`): it vanishes when dropped or when
/// the process dies, and `link(as:)` gives it its final name in one step.
///
/// Small downloads use it instead of a `.part` file: the inode is allocated without holding the
/// folder's lock, and one link replaces a create and a rename. `benchmarks/file-create.sh` on
/// this machine's ext4 (10,000 × 64 KiB, two threads as flowctl's pool has): plain create
/// 0.31 s, `.part` + rename 0.86 s, unnamed + link 0.52 s (with one thread the last two are
/// within noise of each other). A killed run leaves no `.part` behind; it loses at most the
/// small file's bytes, which a `.part` would hardly save anyway.
public final class UnnamedFile: Sendable {
    /// Bodies up to this size stay unnamed until the caller links them; a longer one (or one of
    /// unknown length) is named `<file>.part` as its first byte arrives, so a killed run resumes it.
    public static let sizeLimit: Int64 = 4 << 20

    private let descriptor: Mutex<Int32>
    /// The folder the file lives in (it can only be linked there).
    public let folder: String

    /// Opens a new unnamed file in `folder`; nil where the file system or kernel cannot
    /// (then the caller writes a named file), throws on any other failure.
    package static func create(in folder: String) throws(FileSystemError) -> (UnnamedFile, Int32)? {
        guard procFileDescriptors else { return nil }
        let fd = open(folder, flow_o_tmpfile() | O_RDWR | O_CLOEXEC, 0o644)
        if fd < 0 {
            // EOPNOTSUPP: the file system has no O_TMPFILE; EISDIR / EINVAL: an older kernel.
            if errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL { return nil }
            throw FileSystemError(path: folder, errno: errno)
        }
        return (UnnamedFile(fd: fd, folder: folder), fd)
    }

    /// Without `/proc` an unnamed file could not always be named (see `linkNow`): downloads then
    /// keep to `.part` files.
    private static let procFileDescriptors = access("/proc/self/fd", X_OK) == 0

    /// Whether `linkat(fd, "", AT_EMPTY_PATH)` works here: on Linux 6.10 and later for the user
    /// who opened the file, before that only with CAP_DAC_READ_SEARCH. It skips the walk through
    /// `/proc/self/fd` (a fifth of the link's kernel time on 10,000 small files).
    private static let emptyPathLinks = Atomic<Int8>(0)  // 0 unknown, 1 works, -1 does not

    private init(fd: Int32, folder: String) {
        descriptor = Mutex(fd)
        self.folder = folder
    }

    deinit {
        let fd = descriptor.withLock { $0 }
        if fd >= 0 { close(fd) }
    }

    /// Gives the file the name `path` (in `folder`) and closes it; an existing file at `path` is
    /// replaced atomically, as `rename` would.
    public func link(as path: String) throws(FileSystemError) {
        let fd = try release(linking: path)
        close(fd)
    }

    /// Gives the file the name `path` and hands its still open descriptor to the caller, who
    /// writes on and closes it.
    package func nameAndKeepOpen(as path: String) throws(FileSystemError) {
        _ = try release(linking: path)
    }

    /// Links the file as `path` and gives up the descriptor (closed here if the link fails).
    private func release(linking path: String) throws(FileSystemError) -> Int32 {
        let fd = descriptor.withLock { fd in
            defer { fd = -1 }
            return fd
        }
        guard fd >= 0 else { throw FileSystemError(path: path, errno: EBADF, message: "the unnamed file was already linked") }
        do {
            try Self.link(fd, as: path)
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    private static func link(_ fd: Int32, as path: String) throws(FileSystemError) {
        if linkNow(fd, as: path) == 0 { return }
        guard errno == EEXIST else { throw FileSystemError(path: path, errno: errno) }
        // A file is in the way (a changed remote file replaces the old copy): link under a
        // name of our own, then rename over it, so `path` is never missing or half written.
        let temporary = path + ".flowctl-\(UInt32.random(in: 0...UInt32.max))"
        guard linkNow(fd, as: temporary) == 0 else {
            throw FileSystemError(path: temporary, errno: errno)
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw FileSystemError(path: path, errno: code)
        }
    }

    /// `linkat` of the descriptor itself where the kernel allows it, else through
    /// `/proc/self/fd` (which needs no privilege); 0 or -1 with `errno` set.
    private static func linkNow(_ fd: Int32, as path: String) -> Int32 {
        let known = emptyPathLinks.load(ordering: .relaxed)
        if known >= 0 {
            if linkat(fd, "", AT_FDCWD, path, flow_at_empty_path()) == 0 {
                if known == 0 { emptyPathLinks.store(1, ordering: .relaxed) }
                return 0
            }
            // Once empty paths are known to work, a failure is about `path`. Before, ENOENT or
            // EPERM may be the kernel refusing the empty path: the link through `/proc` decides.
            guard known == 0, errno == ENOENT || errno == EPERM else { return -1 }
        }
        let result = linkThroughProc(fd, as: path)
        if result == 0 && known == 0 { emptyPathLinks.store(-1, ordering: .relaxed) }
        return result
    }

    /// The link that needs no privilege on any kernel with `/proc`.
    static func linkThroughProc(_ fd: Int32, as path: String) -> Int32 {
        linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, path, AT_SYMLINK_FOLLOW)
    }
}
