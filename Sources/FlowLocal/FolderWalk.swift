import FlowModel
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A regular file found by `FolderWalk`.
struct FoundFile {
    var name: String
    var size: Int64
    /// Modification time as `stat` gives it.
    var modifiedSeconds: Int64
    var modifiedNanoseconds: Int64
}

/// Walks a folder tree with `readdir` and one `fstatat` per regular file, the folders of one
/// depth read on all cores at once (`Parallel`): the `stat`s are most of a listing's cost, and
/// the kernel serves them on two cores as well as on one.
///
/// Foundation's enumerator makes a URL and a resource-value dictionary per entry, which costs
/// more than the listing itself on a tree of 100,000 files; this walk costs about what `find` does.
/// Symbolic links are never followed (a source is what is inside its folder), and folders that
/// cannot be read are passed over, as the enumerator did.
enum FolderWalk {
    /// One folder read: what `transform` made of its files, and where its sub-folders are in the
    /// next depth's list.
    private struct Read<T: Sendable>: Sendable {
        var made: [T]
        var subfolders: Range<Int> = 0..<0
    }

    /// What `transform` makes of each folder's regular files under `root` (an existing folder),
    /// folder by folder in walk order: a folder's files in name order, then its sub-folders, each
    /// walked whole, in name order (a tree whose files sit in its leaves comes out sorted).
    /// Entries whose name is in `ignoredNames` are neither entered nor reported. `transform`
    /// gets the folder (relative to `root`, `/`-separated, empty at the top) and runs on several
    /// threads at once; the result does not depend on how many.
    static func regularFiles<T: Sendable>(under root: String, ignoredNames: Set<String>,
                                          _ transform: @Sendable (_ folder: String, _ files: [FoundFile]) -> [T]) -> [[T]] {
        let rootSlash = root.hasSuffix("/") ? root : root + "/"
        // Depth by depth: each depth's folders are read at once, and say where their sub-folders
        // sit in the next depth's list.
        var depths: [[Read<T>]] = []
        var folders = [""]
        while !folders.isEmpty {
            let depth = folders
            let listed = Parallel.map(depth.count, minimumChunk: 4) { i -> ([T], [String]) in
                let (files, subfolders) = read(depth[i], root: root, rootSlash: rootSlash, ignoredNames: ignoredNames)
                return (transform(depth[i], files), subfolders)
            }
            var next: [String] = []
            depths.append(listed.map { made, subfolders in
                let start = next.count
                next += subfolders
                return Read(made: made, subfolders: start..<next.count)
            })
            folders = next
        }
        // Walk order: a folder, then each of its sub-folders' walks.
        var order: [[T]] = []
        order.reserveCapacity(depths.reduce(0) { $0 + $1.count })
        var pending = [(depth: 0, index: 0)]
        while let (depth, index) = pending.popLast() {
            let read = depths[depth][index]
            order.append(read.made)
            pending += read.subfolders.reversed().map { (depth + 1, $0) }
        }
        return order
    }

    /// The regular files of one folder (name order) and the paths of its sub-folders (name
    /// order); nothing when it cannot be read.
    private static func read(_ folder: String, root: String, rootSlash: String,
                             ignoredNames: Set<String>) -> (files: [FoundFile], subfolders: [String]) {
        // The root may be a link to a folder; a folder inside it may not (it could lead out).
        let descriptor = folder.isEmpty ? open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            : open(rootSlash + folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else { return ([], []) }
        guard let stream = fdopendir(descriptor) else {
            close(descriptor)
            return ([], [])
        }
        defer { closedir(stream) }
        var entries: [(name: String, type: UInt8)] = []
        while let entry = readdir(stream) {
            let name = entryName(entry)
            if name == "." || name == ".." || ignoredNames.contains(name) { continue }
            entries.append((name, entry.pointee.d_type))
        }
        entries.sort { $0.name < $1.name }
        let prefix = folder.isEmpty ? "" : folder + "/"
        var files: [FoundFile] = []
        files.reserveCapacity(entries.count)
        var subfolders: [String] = []
        for (name, listedType) in entries {
            var type = listedType
            var info = stat()
            if type == UInt8(DT_REG) || type == UInt8(DT_UNKNOWN) {
                // Relative to the open folder: no path lookup from the root per file.
                guard fstatat(descriptor, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
                type = fileType(info.st_mode)
            }
            if type == UInt8(DT_DIR) {
                subfolders.append(prefix + name)
            } else if type == UInt8(DT_REG) {
                let (seconds, nanoseconds) = modificationTime(info)
                files.append(FoundFile(name: name, size: Int64(info.st_size), modifiedSeconds: seconds,
                                       modifiedNanoseconds: nanoseconds))
            }
        }
        return (files, subfolders)
    }

    /// The entry's name. Names that are not valid UTF-8 are repaired (U+FFFD), as Foundation does.
    private static func entryName(_ entry: UnsafeMutablePointer<dirent>) -> String {
        withUnsafePointer(to: &entry.pointee.d_name) { tuple in
            tuple.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: tuple.pointee)) {
                String(cString: $0)
            }
        }
    }

    /// The `d_type` constant that matches a `stat` mode.
    private static func fileType(_ mode: mode_t) -> UInt8 {
        switch mode & S_IFMT {
        case S_IFDIR: return UInt8(DT_DIR)
        case S_IFREG: return UInt8(DT_REG)
        default: return UInt8(DT_UNKNOWN)
        }
    }

    private static func modificationTime(_ info: stat) -> (Int64, Int64) {
        #if canImport(Darwin)
        return (Int64(info.st_mtimespec.tv_sec), Int64(info.st_mtimespec.tv_nsec))
        #else
        return (Int64(info.st_mtim.tv_sec), Int64(info.st_mtim.tv_nsec))
        #endif
    }
}
