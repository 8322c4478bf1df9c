/// When to try a failed request again, and how long to wait first: a pure value, so every rule
/// is tested without a network. Exponential backoff with full jitter, `Retry-After` honoured,
/// caps on attempts and on total time; transient failures only; one re-login on 401.
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts in all, the first included.
    public var maxAttempts: Int
    /// Seconds from the first attempt after which no new attempt starts.
    public var maxTotalSeconds: Double
    /// The first backoff ceiling; it doubles with each attempt up to `maxDelay`.
    public var baseDelay: Double
    public var maxDelay: Double

    public init(maxAttempts: Int = 6, maxTotalSeconds: Double = 300, baseDelay: Double = 0.25, maxDelay: Double = 30) {
        self.maxAttempts = maxAttempts
        self.maxTotalSeconds = maxTotalSeconds
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    public init(_ spec: RetrySpec) {
        self.init(maxAttempts: spec.attempts, maxTotalSeconds: spec.maxSeconds)
    }

    /// What went wrong with one attempt.
    public enum Failure: Sendable, Hashable {
        /// Could not connect, connection reset, body cut short, DNS hiccup.
        case transport
        /// The attempt took too long or stalled.
        case timeout
        /// The bytes arrived but do not match the listed size or digest (once may be the wire).
        case integrity
        /// The server answered with this status.
        case status(Int)
        /// Anything else: a bug, a refused file, a malformed reply. Never retried.
        case permanent
    }

    /// What to do next.
    public enum Decision: Sendable, Hashable {
        case retry(afterSeconds: Double)
        /// Log in again, then retry at once (401, once per request).
        case reauthenticate
        case giveUp(String)
    }

    /// Statuses worth another try: timeouts, too early, rate limits and server errors.
    public static func isRetryable(status: Int) -> Bool {
        status == 408 || status == 425 || status == 429 || (500...599).contains(status)
    }

    /// Decides after attempt number `attempt` (1-based) failed, `elapsed` seconds after the first began.
    /// `jitter` is a random number in [0, 1) (injected so tests are deterministic).
    public func decide(attempt: Int, elapsed: Double, failure: Failure, retryAfter: Double? = nil,
                       alreadyReauthenticated: Bool = false, jitter: Double) -> Decision {
        switch failure {
        case .permanent:
            return .giveUp("not retryable")
        case .status(401):
            return alreadyReauthenticated ? .giveUp("authentication failed (401) after logging in again") : .reauthenticate
        case .status(let code) where !RetryPolicy.isRetryable(status: code):
            return .giveUp("HTTP \(code) is not retryable")
        default:
            break
        }
        if attempt >= maxAttempts { return .giveUp("gave up after \(attempt) attempts") }
        // A server silent that long three times over is down, not slow: give up in minutes, not
        // after every attempt's full stall time. A file that arrived wrong twice will again.
        if failure == .timeout && attempt >= min(maxAttempts, 3) { return .giveUp("gave up after \(attempt) timeouts") }
        if failure == .integrity && attempt >= 2 { return .giveUp("gave up after \(attempt) attempts") }
        // Full jitter: a uniform wait up to the exponential ceiling, spreading clients apart.
        let ceiling = min(maxDelay, baseDelay * Double(1 << min(attempt - 1, 30)))
        var delay = jitter * ceiling
        if let retryAfter, retryAfter > delay {
            // A wait past the budget is a refusal, said at once (not slept through).
            if elapsed + retryAfter > maxTotalSeconds {
                return .giveUp("the server asks to wait \(Int(min(retryAfter, 1e9))) s, past the retry time cap of \(Int(maxTotalSeconds)) s")
            }
            delay = retryAfter
        }
        if elapsed + delay > maxTotalSeconds {
            return .giveUp("gave up after \(Int(elapsed.rounded())) s (retry time cap \(Int(maxTotalSeconds)) s)")
        }
        return .retry(afterSeconds: delay)
    }

    /// Seconds to wait by a `Retry-After` header, in either of its HTTP forms: a number of
    /// seconds, or an HTTP date (`now` is the current Unix time; a date past is 0 s). Anything
    /// else is ignored (nil), so the backoff decides.
    public static func parseRetryAfter(_ value: String?, now: Double = Timestamp.now) -> Double? {
        guard let value = value?.trimmingWhitespace, !value.isEmpty else { return nil }
        if value.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            return Double(value.prefix(9)) ?? nil  // nine digits is 31 years: plenty, and no overflow
        }
        guard let date = HTTPDate.parse(value) else { return nil }
        return max(0, date - now)
    }
}
