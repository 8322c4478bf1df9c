import FlowConnector
import FlowHTTP
import FlowModel
import Synchronization
import Testing

/// The login rules on made-up instants: no server, no sleeping.
@Suite struct LoginStateTests {
    @Test func aCredentialIsRenewedATenthOfItsLifeBeforeItExpires() {
        var state = LoginState<String>()
        #expect(state.usable(at: 0) == nil)
        state.loggedIn("t1", expires: 100, at: 0)  // a 100 s token: renewed in its last 10 s
        #expect(state.usable(at: 89.9) == "t1")
        #expect(state.usable(at: 90) == nil)
        state.loggedIn("t2", expires: 100_000, at: 1000)  // a long one: at most a minute early
        #expect(state.margin == 60)
        #expect(state.usable(at: 100_000 - 61) == "t2")
        #expect(state.usable(at: 100_000 - 60) == nil)
        state.loggedIn("t3", expires: nil, at: 2000)  // no expiry said: used until refused
        #expect(state.usable(at: 1e12) == "t3")
    }

    @Test func a401LogsInAgainUnlessAnotherRequestAlreadyDid() {
        var state = LoginState<String>()
        #expect(state.needsLogin(afterRejectionOf: nil, at: 0))
        state.loggedIn("t1", expires: nil, at: 10)
        #expect(state.generation == 1)
        // Signed with the current login: it was refused, log in again.
        #expect(state.needsLogin(afterRejectionOf: 1, at: 20))
        state.loggedIn("t2", expires: nil, at: 20)
        // Signed with the previous login, refused after a new one: just retry.
        #expect(!state.needsLogin(afterRejectionOf: 1, at: 20.1))
        // Unknown signer: a 401 right after a login was in flight with the old credential.
        #expect(!state.needsLogin(afterRejectionOf: nil, at: 20.4))
        #expect(state.needsLogin(afterRejectionOf: nil, at: 20.6))
        state.drop()
        #expect(state.needsLogin(afterRejectionOf: 2, at: 21))
    }
}

/// `SessionLogin` around a login that counts its calls, on a clock the test moves.
@Suite struct SessionLoginTests {
    final class CountingLogin: LoginProtocol, @unchecked Sendable {
        let calls = Mutex(0)
        let lifetime: Double
        let clock: ManualClock
        init(lifetime: Double, clock: ManualClock) { self.lifetime = lifetime; self.clock = clock }

        func logIn(through session: SourceSession) async throws -> (String, expires: Double?) {
            let n = calls.withLock { $0 += 1; return $0 }
            try await Task.sleep(for: .milliseconds(20))  // concurrent callers must share this one
            return ("token-\(n)", clock.now + lifetime)
        }
        func sign(_ request: inout HTTPRequest, with credential: String) {
            request.headers.replaceOrAdd(name: "Authorization", value: "Bearer \(credential)")
        }
    }

    final class ManualClock: @unchecked Sendable {
        private let time = Mutex(1000.0)
        var now: Double { time.withLock { $0 } }
        func advance(_ seconds: Double) { time.withLock { $0 += seconds } }
    }

    func signature(_ login: SessionLogin<CountingLogin>) async throws -> String {
        var request = HTTPRequest(url: "https://x.invalid/")
        try await login.authorize(&request)
        return request.headers.first("Authorization") ?? ""
    }

    @Test func oneLoginForConcurrentRequestsAndANewOneBeforeExpiry() async throws {
        let clock = ManualClock()
        let counting = CountingLogin(lifetime: 3, clock: clock)
        let ref = SessionRef()
        let session = try SourceSession(spec: SourceSpec(name: "s", type: .loris, url: "https://x.invalid"))
        ref.value = session
        let login = SessionLogin(counting, session: ref, clock: { clock.now })
        let signatures = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<8 { group.addTask { try await signature(login) } }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(Set(signatures) == ["Bearer token-1"])
        #expect(counting.calls.withLock { $0 } == 1)
        clock.advance(2.8)  // within the last tenth of a 3 s life: renewed before use
        #expect(try await signature(login) == "Bearer token-2")
        // Eight requests refused at once share one new login.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask { try await RequestTicket.with { _ = try await signature(login); try await login.refresh() } } }
            try await group.waitForAll()
        }
        #expect(counting.calls.withLock { $0 } == 3)
    }
}
