import FlowModel
import Synchronization

/// A part of a listing that could not be read: one row (a file with no name, a size past any
/// disk) or one branch (a subject whose experiments came back as something other than JSON).
/// It is left out and named; the rest of the listing goes on.
public struct ListingProblem: Sendable, Hashable, CustomStringConvertible {
    /// Where: the listing request and, for a row, its position in the reply.
    public var place: String
    /// What was wrong, in our words (`ErrorText`: bounded, escaped).
    public var reason: String

    public init(place: String, reason: String) {
        self.place = place
        self.reason = reason
    }

    public var description: String { place.isEmpty ? reason : "\(place): \(reason)" }
}

/// Collects a listing's problems while it runs. Whoever lists and can report problems sets one
/// (`collecting`); without one, a problem fails the whole listing as it always did, so a
/// connector's own tests still see every error.
public final class ListingProblems: Sendable {
    @TaskLocal static var current: ListingProblems?

    private let problems = Mutex<[ListingProblem]>([])

    /// Runs `body` (a `Connector.list`) with problems collected instead of thrown, where the
    /// listing code marks a row (`listingRows`) or a branch (`listEach`) as one that may fail alone.
    public static func collecting<T: Sendable>(_ body: () async throws -> T) async throws -> (T, [ListingProblem]) {
        let collector = ListingProblems()
        let value = try await $current.withValue(collector) { try await body() }
        return (value, collector.problems.withLock { $0 })
    }

    /// Records `error` when a collector is listening and the error belongs to the listing
    /// (not a cancellation); false when the caller must throw it.
    static func record(_ error: any Error, at place: String) -> Bool {
        guard let collector = current, !(error is CancellationError), !Task.isCancelled else { return false }
        let reason: String
        switch error {
        case let error as ConnectorError: reason = error.description
        default: reason = "\(error)"
        }
        collector.problems.withLock { $0.append(ListingProblem(place: place, reason: ErrorText.clean(reason))) }
        return true
    }
}

/// Each row of a listing reply through `transform` (nil: the row is not wanted). A row that
/// throws is a problem of its own, `<place> row N`, when problems are being collected.
public func listingRows<T, R>(_ rows: [T], at place: String, _ transform: (T) throws -> R?) throws -> [R] {
    var results: [R] = []
    results.reserveCapacity(rows.count)
    for (index, row) in rows.enumerated() {
        do {
            if let result = try transform(row) { results.append(result) }
        } catch {
            guard ListingProblems.record(error, at: "\(place) row \(index + 1)") else {
                if case ConnectorError.badReply(let message) = error { throw ConnectorError.badReply("\(place) row \(index + 1): \(message)") }
                throw error
            }
        }
    }
    return results
}

/// `concurrentFlatMap` over the branches of a listing (a project's subjects, a subject's
/// visits): a branch that fails is a problem of its own when problems are being collected, and
/// the other branches go on. Its error names the request that failed, so the place is implied.
public func listEach<T: Sendable, R: Sendable>(_ branches: [T], _ body: @escaping @Sendable (T) async throws -> [R]) async throws -> [R] {
    try await concurrentFlatMap(branches) { branch in
        do {
            return try await body(branch)
        } catch {
            guard ListingProblems.record(error, at: "") else { throw error }
            return []
        }
    }
}
