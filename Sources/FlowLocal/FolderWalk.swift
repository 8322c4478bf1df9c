#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A regular file found by `FolderWalk`.
struct FoundFile {
    /// Path below the walked folder, `/`-separated.
    var relativePath: String
    var name: String
    /// The folder part of `relativePath`, empty at the top.
    var folder: String
    var size: Int64
    /// Modification time as `stat` gives it.
    var modifiedSeconds: Int64
    var modifiedNanoseconds: Int64
}

/// Walks a folder tree with `readdir` and one `fstatat` per regular file.
///
/// Foundation's enumerator makes a URL and a resource-value dictionary per entry, which costs
/// more than the listing itself on a tree of 100,000 files; this walk costs about what `find` does.
/// Symbolic links are never followed (a source is what is inside its folder), and folders that
/// cannot be read are passed over, as the enumerator did.
enum FolderWalk {
    /// Calls `found` for every regular file under `root` (an existing folder), without entering
    /// or reporting entries whose name is in `ignoredNames`. Each folder's entries come in name
    /// order and its sub-folders are walked in that order after its files, so a tree whose files
    /// sit in its leaves comes out sorted (and sorting it again costs one pass).
    static func regularFiles(under root: String, ignoredNames: Set<String>, _ found: (FoundFile) -> Void) {
        let rootSlash = root.hasSuffix("/") ? root : root + "/"
        // Folders still to read, relative to `root` ("" is the root itself); the next one last.
        var pending = [""]
        while let folder = pending.popLast() {
            // The root may be a link to a folder; a folder inside it may not (it could lead out).
            let descriptor = folder.isEmpty ? open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                : open(rootSlash + folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard descriptor >= 0 else { continue }
            guard let stream = fdopendir(descriptor) else { close(descriptor); continue }
            defer { closedir(stream) }
            var entries: [(name: String, type: UInt8)] = []
            while let entry = readdir(stream) {
                let name = entryName(entry)
                if name == "." || name == ".." || ignoredNames.contains(name) { continue }
                entries.append((name, entry.pointee.d_type))
            }
            entries.sort { $0.name < $1.name }
            let prefix = folder.isEmpty ? "" : folder + "/"
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
                    found(FoundFile(relativePath: prefix + name, name: name, folder: folder, size: Int64(info.st_size),
                                    modifiedSeconds: seconds, modifiedNanoseconds: nanoseconds))
                }
            }
            pending.append(contentsOf: subfolders.reversed())
        }
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
