import CZlib
@testable import FlowArchive

/// Builds archives byte by byte, as hostile or unusual servers could send them.
enum Fixture {
    struct Member {
        var name: String
        var bytes: [UInt8]
        var deflate = false
        var descriptor = false
        var zip64 = false
        /// Sizes in the local header although bit 3 is set (some writers do).
        var sizesInHeader = false
    }

    static func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
    static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(v >> ($0 * 8) & 0xFF) } }
    static func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(v >> ($0 * 8) & 0xFF) } }

    static func crc(_ bytes: [UInt8]) -> UInt32 {
        UInt32(bytes.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) })
    }

    /// zlib deflate: raw (`bits` -15) or gzip (31).
    static func deflate(_ bytes: [UInt8], bits: Int32 = -15, level: Int32 = 6) -> [UInt8] {
        var stream = z_stream()
        _ = flow_deflate_init2(&stream, level, bits)
        defer { deflateEnd(&stream) }
        var input = bytes
        var out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))) + 64)
        let produced = input.withUnsafeMutableBufferPointer { inBuf in
            out.withUnsafeMutableBufferPointer { outBuf -> Int in
                stream.next_in = inBuf.baseAddress
                stream.avail_in = uInt(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = uInt(outBuf.count)
                _ = CZlib.deflate(&stream, Z_FINISH)
                return outBuf.count - Int(stream.avail_out)
            }
        }
        return Array(out[..<produced])
    }

    static func zip(_ members: [Member], centralDirectory: Bool = true) -> [UInt8] {
        var out: [UInt8] = []
        for m in members {
            let data = m.deflate ? deflate(m.bytes) : m.bytes
            let crc = crc(m.bytes)
            let flags = (m.descriptor ? 8 : 0) | 0x800
            let headerSizes = !m.descriptor || m.sizesInHeader
            let name = Array(m.name.utf8)
            var extra: [UInt8] = []
            if m.zip64 { extra = le16(1) + le16(16) + le64(UInt64(m.bytes.count)) + le64(UInt64(data.count)) }
            out += le32(0x0403_4B50) + le16(m.zip64 ? 45 : 20) + le16(flags) + le16(m.deflate ? 8 : 0) + le16(0) + le16(0x21)
            out += le32(headerSizes ? crc : 0)
            if m.zip64 { out += le32(0xFFFF_FFFF) + le32(0xFFFF_FFFF) } else {
                out += le32(headerSizes ? UInt32(data.count) : 0) + le32(headerSizes ? UInt32(m.bytes.count) : 0)
            }
            out += le16(name.count) + le16(extra.count) + name + extra + data
            if m.descriptor {
                out += le32(0x0807_4B50) + le32(crc)
                out += m.zip64 ? le64(UInt64(data.count)) + le64(UInt64(m.bytes.count)) : le32(UInt32(data.count)) + le32(UInt32(m.bytes.count))
            }
        }
        if centralDirectory { out += le32(0x0201_4B50) + [UInt8](repeating: 0, count: 42) + le32(0x0605_4B50) + [UInt8](repeating: 0, count: 18) }
        return out
    }

    /// A ustar header block for `name` of `size` bytes and `type`.
    static func tarHeader(_ name: String, size: Int, type: UInt8 = UInt8(ascii: "0"), link: String = "") -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at: Int) { for (i, b) in text.utf8.enumerated() { h[at + i] = b } }
        put(name, at: 0)
        put("0000644", at: 100)
        put(String(repeating: "0", count: 11 - String(size, radix: 8).count) + String(size, radix: 8), at: 124)
        h[156] = type
        put(link, at: 157)
        put("ustar", at: 257); put("00", at: 263)
        for i in 148..<156 { h[i] = 32 }
        let sum = h.reduce(0) { $0 + Int($1) }
        put(String(repeating: "0", count: 6 - String(sum, radix: 8).count) + String(sum, radix: 8), at: 148)
        h[154] = 0
        return h
    }

    static func tar(_ entries: [(name: String, bytes: [UInt8], type: UInt8)]) -> [UInt8] {
        var out: [UInt8] = []
        for e in entries {
            out += tarHeader(e.name, size: e.bytes.count, type: e.type) + e.bytes
            out += [UInt8](repeating: 0, count: (512 - e.bytes.count % 512) % 512)
        }
        return out + [UInt8](repeating: 0, count: 1024)
    }
}

/// Collects what a reader hands out.
final class Collector: ArchiveSink {
    var files: [String: [UInt8]] = [:]
    var refusals: [String: String] = [:]
    var order: [String] = []
    private var current: [UInt8] = []
    var skip: Set<String> = []
    /// Says it checks every member's bytes itself (as the executor's sink does with a listed MD5).
    var checksItself = false
    func checksBytes(of member: ArchiveMember) -> Bool { checksItself }

    func begin(_ member: ArchiveMember) throws -> Bool {
        if skip.contains(member.name) { return false }
        current = []
        return true
    }
    func write(_ bytes: UnsafeRawBufferPointer) throws { current += bytes }
    func end(_ member: ArchiveMember, size: Int64) throws {
        files[member.name] = current
        order.append(member.name)
    }
    func refused(_ rawName: String, reason: String) { refusals[rawName] = reason }
}

extension ArchiveReader {
    /// Feeds `bytes` in pieces of `chunk` bytes, then finishes.
    func read(_ bytes: [UInt8], chunk: Int) throws {
        var i = 0
        while i < bytes.count {
            let end = min(bytes.count, i + chunk)
            try bytes[i..<end].withUnsafeBytes { try feed($0) }
            i = end
        }
        try finish()
    }
}
