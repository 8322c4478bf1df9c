/// Runs `body` on every element concurrently and concatenates the results in input order.
/// The source session's semaphore bounds how many requests are actually in flight.
public func concurrentFlatMap<T: Sendable, R: Sendable>(
    _ items: [T], _ body: @escaping @Sendable (T) async throws -> [R]
) async throws -> [R] {
    try await withThrowingTaskGroup(of: (Int, [R]).self) { group in
        for (index, item) in items.enumerated() {
            group.addTask { (index, try await body(item)) }
        }
        var parts = [[R]](repeating: [], count: items.count)
        for try await (index, result) in group { parts[index] = result }
        return parts.flatMap { $0 }
    }
}
