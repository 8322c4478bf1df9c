import FlowFiles
import Foundation
import FlowModel

/// `flowctl-manifest.json` in an output root: every file flowctl wrote there, with where it
/// came from (source, remote id), its checksums, the job, the flowctl version and the time.
/// `Verifier` re-hashes a tree against it.
public struct Manifest: Codable, Sendable {
    public static let fileName = "flowctl-manifest.json"
    public static let currentFormatVersion = 1

    public struct Entry: Codable, Sendable, Hashable {
        public var path: String
        public var source: String?
        public var remoteID: String?
        public var size: Int64?
        public var sha256: String?
        public var serverChecksum: String?
        public var downloadedAt: String?

        enum CodingKeys: String, CodingKey {
            case path, source, size, sha256
            case remoteID = "remote_id", serverChecksum = "server_checksum", downloadedAt = "downloaded_at"
        }
    }

    public var formatVersion: Int
    public var job: String
    public var flowctlVersion: String
    public var files: [Entry]

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", job, flowctlVersion = "flowctl_version", files
    }

    /// The manifest of the files written under `root`.
    public static func build(root: String, job: String, flowctlVersion: String, files written: some Sequence<WrittenFile>) -> Manifest {
        let prefix = root.hasSuffix("/") ? root : root + "/"
        var files = written.compactMap { file -> Entry? in
            guard file.destination.hasPrefix(prefix) else { return nil }
            return Entry(path: String(file.destination.dropFirst(prefix.count)), source: file.source, remoteID: file.remoteID,
                         size: file.size, sha256: file.sha256, serverChecksum: file.serverChecksum,
                         downloadedAt: file.finishedAt.map(Timestamp.iso8601))
        }
        files.sort { $0.path < $1.path }  // in place: no second array of 10,000 entries
        // One entry per path: the file there is the one written last (a journal from before
        // the plan refused shared paths may hold two writers of one path).
        if files.count > 1 {
            var unique: [Entry] = []
            unique.reserveCapacity(files.count)
            for entry in files {
                if let last = unique.last, last.path == entry.path {
                    if (entry.downloadedAt ?? "") >= (last.downloadedAt ?? "") { unique[unique.count - 1] = entry }
                } else {
                    unique.append(entry)
                }
            }
            files = unique
        }
        return Manifest(formatVersion: currentFormatVersion, job: job, flowctlVersion: flowctlVersion, files: files)
    }

    /// Writes `<root>/flowctl-manifest.json` through a rename, in pieces of 256 KiB (10,000
    /// entries are 3 MB of JSON). Not flushed on its own: like the downloads it lists, it reaches
    /// the disk with the next sync, and every run rewrites it.
    public func write(to root: String) throws {
        try FileSync.replace(root + "/" + Manifest.fileName) { (write) throws(FileSystemError) in
            try render(pieceSize: 256 << 10, to: write)
        }
    }

    /// The manifest as JSON, whole.
    func rendered() -> [UInt8] {
        var whole: [UInt8] = []
        render(pieceSize: .max) { whole += $0 }
        return whole
    }

    /// The manifest as JSON, as `JSONEncoder` writes it with `.prettyPrinted, .sortedKeys` (nil
    /// fields left out), in pieces of about `pieceSize` bytes. Written by hand because encoding
    /// 10,000 entries took 0.1 s.
    private func render<E: Error>(pieceSize: Int, to output: ([UInt8]) throws(E) -> Void) throws(E) {
        var json = JSONWriter(.pretty, reservingCapacity: min(pieceSize, 1024 + files.count * 320) + 4096)
        json.openObject()
        json.key("files")
        json.openArray()
        for file in files {
            json.openObject()  // keys in byte order
            if let value = file.downloadedAt { json.key("downloaded_at"); json.value(value) }
            json.key("path"); json.value(file.path)
            if let value = file.remoteID { json.key("remote_id"); json.value(value) }
            if let value = file.serverChecksum { json.key("server_checksum"); json.value(value) }
            if let value = file.sha256 { json.key("sha256"); json.value(value) }
            if let value = file.size { json.key("size"); json.value(value) }
            if let value = file.source { json.key("source"); json.value(value) }
            json.closeObject()
            if json.bytes.count >= pieceSize { try output(json.take()) }
        }
        json.closeArray()
        json.key("flowctl_version"); json.value(flowctlVersion)
        json.key("format_version"); json.value(formatVersion)
        json.key("job"); json.value(job)
        json.closeObject()
        try output(json.finish())
    }

    public static func read(from root: String) throws -> Manifest {
        let data = try Data(contentsOf: URL(fileURLWithPath: root + "/" + fileName))
        return try JSONDecoder().decode(Manifest.self, from: data)
    }
}

/// What a manifest says of a file a task wrote: the part of its `TaskRecord` worth keeping in
/// memory for the whole run (under half the size: for 10,000 files a 2 MB table instead of 4.6).
public struct WrittenFile: Sendable, Hashable {
    /// Absolute path of the file.
    public var destination: String
    public var source: String?
    public var remoteID: String?
    public var size: Int64?
    public var sha256: String?
    public var serverChecksum: String?
    public var finishedAt: Double?

    /// The file a task record says was written; nil unless the task is done and wrote one.
    public init?(_ record: TaskRecord) {
        guard record.state == .done, let destination = record.destination else { return nil }
        self.destination = destination
        source = record.source
        remoteID = record.remoteID
        size = record.size
        sha256 = record.sha256
        serverChecksum = record.serverChecksum
        finishedAt = record.finishedAt
    }
}

/// Re-hashes an output tree against its manifest: missing, changed and extra files.
public enum Verifier {
    public struct Report: Sendable {
        public var verified = 0
        public var missing: [String] = []
        public var changed: [String] = []
        public var extra: [String] = []
        public var isClean: Bool { missing.isEmpty && changed.isEmpty && extra.isEmpty }
    }

    public static func verify(root: String, manifest: Manifest, concurrency: Int = 4) async throws -> Report {
        var report = Report()
        // A manifest from elsewhere may name a path twice: the last entry counts.
        let expected = Dictionary(manifest.files.map { ($0.path, $0) }, uniquingKeysWith: { _, last in last })
        // Hash in bounded parallel batches: hashing is disk- and CPU-bound.
        let entries = expected.values.sorted { $0.path < $1.path }
        var index = 0
        while index < entries.count {
            let batch = entries[index..<min(index + concurrency * 4, entries.count)]
            index += batch.count
            let results = try await withThrowingTaskGroup(of: (String, String?).self) { group in
                for entry in batch {
                    group.addTask {
                        let path = root + "/" + entry.path
                        guard FileManager.default.fileExists(atPath: path) else { return (entry.path, nil) }
                        return (entry.path, try await FileDigest.compute(path: path)[.sha256])
                    }
                }
                return try await group.reduce(into: [(String, String?)]()) { $0.append($1) }
            }
            for (path, sha) in results {
                guard let sha else { report.missing.append(path); continue }
                if let want = expected[path]?.sha256, want != sha { report.changed.append(path) } else { report.verified += 1 }
            }
        }
        let rootURL = URL(fileURLWithPath: root)
        let prefix = rootURL.standardizedFileURL.path + "/"
        if let walker = FileManager.default.enumerator(at: rootURL, includingPropertiesForKeys: [.isRegularFileKey]) {
            while let url = walker.nextObject() as? URL {
                if url.lastPathComponent == ".flowctl" { walker.skipDescendants(); continue }
                guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
                let relative = String(url.standardizedFileURL.path.dropFirst(prefix.count))
                if relative == Manifest.fileName || expected[relative] != nil { continue }
                report.extra.append(relative)
            }
        }
        report.missing.sort(); report.changed.sort(); report.extra.sort()
        return report
    }
}
