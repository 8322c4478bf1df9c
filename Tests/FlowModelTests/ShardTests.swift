import Testing
@testable import FlowModel

@Suite struct ShardTests {
    /// Items shaped as each platform lists them: several groups of uneven sizes, some groups in
    /// two selections, one source without sizes (LORIS gives none).
    static func items(_ type: SourceType, groups: Int, sized: Bool = true) -> [String: [RemoteItem]] {
        var a: [RemoteItem] = [], b: [RemoteItem] = []
        for g in 0..<groups {
            for f in 0..<(1 + (g * 7) % 5) {
                let group = "G\(g)"
                var fields: [String: String] = ["file.name": "f\(f).dat"]
                switch type {
                case .xnat: fields["subject.label"] = group; fields["experiment.label"] = group + "_MR1"
                case .loris: fields["candidate.CandID"] = String(100_000 + g); fields["visit.label"] = "PREBL00"
                case .grandChallenge: fields["image.name"] = group + ".mha"
                case .agora: fields["exam.name"] = group
                case .local, .http: fields["file.path"] = group + "/f\(f).dat"
                }
                let item = RemoteItem(source: "s", id: "\(group)/\(f)", url: "https://h/\(g)/\(f)",
                                      size: sized ? Int64(1000 * (g % 9 + 1) + f) : nil, fields: fields)
                if f % 3 == 2 { b.append(item) } else { a.append(item) }
            }
        }
        return ["a": a, "b": b]
    }

    @Test(arguments: SourceType.allCases)
    func shardsAreDisjointAndCoverEverything(type: SourceType) throws {
        for sized in [true, false] {
            let all = Self.items(type, groups: 23, sized: sized)
            let everything = Set(all.values.joined().map(\.id))
            for n in 1...16 {
                var seen: [String: Int] = [:]
                var groupShard: [String: Int] = [:]
                for k in 0..<n {
                    let part = ShardPartition.part(all, shard: try ShardSpec(index: k, count: n), types: ["s": type])
                    #expect(part.groups == 23)
                    #expect(Set(part.items.keys) == ["a", "b"])
                    for item in part.items.values.joined() {
                        seen[item.id, default: 0] += 1
                        // A group (subject, candidate...) lives in one shard only, across selections.
                        let group = ShardPartition.key(of: item, type: type)
                        #expect(groupShard[group, default: k] == k, "group \(group) split at N=\(n)")
                        groupShard[group] = k
                    }
                }
                #expect(Set(seen.keys) == everything, "N=\(n): not covered")
                #expect(seen.values.allSatisfy { $0 == 1 }, "N=\(n): an item in two shards")
            }
        }
    }

    @Test func greedyBalancesBytesDeterministically() {
        let weights: [String: Int64] = ["a": 10, "b": 9, "c": 8, "d": 2, "e": 1, "f": 1]
        let shards = ShardPartition.assign(weights: weights, count: 3)
        // Largest first onto the lightest: a->0, b->1, c->2, d->2 (8), e->1 (9), f->1? no: 0 is 10, 1 is 10, 2 is 10 -> f->0.
        #expect(shards == ["a": 0, "b": 1, "c": 2, "d": 2, "e": 1, "f": 0])
        #expect(ShardPartition.assign(weights: weights, count: 3) == shards)
        var load = [Int64](repeating: 0, count: 3)
        for (k, s) in shards { load[s] += weights[k]! }
        #expect(load.max()! - load.min()! <= 1)
    }

    /// A candidate holding most of the bytes would bound the run: it is cut into its visits
    /// (each visit whole, so its metadata is asked once), and the shards come out balanced; a
    /// heavy Grand Challenge image, which has no level below it, stays whole.
    @Test func aGroupOverItsShareIsCutIntoVisitsNotFiles() throws {
        var items: [RemoteItem] = []
        for (cand, visits) in [("100", 4), ("200", 2)] {
            for v in 0..<visits {
                for f in 0..<3 {
                    items.append(RemoteItem(source: "s", id: "\(cand)/V\(v)/\(f)", url: "u", size: 1000 + Int64(f),
                                            fields: ["candidate.CandID": cand, "visit.label": "V\(v)", "file.name": "f\(f).mnc"]))
                }
            }
        }
        let total = items.reduce(0) { $0 + $1.size! }
        var visitShard: [String: Int] = [:]
        var loads: [Int64] = []
        for k in 0..<2 {
            let part = ShardPartition.part(["x": items], shard: try ShardSpec(index: k, count: 2), types: ["s": .loris])
            #expect(part.groups == 2 && part.cutGroups == 1 && part.units == 5)
            loads.append(part.items["x"]!.reduce(0) { $0 + $1.size! })
            for item in part.items["x"]! {
                let visit = item.fields["candidate.CandID"]! + "/" + item.fields["visit.label"]!
                #expect(visitShard[visit, default: k] == k, "visit \(visit) in two shards")
                visitShard[visit] = k
            }
        }
        // Whole candidates: 12 files against 6. Candidate 100 cut into its visits: 9 and 9.
        #expect(loads.reduce(0, +) == total && loads.max()! == total / 2, "\(loads)")
        #expect(Set(items.filter { $0.fields["candidate.CandID"] == "100" }.map { visitShard["100/" + $0.fields["visit.label"]!]! }).count == 2)

        // Without sizes (count only) nothing is cut.
        let unsized = items.map { RemoteItem(source: $0.source, id: $0.id, url: $0.url, size: nil, fields: $0.fields) }
        #expect(ShardPartition.part(["x": unsized], shard: try ShardSpec(index: 0, count: 2), types: ["s": .loris]).cutGroups == 0)

        let images = ["big": 10_000, "a": 10, "b": 10, "c": 10].map { name, size in
            RemoteItem(source: "s", id: name, url: "u", size: Int64(size), fields: ["image.name": name + ".mha", "file.name": name + ".mha"])
        }
        let gc = ShardPartition.part(["x": images], shard: try ShardSpec(index: 0, count: 2), types: ["s": .grandChallenge])
        #expect(gc.cutGroups == 0 && gc.units == 4)
    }

    @Test func anotherFieldCanKeyTheShards() throws {
        let items = ["x": (0..<6).map { RemoteItem(source: "s", id: "\($0)", url: "u", size: 1,
                                                    fields: ["subject.label": "S\($0)", "subject.site": $0 < 3 ? "MTL" : "TOR"]) }]
        for k in 0..<2 {
            let part = ShardPartition.part(items, shard: try ShardSpec(index: k, count: 2), types: ["s": .xnat], field: "subject.site")
            #expect(part.groups == 2)
            #expect(Set(part.items["x"]!.map { $0.fields["subject.site"]! }).count == 1)
        }
    }

    @Test func specsParseAndBadOnesSayWhy() throws {
        let spec = try ShardSpec(parsing: "3/4", environment: [:])
        #expect(spec.index == 3 && spec.count == 4 && spec.tag == "shard-3-of-4" && spec.description == "3/4")
        #expect(try ShardSpec(parsing: "auto/8", environment: ["SLURM_ARRAY_TASK_ID": "5"]).index == 5)
        #expect(try ShardSpec(parsing: "auto/8", environment: ["JOB_COMPLETION_INDEX": "2"]).index == 2)
        #expect(try ShardSpec(parsing: "auto/8", environment: ["MY_INDEX": "7", "SLURM_ARRAY_TASK_ID": "1"], indexVariable: "MY_INDEX").index == 7)
        func message(_ text: String, _ env: [String: String] = [:]) -> String {
            do { _ = try ShardSpec(parsing: text, environment: env); return "" } catch { return error.description }
        }
        #expect(message("4/4").contains("out of range"))
        #expect(message("-1/4").contains("out of range"))
        #expect(message("0/0").contains("at least 1"))
        #expect(message("1").contains("want K/N"))
        #expect(message("a/4").contains("want K/N"))
        #expect(message("auto/4").contains("SLURM_ARRAY_TASK_ID"))
        #expect(message("auto/4", ["SLURM_ARRAY_TASK_ID": "9"]).contains("out of range"))
    }

    @Test func moreShardsThanGroupsLeavesSomeEmpty() throws {
        let all = Self.items(.xnat, groups: 3)
        var empty = 0
        for k in 0..<5 {
            let part = ShardPartition.part(all, shard: try ShardSpec(index: k, count: 5), types: ["s": .xnat])
            if part.items.values.allSatisfy(\.isEmpty) { empty += 1 }
        }
        #expect(empty == 2)
    }
}
