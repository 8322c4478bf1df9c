import Foundation
import FlowModel

/// The journals of one output root read as one: the journal of plain runs and one per shard
/// (`journal-shard-K-of-N.sqlite`). Shards on a cluster's shared file system each write a file
/// of their own, since SQLite written by several hosts at once over NFS or Lustre is unsafe;
/// `status`, `plan`, `lock`, `gather` and a plain `run` merge them.
public enum JournalSet {
    /// The journal a shard writes, beside the root's own.
    public static func path(forRoot root: String, shard: ShardSpec?) -> String {
        let plain = Journal.path(forRoot: root)
        guard let shard else { return plain }
        return String(plain.dropLast("journal.sqlite".count)) + "journal-\(shard.tag).sqlite"
    }

    /// Every journal file of a root that exists: the plain one first, then the shards' in name order.
    public static func paths(forRoot root: String) -> [String] {
        let plain = Journal.path(forRoot: root)
        let folder = (plain as NSString).deletingLastPathComponent
        let shards = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { $0.hasPrefix("journal-shard-") && $0.hasSuffix(".sqlite") }
            .sorted { shardOrder($0).lexicographicallyPrecedes(shardOrder($1)) }
            .map { folder + "/" + $0 }
        return (FileManager.default.fileExists(atPath: plain) ? [plain] : []) + shards
    }

    /// `journal-shard-10-of-16.sqlite` after `journal-shard-9-of-16.sqlite`.
    private static func shardOrder(_ name: String) -> [Int] {
        name.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
    }

    /// The shard a journal file belongs to (nil for the plain journal).
    public static func shard(ofPath path: String) -> ShardSpec? {
        let name = (path as NSString).lastPathComponent
        guard name.hasPrefix("journal-shard-") else { return nil }
        let numbers = shardOrder(name)
        guard numbers.count == 2 else { return nil }
        return try? ShardSpec(index: numbers[0], count: numbers[1])
    }

    /// The records of every journal of `root` as one (nil when there is none), leaving out the
    /// journal at `excluded` (the one a run has open itself).
    public static func records(forRoot root: String, excluding excluded: String? = nil) throws -> [String: TaskRecord]? {
        let paths = Self.paths(forRoot: root).filter { $0 != excluded }
        guard !paths.isEmpty else { return nil }
        return merge(try paths.compactMap { try Journal.existingRecords(at: $0) })
    }

    /// Merges journals' records by task id: a done record wins over an unfinished one, and of
    /// two alike the one finished (or started) later.
    public static func merge(_ journals: [[String: TaskRecord]]) -> [String: TaskRecord] {
        guard journals.count > 1 else { return journals.first ?? [:] }
        var merged = journals[0]
        for journal in journals.dropFirst() {
            for (id, record) in journal {
                guard let other = merged[id] else { merged[id] = record; continue }
                if prefer(record, over: other) { merged[id] = record }
            }
        }
        return merged
    }

    static func prefer(_ a: TaskRecord, over b: TaskRecord) -> Bool {
        if (a.state == .done) != (b.state == .done) { return a.state == .done }
        return (a.finishedAt ?? a.startedAt ?? 0) > (b.finishedAt ?? b.startedAt ?? 0)
    }
}
