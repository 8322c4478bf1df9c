@testable import FlowFiles
import Foundation
import Testing

func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "flowfiles-tests-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func readFile(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// Small files written whole through `<path>.part` and a rename.
@Suite struct FileSyncTests {
    @Test func aFileMadeInPiecesAppearsWholeOrNotAtAll() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/made.json"
        try FileSync.replace(path) { (write) throws(FileSystemError) in
            try write(Array("one ".utf8))
            try write([])
            try write(Array("two".utf8))
        }
        #expect(try readFile(path) == Array("one two".utf8))

        // A producer that fails half-way leaves the old file as it was, and no part file.
        #expect(throws: FileSystemError.self) {
            try FileSync.replace(path) { (write) throws(FileSystemError) in
                try write(Array("half".utf8))
                throw FileSystemError(path: path, errno: ENOSPC)
            }
        }
        #expect(try readFile(path) == Array("one two".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["made.json"])
    }
}

/// Unnamed files (O_TMPFILE): invisible until linked.
@Suite struct UnnamedFileNamingTests {
    /// The folder's entries, sorted.
    func entries(_ dir: String) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: dir).sorted() }

    /// Where the kernel refuses `AT_EMPTY_PATH` (before Linux 6.10, without privilege), the file
    /// is named through `/proc/self/fd`.
    @Test func anUnnamedFileCanBeNamedThroughProc() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (file, fd) = try #require(try UnnamedFile.create(in: dir))
        #expect(write(fd, "bytes", 5) == 5)
        #expect(try entries(dir).isEmpty)
        #expect(UnnamedFile.linkThroughProc(fd, as: "\(dir)/b") == 0)
        #expect(try readFile("\(dir)/b") == Array("bytes".utf8))
        withExtendedLifetime(file) {}
    }

}

/// Digests of files and bytes, and the validator a `.part` file keeps.
@Suite struct DigestAndValidatorTests {
    @Test func aFileAndItsBytesHashAlike() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bytes = Array("flowctl".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/f"))
        let digests = try FileDigest.computeBlocking(path: dir + "/f", algorithms: [.md5, .sha1])
        #expect(digests[.sha256] == FileDigest.sha256(bytes))
        #expect(digests[.md5]?.count == 32 && digests[.sha1]?.count == 40)
        #expect(throws: FileSystemError.self) { try FileDigest.computeBlocking(path: dir + "/missing") }
    }

    @Test func aValidatorIsKeptWithTheFileAndDropped() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/x.part"
        let fd = open(path, O_WRONLY | O_CREAT, 0o644)
        defer { close(fd) }
        PartValidator.store("\"v1\"", on: fd)
        // Where the file system keeps no extended attributes, nothing is kept (and resumes go unguarded).
        guard let kept = PartValidator.read(path) else { return }
        #expect(kept == "\"v1\"")
        PartValidator.remove(from: path)
        #expect(PartValidator.read(path) == nil)
    }
}
