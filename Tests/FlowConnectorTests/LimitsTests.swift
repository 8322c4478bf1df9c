import Foundation
import Synchronization
import Testing
@testable import FlowConnector

/// Counts holders of a resource, remembering the most seen at once.
final class Occupancy: Sendable {
    private let state = Mutex((now: 0, most: 0))
    func enter() { state.withLock { $0.now += 1; $0.most = max($0.most, $0.now) } }
    func leave() { state.withLock { $0.now -= 1 } }
    var most: Int { state.withLock { $0.most } }
}

/// The order in which tasks got somewhere.
final class Arrivals: Sendable {
    private let list = Mutex<[Int]>([])
    func record(_ n: Int) { list.withLock { $0.append(n) } }
    var order: [Int] { list.withLock { $0 } }
}

@Suite struct AsyncSemaphoreTests {
    @Test func neverLetsMoreThanTheLimitIn() async {
        let semaphore = AsyncSemaphore(limit: 4)
        let occupancy = Occupancy()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    await semaphore.withSlot {
                        occupancy.enter()
                        await Task.yield()
                        try? await Task.sleep(for: .microseconds(200))
                        occupancy.leave()
                    }
                }
            }
        }
        #expect(occupancy.most == 4)
        #expect(semaphore.peak == 4)
    }

    @Test func aReleasedSlotGoesToTheFirstWaiter() async throws {
        let semaphore = AsyncSemaphore(limit: 1)
        await semaphore.acquire()
        let arrivals = Arrivals()
        let waiters = Task {
            await withTaskGroup(of: Void.self) { group in
                for n in 0..<3 {
                    group.addTask {
                        await semaphore.acquire()
                        arrivals.record(n)
                        semaphore.release()
                    }
                    // Let waiter n queue before n + 1 starts.
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(arrivals.order.isEmpty)
        semaphore.release()
        await waiters.value
        #expect(arrivals.order == [0, 1, 2])
    }
}

@Suite struct SourceLimitsTests {
    /// The bucket's arithmetic, on made-up instants: one second's burst at once, then one start
    /// per 1/rate seconds, and an idle second refills it (never past the burst).
    @Test func aTokenBucketLetsTheBurstGoThenSpacesStarts() {
        let t0 = ContinuousClock.now
        var bucket = TokenBucket(ratePerSecond: 20, now: t0)
        for _ in 0..<20 { #expect(bucket.take(at: t0) == 0) }
        let waits = (0..<10).map { _ in bucket.take(at: t0) }
        for (n, wait) in waits.enumerated() { #expect(abs(wait - Double(n + 1) * 0.05) < 1e-9, "start \(21 + n)") }
        // 0.5 s reserved by those waits, then 1 s idle on top: a full burst again, no more.
        let later = t0 + .milliseconds(1500)
        for _ in 0..<20 { #expect(bucket.take(at: later) == 0) }
        #expect(abs(bucket.take(at: later) - 0.05) < 1e-9)
        // A clock read out of order (an earlier instant) adds nothing.
        #expect(abs(bucket.take(at: t0) - 0.1) < 1e-9)
    }

    /// The limiter really waits (only a lower bound: a loaded machine makes sleeps late, never early).
    @Test func aRateSpacesRequestsAfterTheBurst() async throws {
        let limits = SourceLimits(concurrency: 8, ratePerSecond: 20)
        let start = ContinuousClock.now
        for _ in 0..<30 { _ = try await limits.run { 1 } }
        // 20 go at once (one second's burst), the next 10 at 20 per second.
        #expect(start.duration(to: .now) >= .milliseconds(400))
    }

    @Test func aFailingRequestGivesItsSlotBack() async {
        let limits = SourceLimits(concurrency: 1, ratePerSecond: nil)
        struct Boom: Error {}
        for _ in 0..<3 {
            await #expect(throws: Boom.self) { try await limits.run { () throws -> Int in throw Boom() } }
        }
        #expect(limits.slots.peak == 1)
        let value = try? await limits.run { 42 }
        #expect(value == 42)
    }
}
