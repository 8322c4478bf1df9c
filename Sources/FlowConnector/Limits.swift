import DequeModule
import Foundation
import Synchronization

/// A counting semaphore for async code: at most `limit` holders at once, FIFO waiters.
///
/// A lock, not an actor: a free slot is taken without suspending, so the common case of every
/// request (fewer in flight than the limit) costs no executor hop on the way in or out.
public final class AsyncSemaphore: Sendable {
    private struct State {
        var held = 0
        var peak = 0
        var waiters: Deque<CheckedContinuation<Void, Never>> = []
    }

    private let limit: Int
    private let state = Mutex(State())

    public init(limit: Int) { self.limit = max(1, limit) }

    /// Most holders seen at once (tests and stats read it).
    public var peak: Int { state.withLock { $0.peak } }

    public func acquire() async {
        let acquired = state.withLock { state in
            guard state.held < limit else { return false }
            state.held += 1
            state.peak = max(state.peak, state.held)
            return true
        }
        if acquired { return }
        await withCheckedContinuation { continuation in
            // The slot may have been released between the check above and now.
            let acquiredNow = state.withLock { state in
                guard state.held < limit else {
                    state.waiters.append(continuation)
                    return false
                }
                state.held += 1
                state.peak = max(state.peak, state.held)
                return true
            }
            if acquiredNow { continuation.resume() }
        }
        // Otherwise the releaser handed its slot over; `held` is unchanged.
    }

    public func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiters.popFirst() { return waiter }
            state.held -= 1
            return nil
        }
        next?.resume()
    }

    /// Runs `body` holding one slot.
    public func withSlot<T: Sendable>(_ body: @Sendable () async throws -> T) async rethrows -> T {
        await acquire()
        defer { release() }
        return try await body()
    }
}

/// A token bucket as a plain value: at most `ratePerSecond` starts per second, with a burst of
/// one second's worth. It only does the arithmetic; `RateLimiter` does the waiting.
public struct TokenBucket: Sendable {
    public let rate: Double
    public let burst: Double
    private var tokens: Double
    private var last: ContinuousClock.Instant

    public init(ratePerSecond: Double, now: ContinuousClock.Instant) {
        rate = ratePerSecond
        burst = max(1, ratePerSecond)
        tokens = burst
        last = now
    }

    /// Takes a token for a start at `now`; returns the seconds that start must wait first (0
    /// when a token was there). A start that waits reserves its token, so the next one waits longer.
    public mutating func take(at now: ContinuousClock.Instant) -> Double {
        let elapsed = max(.zero, last.duration(to: now))
        last = max(last, now)
        tokens = min(burst, tokens + rate * (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
        tokens -= 1
        return tokens >= 0 ? 0 : -tokens / rate
    }
}

/// Spaces request starts by a `TokenBucket`.
public actor RateLimiter {
    private var bucket: TokenBucket

    public init(ratePerSecond: Double) {
        bucket = TokenBucket(ratePerSecond: ratePerSecond, now: .now)
    }

    /// Waits until a request may start.
    public func acquire() async {
        let wait = bucket.take(at: .now)
        if wait > 0 { try? await Task.sleep(for: .seconds(wait)) }
    }
}

/// The limits of one source: a concurrency cap and an optional request rate.
public struct SourceLimits: Sendable {
    public let slots: AsyncSemaphore
    public let rate: RateLimiter?

    public init(concurrency: Int, ratePerSecond: Double?) {
        slots = AsyncSemaphore(limit: concurrency)
        rate = ratePerSecond.map(RateLimiter.init)
    }

    /// Runs one request within the limits.
    public func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        await slots.acquire()
        defer { slots.release() }
        if let rate { await rate.acquire() }
        return try await body()
    }
}
