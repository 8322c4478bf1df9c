import Foundation
import Testing
import FlowModel
@testable import FlowExecutor

/// Shards write a journal each under one output root; `status`, `gather`, `lock` and a plain
/// run read them as one.
@Suite struct JournalSetTests {
    @Test func shardJournalsAreFoundAndMergedAsOne() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("journalset-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(try JournalSet.records(forRoot: root) == nil)
        let plain = try Journal(path: JournalSet.path(forRoot: root, shard: nil))
        try plain.save([TaskRecord(id: "a", action: "pull", kind: "download", state: .failed, finishedAt: 5)])
        for k in [10, 2] {
            let spec = try ShardSpec(index: k, count: 16)
            let path = JournalSet.path(forRoot: root, shard: spec)
            #expect(path.hasSuffix("/.flowctl/journal-shard-\(k)-of-16.sqlite"))
            #expect(JournalSet.shard(ofPath: path) == spec)
            let journal = try Journal(path: path)
            try journal.save([TaskRecord(id: k == 2 ? "a" : "b", action: "pull", kind: "download", state: .done, finishedAt: 1),
                              TaskRecord(id: "c\(k)", action: "pull", kind: "download", state: .done, finishedAt: 1)])
        }
        // The plain journal first, then the shards in number order (2 before 10).
        #expect(JournalSet.paths(forRoot: root).map { ($0 as NSString).lastPathComponent }
                == ["journal.sqlite", "journal-shard-2-of-16.sqlite", "journal-shard-10-of-16.sqlite"])
        let merged = try #require(try JournalSet.records(forRoot: root))
        #expect(Set(merged.keys) == ["a", "b", "c2", "c10"])
        #expect(merged["a"]?.state == .done)  // done in a shard beats failed later in the plain run
        let others = try #require(try JournalSet.records(forRoot: root, excluding: plain.path))
        #expect(others["a"]?.finishedAt == 1)
    }

    @Test func ofTwoAlikeTheLaterWins() {
        let early = TaskRecord(id: "x", action: "a", kind: "download", state: .done, sha256: "old", finishedAt: 1)
        let late = TaskRecord(id: "x", action: "a", kind: "download", state: .done, sha256: "new", finishedAt: 2)
        #expect(JournalSet.merge([["x": late], ["x": early]])["x"]?.sha256 == "new")
        #expect(JournalSet.merge([["x": early], ["x": late]])["x"]?.sha256 == "new")
        #expect(JournalSet.merge([]).isEmpty)
    }
}
