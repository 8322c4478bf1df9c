import Foundation
import Testing
@testable import FlowCommands

/// Issue #25: Slurm's `scancel` signals every process of a job while the batch script passes
/// its own TERM on, so flowctl gets SIGTERM twice at once; the second made the clean stop an
/// immediate exit (no summary, no last journal batch). A repeated SIGTERM is now ignored.
@Suite struct SignalCounterTests {
    func responses(_ signals: [Int32]) -> [SignalCounter.Response] {
        var counter = SignalCounter()
        return signals.map { counter.received($0) }
    }

    @Test func aRepeatedSigtermKeepsTheCleanStop() {
        #expect(responses([SIGTERM, SIGTERM, SIGTERM]) == [.stop, .ignore, .ignore])
    }

    @Test func aSecondCtrlCStillQuitsAtOnce() {
        #expect(responses([SIGINT, SIGINT]) == [.stop, .exitNow])
        #expect(responses([SIGTERM, SIGINT]) == [.stop, .exitNow])
        #expect(responses([SIGINT, SIGTERM]) == [.stop, .ignore])
    }
}
