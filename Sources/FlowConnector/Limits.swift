import Foundation

/// A counting semaphore for async code: at most `limit` holders at once, FIFO waiters.
public actor AsyncSemaphore {
    private let limit: Int
    private var held = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []
    /// Most holders seen at once (tests and stats read it).
    public private(set) var peak = 0

    public init(limit: Int) { self.limit = max(1, limit) }

    public func acquire() async {
        if held < limit {
            held += 1
            peak = max(peak, held)
            return
        }
        await withCheckedContinuation { waiters.append($0) }
        // The releaser handed its slot over; `held` is unchanged.
    }

    public func release() {
        if waiters.isEmpty {
            held -= 1
        } else {
            waiters.removeFirst().resume()
        }
    }

    /// Runs `body` holding one slot.
    public nonisolated func withSlot<T: Sendable>(_ body: @Sendable () async throws -> T) async rethrows -> T {
        await acquire()
        defer { Task { await self.release() } }
        return try await body()
    }
}

/// A token bucket: at most `ratePerSecond` starts per second, with a burst of one second's worth.
public actor RateLimiter {
    private let rate: Double
    private let burst: Double
    private var tokens: Double
    private var last: ContinuousClock.Instant

    public init(ratePerSecond: Double) {
        self.rate = ratePerSecond
        self.burst = max(1, ratePerSecond)
        self.tokens = max(1, ratePerSecond)
        self.last = .now
    }

    /// Waits until a request may start.
    public func acquire() async {
        while true {
            let now = ContinuousClock.now
            let elapsed = last.duration(to: now)
            last = now
            tokens = min(burst, tokens + rate * (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
            if tokens >= 1 {
                tokens -= 1
                return
            }
            let wait = (1 - tokens) / rate
            tokens -= 1  // reserve; the sleep pays for it
            try? await Task.sleep(for: .seconds(wait))
            return
        }
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
        do {
            if let rate { await rate.acquire() }
            let value = try await body()
            await slots.release()
            return value
        } catch {
            await slots.release()
            throw error
        }
    }
}
