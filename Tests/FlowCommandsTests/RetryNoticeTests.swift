import Foundation
import Testing
@testable import FlowCommands

/// While sources are listed there is no progress display yet: retries are said on stderr, bounded.
@Suite struct RetryNoticeTests {
    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        var all: [String] { lock.withLock { lines } }
        func add(_ line: String) { lock.withLock { lines.append(line) } }
    }
    final class Clock: @unchecked Sendable { var now = 100.0 }

    @Test func oneLineEveryIntervalCountingTheRest() {
        let lines = Lines(), clock = Clock()
        let notice = RetryNotice(interval: 5, clock: { clock.now }, write: lines.add)
        notice.retrying(in: 1.3, because: "could not connect: Could not resolve host: x.invalid (http://x.invalid/data/JSESSION)")
        clock.now += 1
        notice.retrying(in: 2, because: "HTTP 503 from http://x/data/projects")
        notice.retrying(in: 2, because: "HTTP 503 from http://x/data/projects")
        clock.now += 5
        notice.retrying(in: 4.5, because: "HTTP 503 from http://x/data/projects\u{1b}[2J")
        #expect(lines.all == [
            "retrying in 1.3 s: could not connect: Could not resolve host: x.invalid (http://x.invalid/data/JSESSION)",
            "retrying in 4.5 s: HTTP 503 from http://x/data/projects\\u{1b}[2J (and 2 other request(s) retried since the last line)",
        ])
    }
}
