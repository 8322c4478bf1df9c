import Testing
@testable import FlowArchive

@Suite("Archive readers")
struct ArchiveReaderTests {
    /// Bytes that do not compress to nothing, and that hold a stray descriptor signature.
    static func payload(_ n: Int, seed: UInt8 = 7) -> [UInt8] {
        var out = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
        if n > 40 { out.replaceSubrange(10..<14, with: [0x50, 0x4B, 0x07, 0x08]) }
        return out
    }

    @Test("zip: stored, deflated, data descriptors, unknown-size stored and Zip64, in pieces of any size",
          arguments: [1, 7, 512, 1 << 20])
    func zipKinds(chunk: Int) throws {
        let members: [Fixture.Member] = [
            .init(name: "a/stored.dcm", bytes: Self.payload(3000)),
            .init(name: "a/deflated.dcm", bytes: Self.payload(70_000, seed: 3), deflate: true),
            .init(name: "a/deflated-descriptor.dcm", bytes: Self.payload(5000, seed: 9), deflate: true, descriptor: true),
            .init(name: "a/stored-descriptor.dcm", bytes: Self.payload(4097, seed: 1), descriptor: true),
            .init(name: "a/zip64.dcm", bytes: Self.payload(1234, seed: 5), zip64: true),
            .init(name: "a/zip64-descriptor.dcm", bytes: Self.payload(999, seed: 2), descriptor: true, zip64: true),
            .init(name: "a/empty.txt", bytes: []),
            .init(name: "a/folder/", bytes: []),
        ]
        let sink = Collector()
        try ArchiveFormat.zip.reader(sink: sink).read(Fixture.zip(members), chunk: chunk)
        for m in members where !m.name.hasSuffix("/") { #expect(sink.files[m.name] == m.bytes, "\(m.name)") }
        #expect(sink.files.count == 7)
        #expect(sink.refusals.isEmpty)
    }

    @Test("zip: many unknown-size stored members in one large piece, or cut anywhere around their descriptors")
    func unknownSizeStoredInLargeAndCutPieces() throws {
        // As XNAT's DICOM zips stream in from the sandbox: stored, bit 3, sizes only in the descriptor.
        let members: [Fixture.Member] = (0..<200).map {
            .init(name: "s/scans/1-T1/resources/DICOM/files/\($0).dcm", bytes: Self.payload(700 + $0, seed: UInt8($0 % 251)), descriptor: true)
        }
        let zip = Fixture.zip(members)
        let whole = Collector()
        try ArchiveFormat.zip.reader(sink: whole).read(zip, chunk: zip.count)
        #expect(whole.order == members.map(\.name))
        for m in members { #expect(whole.files[m.name] == m.bytes, "\(m.name)") }
        // The first descriptor starts at 30 + name + 700: cut the archive at every byte around it.
        let first = 30 + members[0].name.utf8.count + 700
        for cut in (first - 4)...(first + 20) {
            let sink = Collector()
            let reader = ArchiveFormat.zip.reader(sink: sink)
            try zip[..<cut].withUnsafeBytes { try reader.feed($0) }
            try zip[cut...].withUnsafeBytes { try reader.feed($0) }
            try reader.finish()
            #expect(sink.files.count == members.count, "cut at \(cut)")
            #expect(sink.files[members[0].name] == members[0].bytes && sink.files[members[1].name] == members[1].bytes, "cut at \(cut)")
        }
    }

    @Test("zip: members the sink checks itself skip the CRC-32; unknown-size stored ones end where the descriptor's sizes match")
    func sinkCheckedMembersSkipTheCRC() throws {
        var members: [Fixture.Member] = (0..<50).map {
            .init(name: "s/scans/1-T1/resources/DICOM/files/\($0).dcm", bytes: Self.payload(700 + $0, seed: UInt8($0)), descriptor: true)
        }
        members.append(.init(name: "s/stored.dcm", bytes: Self.payload(3000)))
        members.append(.init(name: "s/deflated.dcm", bytes: Self.payload(70_000, seed: 3), deflate: true, descriptor: true))
        var zip = Fixture.zip(members)
        // The first member's descriptor CRC, damaged: only a reader that computes the CRC sees it.
        zip[30 + members[0].name.utf8.count + 700 + 4] ^= 0xFF
        #expect(throws: ArchiveError.self) { try ArchiveFormat.zip.reader(sink: Collector()).read(zip, chunk: 4096) }
        for chunk in [1, 7, 4096, zip.count] {
            let sink = Collector()
            sink.checksItself = true
            try ArchiveFormat.zip.reader(sink: sink).read(zip, chunk: chunk)
            #expect(sink.order == members.map(\.name), "chunk \(chunk)")
            for m in members { #expect(sink.files[m.name] == m.bytes, "\(m.name), chunk \(chunk)") }
        }
    }

    @Test("zip and tar: climbing, absolute, `\\`, `~` and control-character names are refused, the rest arrive")
    func hostileNames() throws {
        let bad = ["../evil.txt", "a/../../evil.txt", "/etc/passwd", "a\\..\\evil.txt", "~/.bashrc", "a/b\u{1}.txt", "C:/x.txt"]
        let good = Fixture.Member(name: "ok/good.dcm", bytes: Self.payload(100))
        let zip = Fixture.zip(bad.map { Fixture.Member(name: $0, bytes: [1, 2, 3]) } + [good])
        let sink = Collector()
        try ArchiveFormat.zip.reader(sink: sink).read(zip, chunk: 100)
        #expect(Set(sink.refusals.keys) == Set(bad))
        #expect(sink.files == ["ok/good.dcm": good.bytes])

        let tar = Fixture.tar(bad.map { ($0, [1, 2, 3], UInt8(ascii: "0")) } + [
            ("link-out", [], UInt8(ascii: "2")), ("hard-link", [], UInt8(ascii: "1")), ("ok/good.dcm", good.bytes, UInt8(ascii: "0")),
        ])
        let tsink = Collector()
        try ArchiveFormat.tarGz.reader(sink: tsink).read(Fixture.deflate(tar, bits: 31), chunk: 333)
        #expect(Set(tsink.refusals.keys) == Set(bad + ["link-out", "hard-link"]))
        #expect(tsink.refusals["link-out"]?.contains("symbolic link") == true)
        #expect(tsink.files == ["ok/good.dcm": good.bytes])
    }

    @Test("tar.gz: ustar members, long names through pax, several gzip members")
    func tarGz() throws {
        let long = String(repeating: "d", count: 150) + "/slice.dcm"
        var pax = Array(" path=\(long)\n".utf8)
        pax = Array("\(pax.count + String(pax.count).count)".utf8) + pax
        let tar = Fixture.tar([("x", pax, UInt8(ascii: "x")), ("short", Self.payload(700), UInt8(ascii: "0")),
                               ("dir/", [], UInt8(ascii: "5")), ("dir/b.dcm", Self.payload(1024, seed: 4), UInt8(ascii: "0"))])
        // Split in two gzip members at a block boundary.
        let cut = 1536
        let gz = Fixture.deflate(Array(tar[..<cut]), bits: 31) + Fixture.deflate(Array(tar[cut...]), bits: 31)
        let sink = Collector()
        try ArchiveFormat.tarGz.reader(sink: sink).read(gz, chunk: 100)
        #expect(sink.files[long] == Self.payload(700))
        #expect(sink.files["dir/b.dcm"] == Self.payload(1024, seed: 4))
        #expect(sink.files.count == 2)
    }

    @Test("a zip bomb trips the ratio cap after its grace, long before it expands")
    func bomb() throws {
        let zeros = [UInt8](repeating: 0, count: 64 << 20)
        let zip = Fixture.zip([.init(name: "bomb.bin", bytes: zeros, deflate: true, descriptor: true)])
        let clock = ContinuousClock.now
        let error = #expect(throws: ArchiveError.self) {
            try ArchiveFormat.zip.reader(sink: Collector()).read(zip, chunk: 16 << 10)
        }
        #expect(error?.kind == .limit)
        #expect(error?.message.contains("archive bomb") == true)
        #expect(clock.duration(to: .now) < .seconds(5))
    }

    @Test("caps on members and expanded bytes")
    func caps() throws {
        let many = Fixture.zip((0..<20).map { Fixture.Member(name: "f\($0)", bytes: [1]) })
        let e1 = #expect(throws: ArchiveError.self) {
            try ArchiveFormat.zip.reader(limits: .init(maxMembers: 10), sink: Collector()).read(many, chunk: 64)
        }
        #expect(e1?.message.contains("more than 10 members") == true)
        let big = Fixture.zip([.init(name: "big", bytes: Self.payload(10_000))])
        let e2 = #expect(throws: ArchiveError.self) {
            try ArchiveFormat.zip.reader(limits: .init(maxExpandedBytes: 4096), sink: Collector()).read(big, chunk: 64)
        }
        #expect(e2?.kind == .limit)
    }

    @Test("damage is named: a bad CRC, a truncated archive, a body that is no zip")
    func damage() throws {
        var zip = Fixture.zip([.init(name: "a.dcm", bytes: Self.payload(100))])
        zip[40] ^= 0xFF  // a data byte
        let e1 = #expect(throws: ArchiveError.self) { try ArchiveFormat.zip.reader(sink: Collector()).read(zip, chunk: 50) }
        #expect(e1?.message.contains("CRC-32") == true)
        let whole = Fixture.zip([.init(name: "a.dcm", bytes: Self.payload(100))], centralDirectory: false)
        let e2 = #expect(throws: ArchiveError.self) {
            try ArchiveFormat.zip.reader(sink: Collector()).read(Array(whole.dropLast(10)), chunk: 50)
        }
        #expect(e2?.message.contains("ended in the middle") == true)
        let e3 = #expect(throws: ArchiveError.self) {
            try ArchiveFormat.zip.reader(sink: Collector()).read(Array("<html>not a zip</html>".utf8), chunk: 50)
        }
        #expect(e3?.message == "the body is not a zip archive")
    }

    @Test("a member the sink does not want is read past, not written")
    func skipping() throws {
        let zip = Fixture.zip([.init(name: "skip.dcm", bytes: Self.payload(5000), descriptor: true),
                               .init(name: "keep.dcm", bytes: Self.payload(300, seed: 2), deflate: true)])
        let sink = Collector()
        sink.skip = ["skip.dcm"]
        try ArchiveFormat.zip.reader(sink: sink).read(zip, chunk: 97)
        #expect(sink.files == ["keep.dcm": Self.payload(300, seed: 2)])
    }
}
