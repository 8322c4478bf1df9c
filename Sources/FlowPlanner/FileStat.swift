#if canImport(Glibc)
import Glibc
#endif

/// Tiny stat(2) helpers: planning 100,000 items must not pay Foundation's per-call cost.
public enum FileStat {
    /// Size of a regular file, or nil when there is none.
    public static func size(_ path: String) -> Int64? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int64(info.st_size)
    }

    /// Whether a folder is there.
    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }
}
