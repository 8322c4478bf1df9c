import Testing
@testable import FlowModel

@Suite struct TaskGraphTests {
    @Test func ordersDependenciesFirst() throws {
        let graph = TaskGraph([
            PlannedTask(id: "c", action: "x", kind: .download, dependsOn: ["b"]),
            PlannedTask(id: "b", action: "x", kind: .wait, dependsOn: ["a"]),
            PlannedTask(id: "a", action: "x", kind: .run),
        ])
        #expect(try graph.topologicalOrder().map(\.id) == ["a", "b", "c"])
    }

    @Test func reportsCycles() {
        let graph = TaskGraph([
            PlannedTask(id: "a", action: "x", kind: .run, dependsOn: ["b"]),
            PlannedTask(id: "b", action: "x", kind: .run, dependsOn: ["a"]),
        ])
        #expect(throws: TaskGraph.CycleError(members: ["a", "b"])) { try graph.topologicalOrder() }
        #expect(findCycle(in: ["a": ["b"], "b": ["c"], "c": ["a"]]) == ["a", "b", "c", "a"])
        #expect(findCycle(in: ["a": ["b"], "b": []]) == nil)
    }

    /// Ids derived from the action and the item (not stored) are ids like any other: found by
    /// their text, equal to the same id given whole, kept when the action or the item changes.
    @Test func derivedIdsActAsStoredOnes() throws {
        let item = RemoteItem(source: "s", id: "sub-01/scan-02.dcm", url: "u", size: 3)
        let derived = PlannedTask(action: "pull", kind: .download, item: item, path: "p")
        let stored = PlannedTask(id: "pull/sub-01/scan-02.dcm", action: "pull", kind: .download, item: item, path: "p")
        #expect(derived.id == "pull/sub-01/scan-02.dcm")
        #expect(derived == stored && derived.hashValue == stored.hashValue)
        // One id, given whole or derived: the second is ignored, whichever comes first.
        let graph = TaskGraph([derived, stored, PlannedTask(id: "pull/other", action: "pull", kind: .download,
                                                            dependsOn: ["pull/sub-01/scan-02.dcm"])])
        #expect(graph.count == 2 && graph.position(of: "pull/sub-01/scan-02.dcm") == 0)
        #expect(graph["pull/other"]?.dependsOn == [derived.id])
        #expect(graph.position(of: "pull/sub-01/scan-02.dc") == nil && graph.position(of: "pul/sub-01/scan-02.dcm") == nil)
        #expect(TaskGraph([stored, derived]).count == 1)
        #expect(try graph.topologicalOrder().map(\.id) == ["pull/sub-01/scan-02.dcm", "pull/other"])
        // An action and an item cut where the others are not: the same text is the same id.
        let cut = PlannedTask(action: "pull/sub-01", kind: .download, item: RemoteItem(source: "s", id: "scan-02.dcm", url: "u"))
        #expect(TaskGraph([derived, cut]).count == 1)
        var moved = derived
        moved.action = "push"
        moved.item = RemoteItem(source: "s", id: "x", url: "u")
        #expect(moved.id == "pull/sub-01/scan-02.dcm")
        moved.id = "new"
        #expect(moved.id == "new")
    }

    /// A million tasks are planned: each is 120 bytes (it was 128, with its id stored).
    @Test func aTaskStaysSmall() {
        #expect(MemoryLayout<PlannedTask>.stride <= 120)
    }

    /// Positions stay right as the table grows from a few tasks to many, one by one or at once.
    @Test func findsEveryTaskAsTheIndexGrows() {
        let items = (0..<5_000).map { RemoteItem(source: "s", id: "f\($0)", url: "u") }
        var one = TaskGraph()
        for item in items { one.add(PlannedTask(action: "a", kind: .download, item: item)) }
        var many = TaskGraph([PlannedTask(id: "first", action: "a", kind: .barrier)])
        many.add(contentsOf: items.map { PlannedTask(action: "a", kind: .download, item: $0) })
        for i in items.indices {
            #expect(one.position(of: "a/f\(i)") == i)
            #expect(many.position(of: "a/f\(i)") == i + 1)
        }
        #expect(one.position(of: "a/f5000") == nil && many.position(of: "first") == 0)
    }

    @Test func secretsNeverPrint() {
        let secret = Secret("hunter2-very-secret")
        #expect("\(secret)" == "***")
        #expect(String(describing: [secret]).contains("hunter2") == false)
        #expect(String(reflecting: secret).contains("hunter2") == false)
        #expect(secret.revealed == "hunter2-very-secret")
    }
}

@Suite struct RetryPolicyTests {
    let policy = RetryPolicy(maxAttempts: 5, maxTotalSeconds: 60, baseDelay: 1, maxDelay: 8)

    @Test func backsOffExponentiallyWithFullJitter() {
        #expect(policy.decide(attempt: 1, elapsed: 0, failure: .transport, jitter: 0.5) == .retry(afterSeconds: 0.5))
        #expect(policy.decide(attempt: 3, elapsed: 0, failure: .transport, jitter: 0.5) == .retry(afterSeconds: 2))
        #expect(policy.decide(attempt: 4, elapsed: 0, failure: .transport, jitter: 0.999) == .retry(afterSeconds: 7.992))
        // The ceiling stops at maxDelay.
        let capped = RetryPolicy(maxAttempts: 50, maxTotalSeconds: 1000, baseDelay: 1, maxDelay: 8)
        #expect(capped.decide(attempt: 20, elapsed: 0, failure: .transport, jitter: 1) == .retry(afterSeconds: 8))
    }

    @Test(arguments: [408, 425, 429, 500, 502, 503, 504])
    func retriesTransientStatuses(status: Int) {
        guard case .retry = policy.decide(attempt: 1, elapsed: 0, failure: .status(status), jitter: 0) else {
            Issue.record("status \(status) should be retried"); return
        }
    }

    @Test(arguments: [400, 403, 404, 409, 410, 422])
    func neverRetriesOtherClientErrors(status: Int) {
        guard case .giveUp = policy.decide(attempt: 1, elapsed: 0, failure: .status(status), jitter: 0) else {
            Issue.record("status \(status) must not be retried"); return
        }
    }

    @Test func honoursRetryAfterAndCaps() {
        #expect(policy.decide(attempt: 1, elapsed: 0, failure: .status(429), retryAfter: 7, jitter: 0.1) == .retry(afterSeconds: 7))
        guard case .giveUp = policy.decide(attempt: 5, elapsed: 0, failure: .transport, jitter: 0) else {
            Issue.record("attempt cap"); return
        }
        guard case .giveUp = policy.decide(attempt: 2, elapsed: 59, failure: .status(429), retryAfter: 5, jitter: 0) else {
            Issue.record("time cap"); return
        }
        guard case .giveUp = policy.decide(attempt: 1, elapsed: 0, failure: .permanent, jitter: 0) else {
            Issue.record("permanent"); return
        }
    }

    @Test func reauthenticatesOnceOn401() {
        #expect(policy.decide(attempt: 1, elapsed: 0, failure: .status(401), jitter: 0) == .reauthenticate)
        guard case .giveUp = policy.decide(attempt: 2, elapsed: 0, failure: .status(401), alreadyReauthenticated: true, jitter: 0) else {
            Issue.record("second 401"); return
        }
        #expect(RetryPolicy.parseRetryAfter("12") == 12)
        #expect(RetryPolicy.parseRetryAfter(nil) == nil)
    }

    /// Both forms of RFC 9110: seconds, and an HTTP date (in its three spellings), as seconds from now.
    @Test func retryAfterReadsSecondsAndHTTPDates() {
        let now = 1_792_567_675.0  // Wed, 21 Oct 2026 07:27:55 GMT
        #expect(RetryPolicy.parseRetryAfter("12", now: now) == 12)
        #expect(RetryPolicy.parseRetryAfter("Wed, 21 Oct 2026 07:28:00 GMT", now: now) == 5)
        #expect(RetryPolicy.parseRetryAfter("Wednesday, 21-Oct-26 07:28:00 GMT", now: now) == 5)
        #expect(RetryPolicy.parseRetryAfter("Wed Oct 21 07:28:00 2026", now: now) == 5)
        #expect(RetryPolicy.parseRetryAfter("Wed, 21 Oct 2026 07:00:00 GMT", now: now) == 0)  // past: at once
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)  // RFC 9110's example
        for junk in ["soon", "-5", "1.5e9999", "Wed, 32 Oct 2026 07:28:00 GMT", "Wed, 21 Foo 2026 07:28:00 GMT",
                     "99999999999999999999999"] {
            #expect(RetryPolicy.parseRetryAfter(junk, now: now) == nil || junk.allSatisfy(\.isNumber), "\(junk)")
        }
    }

    /// A `Retry-After` past the time cap is a refusal, reported at once, not slept through.
    @Test func aRetryAfterPastTheBudgetGivesUpAtOnce() {
        #expect(policy.decide(attempt: 1, elapsed: 0, failure: .status(503), retryAfter: 5, jitter: 0) == .retry(afterSeconds: 5))
        guard case .giveUp(let why) = policy.decide(attempt: 1, elapsed: 0, failure: .status(503), retryAfter: 999_999_999, jitter: 0) else {
            Issue.record("waited for 999999999 s"); return
        }
        #expect(why.contains("past the retry time cap of 60 s"))
        guard case .giveUp = policy.decide(attempt: 2, elapsed: 58, failure: .status(429), retryAfter: 5, jitter: 0) else {
            Issue.record("waited past the cap"); return
        }
    }

    /// A server silent three times over is down; a file that arrived wrong twice will again.
    @Test func timeoutsAndIntegrityFailuresGiveUpSooner() {
        let generous = RetryPolicy(maxAttempts: 10, maxTotalSeconds: 600, baseDelay: 1, maxDelay: 8)
        #expect(generous.decide(attempt: 2, elapsed: 0, failure: .timeout, jitter: 0) == .retry(afterSeconds: 0))
        #expect(generous.decide(attempt: 3, elapsed: 0, failure: .timeout, jitter: 0) == .giveUp("gave up after 3 timeouts"))
        #expect(generous.decide(attempt: 1, elapsed: 0, failure: .integrity, jitter: 0) == .retry(afterSeconds: 0))
        guard case .giveUp = generous.decide(attempt: 2, elapsed: 0, failure: .integrity, jitter: 0) else {
            Issue.record("a second integrity failure is retried"); return
        }
        #expect(generous.decide(attempt: 5, elapsed: 0, failure: .transport, jitter: 0) == .retry(afterSeconds: 0))
    }
}
