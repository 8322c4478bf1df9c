/// What upload targets (an XNAT resource, an Agora folder) hold, listed once per connector and
/// then kept up to date with what the connector itself uploads there: a run of 1,000 uploads
/// into one target lists it once, not before every file. `nil` entries: the target does not exist.
public actor ListedTargets<Item: Sendable> {
    private var loads: [String: Task<[String: Item]?, any Error>] = [:]
    private var tables: [String: [String: Item]?] = [:]
    private var makes: [String: Task<Void, any Error>] = [:]

    public init() {}

    /// The target's entries by name (its listing is fetched by `list` once; concurrent callers
    /// share it; a failed listing is forgotten, so the next caller lists again).
    public func entries(_ key: String, list: @escaping @Sendable () async throws -> [String: Item]?) async throws -> [String: Item]? {
        if let table = tables[key] { return table }
        let task = loads[key] ?? Task { try await list() }
        loads[key] = task
        do {
            let listed = try await task.value
            if tables[key] == nil { tables[key] = .some(listed) }
            return tables[key]!
        } catch {
            loads[key] = nil
            throw error
        }
    }

    /// Records what an upload left at a listed target (which exists from then on); a target
    /// not listed yet is left to its listing.
    public func record(_ key: String, name: String, _ item: Item) {
        guard let loaded = tables[key] else { return }
        var table = loaded ?? [:]
        table[name] = item
        tables[key] = .some(table)
    }

    /// Drops a target's listing, so the next caller lists it again: after an upload whose outcome
    /// is uncertain (the server may hold the file although the upload failed), a retry must see
    /// what is there rather than send the file a second time.
    public func forget(_ key: String) {
        tables[key] = nil
        loads[key] = nil
    }

    /// Records that a listed target now exists (made empty, or by its first upload).
    public func markExisting(_ key: String) {
        guard let loaded = tables[key], loaded == nil else { return }
        tables[key] = .some([:])
    }

    /// Makes a listed target that does not exist, once (concurrent callers share `make`).
    public func ensureExists(_ key: String, make: @escaping @Sendable () async throws -> Void) async throws {
        guard let loaded = tables[key], loaded == nil else { return }
        let task = makes[key] ?? Task { try await make() }
        makes[key] = task
        do {
            try await task.value
            markExisting(key)
        } catch {
            makes[key] = nil
            throw error
        }
    }
}
