import CFileSystem
@testable import FlowFiles
import Foundation
import Testing

/// Files written around the page cache: whole blocks direct, the tail through the page cache,
/// one writer for many files in turn (as an archive's members are).
@Suite struct DirectWriterTests {
    /// Sizes around the block and the buffer, each fed in uneven pieces.
    static let sizes = [0, 1, 4095, 4096, 4097, 130_000, DirectWriter.capacity - 1, DirectWriter.capacity,
                        DirectWriter.capacity + 1, 2 * DirectWriter.capacity + 4097]

    func bytes(_ count: Int, seed: Int) -> [UInt8] {
        var state = UInt64(truncatingIfNeeded: seed &* 2_654_435_761 &+ 1)
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    /// Writes every size through `writer` (named files and unnamed ones linked into place, a
    /// discarded file between them) and checks each file's bytes.
    func writeAll(with writer: DirectWriter, in dir: String) throws {
        let pieces = [1, 7, 4096, 65_536, 300_001, 3]
        for (index, size) in Self.sizes.enumerated() {
            let content = bytes(size, seed: index)
            let unnamed = index % 2 == 1 ? try UnnamedFile.create(in: dir) : nil
            let path = "\(dir)/file-\(index)"
            let fd = unnamed?.1 ?? open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            try #require(fd >= 0)
            writer.start(fd)
            var offset = 0, turn = 0
            while offset < size {
                let n = min(pieces[turn % pieces.count], size - offset)
                try content.withUnsafeBytes { try writer.write(UnsafeRawBufferPointer(rebasing: $0[offset..<offset + n])) }
                offset += n
                turn += 1
            }
            try writer.finish()
            if let (file, _) = unnamed { try file.link(as: path) } else { close(fd) }
            #expect(try readFile(path) == content, "size \(size)")

            // A file given up half-way leaves nothing held for the next one.
            let dropped = open("\(dir)/dropped-\(index)", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            writer.start(dropped)
            try bytes(5000, seed: 1000 + index).withUnsafeBytes { try writer.write($0) }
            writer.discard()
            close(dropped)
        }
    }

    @Test func filesOfEverySizeArriveWhole() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = DirectWriter()
        try writeAll(with: writer, in: dir)
        // Where the file system takes O_DIRECT, the whole blocks went around the page cache.
        let probe = open("\(dir)/probe", O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        defer { close(probe) }
        if DirectWriter.localDisk(probe), fcntl(probe, F_SETFL, fcntl(probe, F_GETFL) | flow_o_direct()) == 0 {
            #expect(writer.directBytes >= Int64(3 * DirectWriter.capacity))
            #expect(writer.directBytes % 4096 == 0)
        }
    }

    /// tmpfs (no disk to go around) keeps to plain writes.
    @Test func memoryFileSystemsKeepToPlainWrites() throws {
        let dir = "/dev/shm/flowctl-direct-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fd = open("\(dir)/f", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        try #require(fd >= 0)
        defer { close(fd) }
        #expect(!DirectWriter.localDisk(fd))
        let writer = DirectWriter()
        writer.start(fd)
        try bytes(3 * 4096, seed: 7).withUnsafeBytes { try writer.write($0) }
        try writer.finish()
        #expect(writer.directBytes == 0)
        #expect(try readFile("\(dir)/f") == bytes(3 * 4096, seed: 7))
    }

    @Test func withoutDirectWritesTheFilesAreTheSame() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = DirectWriter(direct: false)
        try writeAll(with: writer, in: dir)
        #expect(writer.directBytes == 0)
    }
}
