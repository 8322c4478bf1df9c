@testable import FlowFiles
import Foundation
import Testing

/// The lock that keeps two runs out of one output folder.
@Suite struct ExclusiveFileLockTests {
    @Test func aHeldLockIsRefusedNamingItsHolderUntilReleased() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/out/.flowctl/journal.sqlite.lock"
        let first = try ExclusiveFileLock.acquire(path: path, holder: "pid 1 on a, since then")
        #expect(throws: ExclusiveFileLock.Failure.held(holder: "pid 1 on a, since then")) {
            _ = try ExclusiveFileLock.acquire(path: path, holder: "pid 2 on b")
        }
        first.release()
        let second = try ExclusiveFileLock.acquire(path: path, holder: "pid 2 on b")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "pid 2 on b\n")
        second.release()
    }

    @Test func aFolderThatCannotBeMadeIsNamedWithItsReason() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "x".write(toFile: dir + "/file", atomically: true, encoding: .utf8)
        #expect(throws: ExclusiveFileLock.Failure.fileSystem(FileSystemError(path: dir + "/file", errno: ENOTDIR))) {
            _ = try ExclusiveFileLock.acquire(path: dir + "/file/out/.flowctl/x.lock", holder: "me")
        }
    }

    /// What another process wrote is shown to the user: one line, no control characters, bounded.
    @Test func aHolderLineIsShownSafely() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/x.lock"
        let first = try ExclusiveFileLock.acquire(path: path, holder: "pid 1\u{1b}[31m red\nsecond line")
        defer { first.release() }
        #expect(throws: ExclusiveFileLock.Failure.held(holder: "pid 1[31m red")) {
            _ = try ExclusiveFileLock.acquire(path: path, holder: "pid 2")
        }
    }
}
