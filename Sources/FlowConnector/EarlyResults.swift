/// Work started before it is known to be needed, to take round trips off a serial chain: when a
/// selection names a parent literally (`subjects: [SUBJ_003]`), the listing of its children can
/// be asked for while the parent's own listing is still on its way, instead of after it.
///
/// A result is taken only for a key the caller reaches the ordinary way (the parent was listed
/// and accepted), so what is listed never changes, only when; results nobody takes, errors
/// included, are dropped by `cancel()`.
public final class EarlyResults<Value: Sendable>: Sendable {
    private let tasks: [String: Task<Value, any Error>]

    /// Starts `body` for every key at once (the source session bounds what is actually in flight).
    public init(keys: [String], _ body: @escaping @Sendable (String) async throws -> Value) {
        var tasks: [String: Task<Value, any Error>] = [:]
        for key in keys where tasks[key] == nil {
            tasks[key] = Task { try await body(key) }
        }
        self.tasks = tasks
    }

    /// Nothing started.
    public static var none: EarlyResults { EarlyResults(keys: []) { _ in fatalError("never started") } }

    /// The result started for `key`, or `otherwise()` when nothing was started for it.
    public func value(for key: String, otherwise: () async throws -> Value) async throws -> Value {
        guard let task = tasks[key] else { return try await otherwise() }
        return try await task.value
    }

    /// Whether something was started for `key`.
    public func started(_ key: String) -> Bool { tasks[key] != nil }

    /// Cancels what nobody took (a finished task ignores it).
    public func cancel() {
        for task in tasks.values { task.cancel() }
    }
}
