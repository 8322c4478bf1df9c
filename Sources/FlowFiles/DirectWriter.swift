import CFileSystem
#if canImport(Glibc)
import Glibc
#endif

/// Writes new files around the page cache (`O_DIRECT`), one file at a time: the bytes gather in
/// an aligned buffer and go out in whole blocks; the last partial block of a file goes through
/// the page cache. For archive members, thousands of new files written once and not read back.
///
/// Why: a page-cache page for a new file is a fresh page of memory, and on a VM that hands freed
/// memory back to its host (virtio-balloon free page reporting, as on this machine) each one
/// costs a fault in the host. `benchmarks/archive-floor.sh`'s C program (3,030 new files of
/// ~130 KiB, 10 threads, O_TMPFILE + linkat as the extractor does): with fresh pages 1.1-1.3 s of
/// system time through the page cache, 0.24-0.29 s direct; with recycled pages 0.17-0.49 against
/// 0.17-0.28 (benchmarks/RESULTS.md). Direct, the data are on the disk when the run ends.
///
/// Only on local disk file systems (ext2/3/4, XFS, Btrfs: checked on the first file): on NFS or
/// Lustre a direct write is a synchronous round trip to the server, slower than the page cache.
/// Where the file system refuses `O_DIRECT` (at `start` or at the first write) the writer falls
/// back to plain writes for the rest of its life. One writer is used by one thread.
package final class DirectWriter {
    /// Alignment of the buffer, of file offsets and of write lengths: a page, which covers every
    /// logical block size Linux file systems ask for.
    static let block = 4096
    /// The buffer: a member of up to this size goes out in one direct write.
    package static let capacity = 1 << 20

    private let buffer: UnsafeMutableRawBufferPointer
    private var held = 0
    private var fd: Int32 = -1
    private var direct = false
    /// False once the file system refused direct writes (or when made so): plain writes from then on.
    private var usable: Bool
    /// Whether the file system of the first file was looked at.
    private var checked = false
    /// Bytes that went out direct since the writer was made (tests and profiles read it).
    package private(set) var directBytes: Int64 = 0

    package init(direct: Bool = true) {
        usable = direct
        buffer = .allocate(byteCount: Self.capacity, alignment: Self.block)
    }

    deinit { buffer.deallocate() }

    /// Starts the file open for writing on `fd` (a new, empty regular file; its offset at 0).
    package func start(_ fd: Int32) {
        self.fd = fd
        held = 0
        if usable && !checked {
            checked = true
            usable = Self.localDisk(fd)
        }
        direct = usable && setDirect(true)
        if !direct { usable = false }
    }

    /// Appends bytes to the file.
    package func write(_ bytes: UnsafeRawBufferPointer) throws(FileSystemError) {
        guard direct else { return try writeAll(bytes) }
        var offset = 0
        while offset < bytes.count {
            let n = min(bytes.count - offset, Self.capacity - held)
            (buffer.baseAddress! + held).copyMemory(from: bytes.baseAddress! + offset, byteCount: n)
            held += n
            offset += n
            if held == Self.capacity { try flush(final: false) }
        }
    }

    /// Writes out what is held; the file is whole once this returns. The caller closes `fd`.
    package func finish() throws(FileSystemError) {
        defer { discard() }
        if direct { try flush(final: true) }
    }

    /// Forgets the file (a member refused or abandoned): nothing held is written.
    package func discard() {
        held = 0
        direct = false
        fd = -1
    }

    /// The held bytes out: whole blocks direct; with `final`, the rest through the page cache.
    private func flush(final: Bool) throws(FileSystemError) {
        let whole = held & ~(Self.block - 1)
        var done = 0
        while done < whole && direct {
            let n = Glibc.write(fd, buffer.baseAddress! + done, whole - done)
            if n < 0 {
                if errno == EINTR { continue }
                // EINVAL: the file system took the flag but not these writes; the rest goes plainly.
                guard errno == EINVAL else { throw FileSystemError(path: "(fd \(fd))", errno: errno) }
                _ = setDirect(false)
                direct = false
                usable = false
                break
            }
            done += n
            directBytes += Int64(n)
        }
        if !direct || final {
            if direct { _ = setDirect(false) }
            direct = false
            try writeAll(UnsafeRawBufferPointer(rebasing: buffer[done..<held]))
        } else {
            // Only whole blocks went out: the rest (less than a block) moves to the front.
            let rest = held - done
            if rest > 0 { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + done, byteCount: rest) }
            held = rest
            return
        }
        held = 0
    }

    /// ext2/3/4, XFS, Btrfs (`statfs(2)`'s magic numbers).
    static let localDiskTypes: Set<Int> = [0xEF53, 0x5846_5342, 0x9123_683E]

    /// Whether `fd` is on a local disk file system, where direct writes pay off.
    static func localDisk(_ fd: Int32) -> Bool {
        localDiskTypes.contains(flow_file_system_type(fd))
    }

    private func setDirect(_ on: Bool) -> Bool {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0 else { return false }
        return fcntl(fd, F_SETFL, on ? flags | flow_o_direct() : flags & ~flow_o_direct()) == 0
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws(FileSystemError) {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystemError(path: "(fd \(fd))", errno: errno)
            }
            offset += n
        }
    }
}
