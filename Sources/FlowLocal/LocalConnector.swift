import FlowFiles
import Foundation
import FlowConnector
import FlowModel

/// A folder as a source: its files are items (for uploads, tests and plans without a server),
/// and it can receive uploads (a copy into a sub-folder).
public struct LocalConnector: Connector {
    public let spec: SourceSpec
    /// The folder, absolute.
    public let root: String

    /// Folders that are flowctl's own bookkeeping, never data.
    static let ignoredNames: Set<String> = [".flowctl", ".git"]

    public init(spec: SourceSpec) {
        self.spec = spec
        var root = spec.url
        if root.hasPrefix("file://") { root.removeFirst("file://".count) }
        self.root = URL(fileURLWithPath: root).standardizedFileURL.path
    }

    public func list(_ selection: Selection) async throws -> [RemoteItem] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ConnectorError.local("local source `\(spec.name)`: no folder at \(root)")
        }
        let rootSlash = root.hasSuffix("/") ? root : root + "/"
        let source = spec.name
        // Each folder's items are made on the thread that read it.
        let folders = FolderWalk.regularFiles(under: root, ignoredNames: LocalConnector.ignoredNames) { folder, files in
            // The folder's URL, one string for its files: an item keeps its name, not its path.
            let folderURL = folder.isEmpty ? rootSlash : rootSlash + folder + "/"
            var items: [RemoteItem] = []
            items.reserveCapacity(files.count)
            for file in files where !file.name.hasSuffix(".part") {
                // The `file.*` fields come from the path when asked: no dictionary per file.
                let item = RemoteItem.file(source: source, folderURL: folderURL, folder: folder, name: file.name,
                                           size: file.size, version: LocalConnector.version(of: file))
                guard selection.accepts(field: { $0.hasPrefix("file.") ? item.field($0) : nil }) else { continue }
                items.append(item)
            }
            return items
        }
        var items: [RemoteItem] = []
        items.reserveCapacity(folders.reduce(0) { $0 + $1.count })
        // A folder's files come in name order, so its paths are in order: only where one folder's
        // files follow another's can the order break (a sub-folder's files after its folder's).
        var sorted = true
        for made in folders where !made.isEmpty {
            if sorted, let last = items.last, !(last.id < made[0].id) { sorted = false }
            items += made
        }
        // Mostly in order already (FolderWalk walks names in order): sorted only when not.
        if !sorted { items.sort { $0.id < $1.id } }
        return items
    }

    /// The modification time in microseconds stands in for an ETag: it tells a lock or the journal
    /// that a file changed. Computed through `Date` exactly as Foundation's resource values did,
    /// so that versions recorded by earlier releases still compare equal.
    static func version(of file: FoundFile) -> Int64 {
        let sinceReferenceDate = Double(file.modifiedSeconds) - Date.timeIntervalBetween1970AndReferenceDate
            + Double(file.modifiedNanoseconds) / 1_000_000_000
        let modified = Date(timeIntervalSinceReferenceDate: sinceReferenceDate)
        return Int64(modified.timeIntervalSince1970 * 1_000_000)
    }

    public func fetch(_ item: RemoteItem, to partPath: String, resume: Bool, unnamed: Bool,
                      progress: (@Sendable (Int64) -> Void)?) async throws -> FetchResult {
        do {
            let (bytes, digests) = try await FileDigest.copy(from: item.url, to: partPath, algorithms: [.sha256])
            progress?(bytes)
            return FetchResult(bytesTransferred: bytes, fileSize: bytes,
                               checksums: digests.map { Checksum(ChecksumAlgorithm(rawValue: $0.key.rawValue)!, $0.value) })
        } catch let error as FileSystemError {
            throw ConnectorError.local(error.description)
        }
    }

    /// Copies a file into `<root>/<into.path>/<relative path>`; identical files are left alone.
    public func upload(_ file: LocalFile, into destination: [String: String], overwrite: Bool) async throws -> UploadOutcome {
        var relative = file.relativePath
        if let folder = destination["path"], !folder.isEmpty { relative = folder + "/" + relative }
        let safe: String
        do { safe = try SafePath.relativePath(relative) } catch { throw ConnectorError.local("\(error)") }
        let target = root + "/" + safe
        let item = RemoteItem(source: spec.name, id: safe, url: target, size: file.size,
                              fields: ["file.path": safe, "file.name": (safe as NSString).lastPathComponent])
        if FileManager.default.fileExists(atPath: target) {
            let existing = try await FileDigest.compute(path: target)
            let incoming = try await FileDigest.compute(path: file.path)
            if existing[.sha256] == incoming[.sha256] { return UploadOutcome(item: item, transferred: false) }
            if !overwrite { throw ConnectorError.local("\(safe) exists with different content (set `overwrite: true`)") }
        }
        try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        let part = target + ".part"
        do {
            _ = try await FileDigest.copy(from: file.path, to: part)
            guard rename(part, target) == 0 else { throw ConnectorError.local(String(cString: strerror(errno))) }
        } catch {
            try? FileManager.default.removeItem(atPath: part)
            throw ConnectorError.local("cannot write \(target): \(error)")
        }
        return UploadOutcome(item: item, transferred: true)
    }

    public func identity() async throws -> [String: String] {
        ["type": "local", "path": root]
    }
}
