/// One part of a job split across the tasks of an array engine (Slurm, Kubernetes Indexed
/// Jobs, HTCondor): part `index`, counted from 0 as Slurm's array index is, of `count`.
public struct ShardSpec: Sendable, Hashable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    /// Environment variables that carry an array task's index, in the order they are read
    /// by `auto/N`: Slurm's, Kubernetes' Indexed Jobs', and flowctl's own (for HTCondor's
    /// `$(Process)` or any other engine).
    public static let indexVariables = ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX", "FLOWCTL_SHARD_INDEX"]

    public init(index: Int, count: Int) throws(ShardError) {
        guard count >= 1 else { throw ShardError("a shard count must be at least 1 (got \(count))") }
        guard index >= 0 && index < count else {
            throw ShardError("shard \(index) is out of range: shards of \(count) are numbered 0...\(count - 1)")
        }
        self.index = index
        self.count = count
    }

    /// Parses `K/N`, or `auto/N` with K from `indexVariable` when named, else from the first
    /// of `indexVariables` that is set.
    public init(parsing text: String, environment: [String: String], indexVariable: String? = nil) throws(ShardError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let count = Int(parts[1]) else {
            throw ShardError("bad shard `\(text)`: want K/N (e.g. 0/4, counted from 0) or auto/N")
        }
        guard count >= 1 else { throw ShardError("a shard count must be at least 1 (got \(count))") }
        var indexText = String(parts[0])
        if indexText == "auto" {
            let names = indexVariable.map { [$0] } ?? Self.indexVariables
            guard let name = names.first(where: { environment[$0].map { !$0.isEmpty } ?? false }) else {
                throw ShardError("--shard auto/\(count): none of \(names.joined(separator: ", ")) is set; "
                    + "give the index (K/\(count)) or name its variable with --shard-index-env")
            }
            indexText = environment[name]!.filter { $0 != " " && $0 != "\n" }
            guard let index = Int(indexText) else { throw ShardError("\(name)=\(indexText) is not a shard index") }
            try self.init(index: index, count: count)
            return
        }
        guard let index = Int(indexText) else {
            throw ShardError("bad shard `\(text)`: want K/N (e.g. 0/4, counted from 0) or auto/N")
        }
        try self.init(index: index, count: count)
    }

    public var description: String { "\(index)/\(count)" }

    /// The shard in file names: `shard-3-of-4`.
    public var tag: String { "shard-\(index)-of-\(count)" }
}

/// A shard spec that makes no sense; the text says why.
public struct ShardError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Splits a job's items into disjoint shards whose union is the whole: whole groups (an
/// item's subject, candidate, image or exam, or another field) go to one shard, so every
/// per-item chain and every group's files stay together; groups are balanced by bytes when
/// every item has a size, else by item count. Keeping a group together yields to balance only
/// where one group would bound the run: with sizes, a group heavier than a shard's fair share
/// (total / N) is cut one level down (see `piece(of:type:field:)`). Deterministic: the same
/// items (a lock file) give the same shards on every host.
public enum ShardPartition {
    /// The key an item is grouped by: `field` when given (and the item has it), else the
    /// item's top-level group; an item with neither is a group of its own.
    public static func key(of item: RemoteItem, type: SourceType?, field: String? = nil) -> String {
        if let field, let value = item.field(field), !value.isEmpty { return value }
        let group = type.map { PlatformCatalog.of($0).group(of: item) } ?? ""
        return group.isEmpty ? item.source + ":" + item.id : group
    }

    /// The item's piece of its group, one level below it, for a group cut to balance the shards:
    /// under `field`, the item's top-level group; else a LORIS candidate's visit, an XNAT
    /// subject's session, an Agora exam's series. Never lower, so a visit's metadata, a
    /// session's archive, a dataset's tags and every per-item chain stay in one shard; nil where
    /// there is no such level (a Grand Challenge image, a web folder): the group stays whole.
    public static func piece(of item: RemoteItem, type: SourceType?, field: String? = nil) -> String? {
        guard let type else { return nil }
        if let field, let value = item.field(field), !value.isEmpty {
            let group = key(of: item, type: type)
            return group == item.source + ":" + item.id ? nil : group
        }
        let parts = PlatformCatalog.of(type).nameParts
        guard parts.count >= 3 else { return nil }  // the level below the group is the file's own
        let value = parts[1].compactMap { item.field($0) }.filter { !$0.isEmpty }.joined(separator: " ")
        return value.isEmpty ? nil : value
    }

    /// The shard of each group: heaviest group first, each onto the lightest shard so far (ties:
    /// fewer groups, then the lower index); groups of equal weight in key order.
    public static func assign(weights: [String: Int64], count: Int) -> [String: Int] {
        precondition(count >= 1)
        let order = weights.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        var load = [(weight: Int64, groups: Int)](repeating: (0, 0), count: count)
        var shardOf: [String: Int] = [:]
        shardOf.reserveCapacity(order.count)
        for (key, weight) in order {
            var best = 0
            for s in 1..<count where (load[s].weight, load[s].groups) < (load[best].weight, load[best].groups) { best = s }
            load[best].weight += weight
            load[best].groups += 1
            shardOf[key] = best
        }
        return shardOf
    }

    /// What one shard takes of a job's items (selection -> items).
    public struct Part: Sendable {
        /// The shard's items per selection (every selection present, maybe empty).
        public var items: [String: [RemoteItem]]
        /// Groups in the whole job.
        public var groups: Int
        /// Groups this shard holds (whole or in part).
        public var groupsInShard: Int
        /// Groups of the job cut into pieces, each heavier than a shard's fair share.
        public var cutGroups: Int
        /// What the shards are made of: whole groups plus the pieces of cut groups.
        public var units: Int

        /// The warning when `count` shards are more than there is to share; nil when they are not.
        public func emptyShardsWarning(count: Int) -> String? {
            guard units < count else { return nil }
            let what = cutGroups > 0 ? "groups and pieces of cut groups" : "group(s)"
            return "warning: \(units) \(what) for \(count) shards: \(count - units) shard(s) get nothing"
        }
    }

    /// The unit each item goes to a shard with: its group, or its piece of a group in `cut`.
    static func unit(of item: RemoteItem, type: SourceType?, field: String?, cut: Set<String>) -> String {
        let group = key(of: item, type: type, field: field)
        guard cut.contains(group), let piece = piece(of: item, type: type, field: field) else { return group }
        return group + "\u{1F}" + piece
    }

    /// The items of `shard`, per selection. `types` gives each source's type (for its groups).
    public static func part(_ items: [String: [RemoteItem]], shard: ShardSpec, types: [String: SourceType],
                            field: String? = nil) -> Part {
        let all = items.values.joined()
        let bySize = all.allSatisfy { $0.size != nil }
        var groupWeights: [String: Int64] = [:]
        for item in all {
            groupWeights[key(of: item, type: types[item.source], field: field), default: 0] += bySize ? item.size! : 1
        }
        // A group heavier than the fair share would bound the run however the rest is placed.
        var cut = Set<String>()
        if bySize && shard.count > 1 {
            let total = groupWeights.values.reduce(0, +)
            let fair = (total + Int64(shard.count) - 1) / Int64(shard.count)
            cut = Set(groupWeights.filter { $0.value > fair }.keys)
        }
        var weights: [String: Int64] = [:]
        var groupOf: [String: String] = [:]
        for item in all {
            let type = types[item.source]
            let unit = unit(of: item, type: type, field: field, cut: cut)
            weights[unit, default: 0] += bySize ? item.size! : 1
            groupOf[unit] = key(of: item, type: type, field: field)
        }
        let shardOf = assign(weights: weights, count: shard.count)
        var taken: [String: [RemoteItem]] = [:]
        for (selection, list) in items {
            taken[selection] = list.filter { shardOf[unit(of: $0, type: types[$0.source], field: field, cut: cut)] == shard.index }
        }
        let held = Set(shardOf.filter { $0.value == shard.index }.keys.map { groupOf[$0]! })
        let cutGroups = Set(weights.keys.filter { $0 != groupOf[$0] }.map { groupOf[$0]! }).count
        return Part(items: taken, groups: groupWeights.count, groupsInShard: held.count, cutGroups: cutGroups, units: weights.count)
    }
}

/// The job file's `slurm:` block: what `flowctl submit --slurm` uses when the command line
/// does not say, and the field `run --shard` groups by.
public struct SlurmSettings: Sendable, Hashable {
    public var shards: Int?
    /// Array tasks running at once (`--array=...%K`).
    public var maxRunning: Int?
    /// Transfers in flight in each task (`flowctl run -j`).
    public var jobs: Int?
    public var partition: String?
    public var time: String?
    public var mem: String?
    /// The item field shards are grouped by (default: the item's top-level group).
    public var shardBy: String?

    public init(shards: Int? = nil, maxRunning: Int? = nil, jobs: Int? = nil, partition: String? = nil,
                time: String? = nil, mem: String? = nil, shardBy: String? = nil) {
        self.shards = shards
        self.maxRunning = maxRunning
        self.jobs = jobs
        self.partition = partition
        self.time = time
        self.mem = mem
        self.shardBy = shardBy
    }
}
