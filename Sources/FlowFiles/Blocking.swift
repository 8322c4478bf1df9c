import Dispatch

/// Runs work that blocks on the disk (hashing a file, a sync, opening a database) on a Dispatch
/// thread and awaits it: the cooperative pool has one thread per core, and a blocked one
/// holds up every task queued behind it.
public func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try work() })
        }
    }
}
