/// `<job>.lock.json`: the exact remote items a job's selections matched, pinned with sizes and
/// checksums, so that a pull can be reproduced and verified years later. Written pretty-printed
/// with sorted keys, so git diffs read well.
public struct LockFile: Codable, Sendable, Hashable {
    public static let currentFormatVersion = 1

    public var formatVersion: Int
    public var flowctlVersion: String
    public var job: JobIdentity
    public var sources: [String: LockedSource]
    public var selections: [String: LockedSelection]

    public struct JobIdentity: Codable, Sendable, Hashable {
        public var name: String
        /// sha256 of the job file's bytes when the lock was written.
        public var sha256: String
        public init(name: String, sha256: String) {
            self.name = name
            self.sha256 = sha256
        }
    }

    public struct LockedSource: Codable, Sendable, Hashable {
        public var type: String
        /// What the server said of itself (URL, version): never credentials.
        public var identity: [String: String]
        public init(type: String, identity: [String: String]) {
            self.type = type
            self.identity = identity
        }
    }

    public struct LockedSelection: Codable, Sendable, Hashable {
        public var source: String
        public var items: [LockedItem]
        public init(source: String, items: [LockedItem]) {
            self.source = source
            self.items = items
        }
    }

    /// One pinned item.
    public struct LockedItem: Codable, Sendable, Hashable {
        public var id: String
        public var url: String
        public var size: Int64?
        /// Algorithm -> lowercase hex; sha256 always, the server's digest where it gives one.
        public var checksums: [String: String]
        public var version: String?
        public var fields: [String: String]

        public init(_ item: RemoteItem) {
            id = item.id
            url = item.url
            size = item.size
            checksums = Dictionary(uniqueKeysWithValues: item.checksums.map { ($0.algorithm.rawValue, $0.value) })
            version = item.version
            fields = item.fields
        }

        /// The item as the executor fetches it, checksums included so every byte is verified.
        public func remoteItem(source: String) -> RemoteItem {
            RemoteItem(source: source, id: id, url: url, size: size,
                       checksums: checksums.compactMap { key, value in ChecksumAlgorithm(rawValue: key).map { Checksum($0, value) } }
                           .sorted { $0.algorithm < $1.algorithm },
                       version: version, fields: fields)
        }
    }

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", flowctlVersion = "flowctl_version", job, sources, selections
    }

    public init(flowctlVersion: String, job: JobIdentity, sources: [String: LockedSource],
                selections: [String: LockedSelection]) {
        self.formatVersion = LockFile.currentFormatVersion
        self.flowctlVersion = flowctlVersion
        self.job = job
        self.sources = sources
        self.selections = selections
    }

    /// The lock file's path for a job file: `jobs/x.yml` -> `jobs/x.lock.json`.
    public static func path(forJob jobPath: String) -> String {
        for suffix in [".yml", ".yaml"] where jobPath.hasSuffix(suffix) {
            return String(jobPath.dropLast(suffix.count)) + ".lock.json"
        }
        return jobPath + ".lock.json"
    }

    /// Items per selection, as the planner consumes them.
    public var items: [String: [RemoteItem]] {
        selections.mapValues { selection in selection.items.map { $0.remoteItem(source: selection.source) } }
    }
}

/// How the remote side differs from a lock: per selection, items added, removed and changed.
public struct Drift: Sendable, Hashable {
    public struct Change: Sendable, Hashable {
        public var selection: String
        public var id: String
        /// What differs: `size 10 -> 12`, `md5 ab.. -> cd..`.
        public var detail: String
    }

    public var added: [Change] = []
    public var removed: [Change] = []
    public var changed: [Change] = []

    public var isEmpty: Bool { added.isEmpty && removed.isEmpty && changed.isEmpty }

    public init() {}

    /// Compares listed items with the locked ones. Checksums compare only where both sides
    /// have the same algorithm (a listing rarely has sha256; the lock always does).
    public static func between(lock: LockFile, listed: [String: [RemoteItem]]) -> Drift {
        var drift = Drift()
        for name in Set(lock.selections.keys).union(listed.keys).sorted() {
            let locked = Dictionary(uniqueKeysWithValues: (lock.selections[name]?.items ?? []).map { ($0.id, $0) })
            let now = Dictionary((listed[name] ?? []).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            for id in now.keys.sorted() where locked[id] == nil {
                drift.added.append(Change(selection: name, id: id, detail: now[id]!.size.map { "\($0) bytes" } ?? ""))
            }
            for id in locked.keys.sorted() where now[id] == nil {
                drift.removed.append(Change(selection: name, id: id, detail: ""))
            }
            for id in locked.keys.sorted() {
                guard let old = locked[id], let new = now[id] else { continue }
                var details: [String] = []
                if let a = old.size, let b = new.size, a != b { details.append("size \(a) -> \(b)") }
                for checksum in new.checksums {
                    if let before = old.checksums[checksum.algorithm.rawValue], before != checksum.value {
                        details.append("\(checksum.algorithm.rawValue) \(before.prefix(12)) -> \(checksum.value.prefix(12))")
                    }
                }
                if let a = old.version, let b = new.version, a != b, details.isEmpty { details.append("version \(a) -> \(b)") }
                if !details.isEmpty { drift.changed.append(Change(selection: name, id: id, detail: details.joined(separator: ", "))) }
            }
        }
        return drift
    }

    /// `+ added`, `- removed`, `~ changed` lines and a count line.
    public var text: String {
        var lines: [String] = []
        for c in added { lines.append("  + \(c.selection): \(c.id)" + (c.detail.isEmpty ? "" : " (\(c.detail))")) }
        for c in removed { lines.append("  - \(c.selection): \(c.id)") }
        for c in changed { lines.append("  ~ \(c.selection): \(c.id) (\(c.detail))") }
        lines.append("drift against the lock: \(added.count) added, \(removed.count) removed, \(changed.count) changed")
        return lines.joined(separator: "\n") + "\n"
    }
}
