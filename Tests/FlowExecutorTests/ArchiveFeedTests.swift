import Foundation
import Testing
import FlowArchive
@testable import FlowExecutor

/// The hand-off between the curl thread and an archive's reader thread (`ArchiveFeed`).
@Suite struct ArchiveFeedTests {
    /// Records what it is fed, and on which calls.
    final class Recorder: ArchiveReader, @unchecked Sendable {
        private let lock = NSLock()
        private var bytes: [UInt8] = []
        private var calls = 0
        var finished = false
        var memberCount: Int { 0 }
        func feed(_ piece: UnsafeRawBufferPointer) throws {
            lock.withLock {
                bytes += piece
                calls += 1
            }
        }
        func finish() throws { finished = true }
        var fed: (bytes: [UInt8], calls: Int) { lock.withLock { (bytes, calls) } }
    }

    /// 2 MiB in TLS-record-sized pieces (16 KiB) reach the reader whole and in order, in batches:
    /// the reader's thread is woken per `batch`, not per piece (it was 128 wake-ups and 128 feeds).
    @Test func piecesArriveInOrderInBatches() throws {
        let recorder = Recorder()
        let feed = ArchiveFeed(recorder)
        var sent: [UInt8] = []
        for i in 0..<128 {
            let piece = (0..<(16 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) }
            sent += piece
            let received = try piece.withUnsafeBytes { try feed.take($0) }
            #expect(received == Int64(sent.count))
        }
        try feed.finish(completed: true)
        let fed = recorder.fed
        #expect(fed.bytes == sent)
        #expect(recorder.finished)
        #expect(fed.calls <= sent.count / ArchiveFeed.batch + 1, "\(fed.calls) feeds for \(sent.count) bytes")
    }

    /// A reader that throws stops the transfer: the next `take` throws its error.
    @Test func aReadersErrorStopsTheTransfer() throws {
        final class Failing: ArchiveReader, @unchecked Sendable {
            var memberCount: Int { 0 }
            func feed(_ piece: UnsafeRawBufferPointer) throws { throw ArchiveError(.malformed, "not a zip") }
            func finish() throws {}
        }
        let feed = ArchiveFeed(Failing())
        let piece = [UInt8](repeating: 1, count: 64 << 10)
        var thrown: (any Error)?
        for _ in 0..<1000 where thrown == nil {
            do { _ = try piece.withUnsafeBytes { try feed.take($0) } } catch { thrown = error }
        }
        #expect((thrown as? ArchiveError)?.message == "not a zip")
        #expect(throws: ArchiveError.self) { try feed.finish(completed: true) }
    }
}
