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

/// Runs `work` on every element, at most `width` at once (for work no session bounds, such as
/// hashing local files); results in no particular order.
public func boundedMap<T: Sendable, R: Sendable>(_ elements: [T], width: Int,
                                                 _ work: @escaping @Sendable (T) async throws -> R) async throws -> [R] {
    try await withThrowingTaskGroup(of: R.self) { group in
        var results: [R] = []
        var next = 0
        func start() {
            let element = elements[next]
            group.addTask { try await work(element) }
            next += 1
        }
        while next < elements.count && next < max(1, width) { start() }
        while let result = try await group.next() {
            results.append(result)
            if next < elements.count { start() }
        }
        return results
    }
}
