/// What a source holds, level by level: for each field a selection can filter on, its distinct
/// values with how many of that level's objects carry each and their files' bytes
/// (`scan.type: DWI_ALFA1 ×20, rDWI_ALFA1 ×20, T1w ×20`). What `flowctl explore` shows, so a
/// user can write a selection without the platform's web UI. A pure value over a listing.
public struct SourceSummary: Sendable, Equatable {
    /// One value of a field: how many objects of its level carry it, and their files' bytes.
    public struct Value: Sendable, Equatable {
        public var value: String
        public var count: Int
        public var bytes: Int64
        /// Files of these objects whose size the listing did not give.
        public var unknownSizes: Int
    }

    /// A field's distinct values, the most common first (ties by value).
    public struct Field: Sendable, Equatable {
        public var name: String
        public var distinct: Int
        public var values: [Value]
    }

    /// One level of the hierarchy: how many objects it has, and their fields.
    public struct LevelSummary: Sendable, Equatable {
        public var key: String
        public var entity: String
        public var count: Int
        public var fields: [Field]
    }

    public var files: Int
    public var bytes: Int64
    public var unknownSizes: Int
    public var levels: [LevelSummary]

    /// Summarises `items` along `catalog`'s levels, the first `depth` of them (all when nil).
    public init(items: [RemoteItem], catalog: PlatformCatalog, depth: Int? = nil) {
        files = items.count
        bytes = items.reduce(0) { $0 + ($1.size ?? 0) }
        unknownSizes = items.filter { $0.size == nil }.count
        levels = []
        let shown = catalog.levels.prefix(depth ?? catalog.levels.count)
        for (index, level) in shown.enumerated() {
            // An object of this level is known by the identities of it and the levels above it.
            let path = catalog.levels.prefix(index + 1)
            func identity(_ item: RemoteItem) -> String? {
                let parts = path.map { l in item.field(l.entity + "." + (l.fields.contains("id") ? "id" : l.defaultField)) ?? "" }
                return parts.last?.isEmpty == false ? parts.joined(separator: "\u{1F}") : nil
            }
            var objects = Set<String>()
            var perValue: [String: [String: (objects: Set<String>, bytes: Int64, unknown: Int)]] = [:]
            for item in items {
                guard let object = identity(item) else { continue }
                objects.insert(object)
                for field in level.qualifiedFields {
                    guard let value = item.field(field), !value.isEmpty else { continue }
                    var entry = perValue[field, default: [:]][value] ?? ([], 0, 0)
                    entry.objects.insert(object)
                    if let size = item.size { entry.bytes += size } else { entry.unknown += 1 }
                    perValue[field, default: [:]][value] = entry
                }
            }
            guard !objects.isEmpty else { continue }
            let fields = level.qualifiedFields.compactMap { name -> Field? in
                guard let values = perValue[name] else { return nil }
                let sorted = values.map { Value(value: $0.key, count: $0.value.objects.count, bytes: $0.value.bytes,
                                                unknownSizes: $0.value.unknown) }
                    .sorted { ($0.count, $1.value) > ($1.count, $0.value) }
                return Field(name: name, distinct: sorted.count, values: sorted)
            }
            levels.append(LevelSummary(key: level.key, entity: level.entity, count: objects.count, fields: fields))
        }
    }

    /// The summary for a terminal: a line per field, its `limit` most common values.
    public func text(source: String, limit: Int = 8) -> String {
        var out = "\(source): \(files) file(s), "
        out += unknownSizes == files && files > 0 ? "sizes unknown" : Quantities.formatBytes(bytes)
            + (unknownSizes > 0 ? " (+\(unknownSizes) of unknown size)" : "")
        out += "\n"
        for level in levels {
            out += "\n  \(level.key): \(level.count)\n"
            for field in level.fields { out += "    \(field.name): " + describe(field, limit: limit) + "\n" }
        }
        return out
    }

    /// `DWI_ALFA1 ×20 (17.3 MiB), T1 ×20 (12.4 MiB)`; a field that names each object apart
    /// (labels, ids, digests) as a count and a few examples, sizes as their range.
    func describe(_ field: Field, limit: Int) -> String {
        if field.name.hasSuffix(".size"), case let sizes = field.values.compactMap({ Int64($0.value) }), sizes.count == field.distinct,
           let low = sizes.min(), let high = sizes.max() {
            return "\(Quantities.formatBytes(low)) .. \(Quantities.formatBytes(high))"
        }
        if field.distinct > limit, field.values.allSatisfy({ $0.count == 1 }) {
            let names = field.values.map(\.value)  // one each: sorted by value
            let examples = names.count <= 4 ? names : names.prefix(3) + ["...", names.last!]
            return "\(field.distinct) distinct, one each: " + examples.joined(separator: ", ")
        }
        var text = field.values.prefix(limit).map { v in
            "\(v.value) ×\(v.count)" + (v.bytes > 0 ? " (\(Quantities.formatBytes(v.bytes)))" : "")
        }.joined(separator: ", ")
        if field.distinct > limit { text += ", ... \(field.distinct - limit) more distinct values" }
        return text
    }

    /// The summary as JSON (`format_version` 1), every value listed; keys in sorted order.
    public func json(source: String, type: SourceType) -> String {
        var json = JSONWriter(.pretty)
        json.openObject()
        json.key("bytes"); json.value(bytes)
        json.key("files"); json.value(files)
        json.key("format_version"); json.value(1)
        json.key("levels"); json.openArray()
        for level in levels {
            json.openObject()
            json.key("count"); json.value(level.count)
            json.key("fields"); json.openObject()
            for field in level.fields.sorted(by: { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }) {
                json.key(field.name); json.openArray()
                for v in field.values {
                    json.openObject()
                    json.key("bytes"); json.value(v.bytes)
                    json.key("count"); json.value(v.count)
                    json.key("value"); json.value(v.value)
                    json.closeObject()
                }
                json.closeArray()
            }
            json.closeObject()
            json.key("level"); json.value(level.key)
            json.closeObject()
        }
        json.closeArray()
        json.key("source"); json.value(source)
        json.key("type"); json.value(type.rawValue)
        json.key("unknown_sizes"); json.value(unknownSizes)
        json.closeObject()
        return String(decoding: json.finish(), as: UTF8.self) + "\n"
    }
}
