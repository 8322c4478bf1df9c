import FlowConnector
import FlowHTTP
import FlowModel
import Testing

/// What a source that says nothing of `stall`, `timeout` or `retry` gets. `HostileTests` shows the
/// mechanism end to end with a job's own limits (a silent listing costs its branch, the rest
/// arrives); this pins the defaults, which an end-to-end run would need 2 min 15 s of waiting to show.
@Suite struct DefaultLimitsTests {
    @Test func aSilentServerCostsAtMostThreeStallsOf45SecondsByDefault() {
        let spec = SourceSpec(name: "s", type: .xnat, url: "https://x.invalid")
        let config = SourceSession.configuration(for: spec)
        #expect(config.lowSpeedTime == .seconds(45))
        #expect(config.lowSpeedLimit >= 1, "stall detection is on")

        let policy = RetryPolicy(spec.retry)
        var elapsed = 0.0
        var attempts = 0
        decide: while true {
            attempts += 1
            elapsed += 45  // each attempt stalls for the whole stall time
            switch policy.decide(attempt: attempts, elapsed: elapsed, failure: .timeout, jitter: 0.999) {
            case .retry(let wait): elapsed += wait
            case .giveUp: break decide
            case .reauthenticate: Issue.record("a timeout never asks for a login"); break decide
            }
        }
        #expect(attempts == 3)
        #expect(elapsed <= 180, "a silent server costs \(elapsed) s with the defaults, over the 3 minutes")
    }
}
