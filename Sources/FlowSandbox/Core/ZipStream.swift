import CZlib
import Foundation
import Hummingbird
import NIOCore

/// One entry of a streamed archive.
public struct ZipEntry: Sendable {
    public var name: String
    public var body: FileBody
    public var modified: Date
    /// The Unix mode the central directory records (a symbolic link is 0o120777).
    public var unixMode: UInt32 = 0o100644
    /// Deflate this member at this level whatever the archive's style (a bomb's zeros).
    public var deflateLevel: Int?
    /// A tar hard-link entry to this name (zip has none: there the body is written).
    public var hardLinkTarget: String?
    public init(name: String, body: FileBody, modified: Date, unixMode: UInt32 = 0o100644, deflateLevel: Int? = nil,
                hardLinkTarget: String? = nil) {
        self.name = name
        self.body = body
        self.modified = modified
        self.unixMode = unixMode
        self.deflateLevel = deflateLevel
        self.hardLinkTarget = hardLinkTarget
    }

    /// The tar entry type and link name: a symbolic link (Unix mode 0o12xxxx, its body the
    /// target), a hard link, or a regular file.
    var tarLink: (type: UInt8, target: String)? {
        if let hardLinkTarget { return (UInt8(ascii: "1"), hardLinkTarget) }
        if unixMode & 0o170000 == 0o120000 { return (UInt8(ascii: "2"), String(decoding: body.allBytes(), as: UTF8.self)) }
        return nil
    }
}

/// How the sandbox writes archives (`--xnat-zip-deflate`, `--xnat-zip64`).
public struct ArchiveStyle: Sendable, Hashable, Codable {
    /// 0: zip members stored (as now); 1-9: deflated at this zlib level. tar.gz always deflates
    /// (at this level, or 1 when 0).
    public var deflateLevel: Int = 0
    /// Zip64 records for every member and the archive, whatever their sizes.
    public var zip64 = false
    public init(deflateLevel: Int = 0, zip64: Bool = false) {
        self.deflateLevel = deflateLevel
        self.zip64 = zip64
    }
}

/// Streams a zip archive without knowing CRCs up front: each entry's CRC-32 and sizes follow
/// its data in a data descriptor (general purpose bit 3). Members stored or deflated; Zip64
/// records when asked for or when an offset or size passes 4 GiB.
public enum ZipStream {
    /// A chunked response body writing `entries` as a zip.
    public static func body(_ entries: [ZipEntry], req: SandboxRequest, style: ArchiveStyle = .init()) -> ResponseBody {
        let stats = req.stats, platform = req.platform
        let bps = req.faults.bytesPerSecond  // --slow-body-bps paces archives too
        req.routeInfo.countsOwnBytes = true
        return ResponseBody { writer in
            var offset: UInt64 = 0
            var central = ByteBuffer()
            func send(_ buffer: ByteBuffer) async throws {
                offset += UInt64(buffer.readableBytes)
                stats.bytesServed(platform, buffer.readableBytes)
                try await writer.write(buffer)
                if let bps, bps > 0 { try await Task.sleep(nanoseconds: UInt64(Double(buffer.readableBytes) / Double(bps) * 1e9)) }
            }
            for entry in entries {
                let level = entry.deflateLevel ?? style.deflateLevel
                let method: UInt16 = level > 0 ? 8 : 0
                let name = Array(entry.name.utf8)
                let (time, date) = dosTime(entry.modified)
                let zip64 = style.zip64 || entry.body.size >= 0xFFFF_FFFF || offset >= 0xFFFF_FFFF
                var header = ByteBuffer()
                header.writeInteger(UInt32(0x0403_4B50), endianness: .little)
                header.writeInteger(UInt16(zip64 ? 45 : 20), endianness: .little)  // version needed
                header.writeInteger(UInt16(0x0808), endianness: .little)      // data descriptor + UTF-8 names
                header.writeInteger(method, endianness: .little)
                header.writeInteger(time, endianness: .little)
                header.writeInteger(date, endianness: .little)
                header.writeInteger(UInt32(0), endianness: .little)           // crc (in descriptor)
                header.writeInteger(UInt32(zip64 ? 0xFFFF_FFFF : 0), endianness: .little)
                header.writeInteger(UInt32(zip64 ? 0xFFFF_FFFF : 0), endianness: .little)
                header.writeInteger(UInt16(name.count), endianness: .little)
                header.writeInteger(UInt16(zip64 ? 20 : 0), endianness: .little)
                header.writeBytes(name)
                if zip64 {  // sizes unknown here: zeros, the descriptor has them
                    header.writeInteger(UInt16(1), endianness: .little)
                    header.writeInteger(UInt16(16), endianness: .little)
                    header.writeInteger(UInt64(0), endianness: .little)
                    header.writeInteger(UInt64(0), endianness: .little)
                }
                let headerOffset = offset
                try await send(header)

                var crc = CRC32()
                var sent: Int64 = 0
                var compressed: UInt64 = 0
                let deflater = method == 8 ? Deflater(level: level, gzip: false) : nil
                while sent < entry.body.size {
                    let chunk = entry.body.chunk(offset: sent, length: 64 * 1024)
                    crc.update(chunk.readableBytesView)
                    sent += Int64(chunk.readableBytes)
                    let out = deflater.map { $0.deflate(chunk, finish: sent >= entry.body.size) } ?? chunk
                    compressed += UInt64(out.readableBytes)
                    if out.readableBytes > 0 { try await send(out) }
                }
                if let deflater, entry.body.size == 0 {
                    let out = deflater.deflate(ByteBuffer(), finish: true)
                    compressed += UInt64(out.readableBytes)
                    try await send(out)
                }
                let size = UInt64(entry.body.size)
                var descriptor = ByteBuffer()
                descriptor.writeInteger(UInt32(0x0807_4B50), endianness: .little)
                descriptor.writeInteger(crc.value, endianness: .little)
                if zip64 {
                    descriptor.writeInteger(compressed, endianness: .little)
                    descriptor.writeInteger(size, endianness: .little)
                } else {
                    descriptor.writeInteger(UInt32(compressed), endianness: .little)
                    descriptor.writeInteger(UInt32(size), endianness: .little)
                }
                try await send(descriptor)

                central.writeInteger(UInt32(0x0201_4B50), endianness: .little)
                central.writeInteger(UInt16(0x0300 | (zip64 ? 45 : 20)), endianness: .little)  // made by (Unix)
                central.writeInteger(UInt16(zip64 ? 45 : 20), endianness: .little)
                central.writeInteger(UInt16(0x0808), endianness: .little)
                central.writeInteger(method, endianness: .little)
                central.writeInteger(time, endianness: .little)
                central.writeInteger(date, endianness: .little)
                central.writeInteger(crc.value, endianness: .little)
                central.writeInteger(UInt32(zip64 ? 0xFFFF_FFFF : UInt32(compressed)), endianness: .little)
                central.writeInteger(UInt32(zip64 ? 0xFFFF_FFFF : UInt32(size)), endianness: .little)
                central.writeInteger(UInt16(name.count), endianness: .little)
                central.writeInteger(UInt16(zip64 ? 28 : 0), endianness: .little)          // extra
                central.writeInteger(UInt16(0), endianness: .little)          // comment
                central.writeInteger(UInt16(0), endianness: .little)          // disk
                central.writeInteger(UInt16(0), endianness: .little)          // internal attrs
                central.writeInteger(entry.unixMode << 16, endianness: .little)  // a regular file, unless said
                central.writeInteger(UInt32(zip64 ? 0xFFFF_FFFF : UInt32(headerOffset)), endianness: .little)
                central.writeBytes(name)
                if zip64 {
                    central.writeInteger(UInt16(1), endianness: .little)
                    central.writeInteger(UInt16(24), endianness: .little)
                    central.writeInteger(size, endianness: .little)
                    central.writeInteger(compressed, endianness: .little)
                    central.writeInteger(headerOffset, endianness: .little)
                }
            }
            let centralOffset = offset
            let centralSize = UInt64(central.readableBytes)
            var end = central
            let zip64 = style.zip64 || centralOffset >= 0xFFFF_FFFF || entries.count >= 0xFFFF
            if zip64 {
                let recordOffset = centralOffset + centralSize
                end.writeInteger(UInt32(0x0606_4B50), endianness: .little)
                end.writeInteger(UInt64(44), endianness: .little)
                end.writeInteger(UInt16(45), endianness: .little)
                end.writeInteger(UInt16(45), endianness: .little)
                end.writeInteger(UInt32(0), endianness: .little)
                end.writeInteger(UInt32(0), endianness: .little)
                end.writeInteger(UInt64(entries.count), endianness: .little)
                end.writeInteger(UInt64(entries.count), endianness: .little)
                end.writeInteger(centralSize, endianness: .little)
                end.writeInteger(centralOffset, endianness: .little)
                end.writeInteger(UInt32(0x0706_4B50), endianness: .little)  // locator
                end.writeInteger(UInt32(0), endianness: .little)
                end.writeInteger(recordOffset, endianness: .little)
                end.writeInteger(UInt32(1), endianness: .little)
            }
            end.writeInteger(UInt32(0x0605_4B50), endianness: .little)
            end.writeInteger(UInt16(0), endianness: .little)
            end.writeInteger(UInt16(0), endianness: .little)
            end.writeInteger(UInt16(zip64 ? 0xFFFF : UInt16(entries.count)), endianness: .little)
            end.writeInteger(UInt16(zip64 ? 0xFFFF : UInt16(entries.count)), endianness: .little)
            end.writeInteger(UInt32(zip64 ? 0xFFFF_FFFF : UInt32(centralSize)), endianness: .little)
            end.writeInteger(UInt32(zip64 ? 0xFFFF_FFFF : UInt32(centralOffset)), endianness: .little)
            end.writeInteger(UInt16(0), endianness: .little)
            try await send(end)
            try await writer.finish(nil)
        }
    }

    static func dosTime(_ date: Date) -> (UInt16, UInt16) {
        var t = time_t(date.timeIntervalSince1970)
        var tm = tm()
        gmtime_r(&t, &tm)
        let time = UInt16(tm.tm_hour << 11 | tm.tm_min << 5 | tm.tm_sec / 2)
        let day = UInt16(max(0, Int(tm.tm_year) - 80) << 9 | Int(tm.tm_mon + 1) << 5 | Int(tm.tm_mday))
        return (time, day)
    }
}

/// Streams a gzip-compressed ustar archive (XNAT's `format=tar.gz`): long names through pax headers.
public enum TarGzStream {
    public static func body(_ entries: [ZipEntry], req: SandboxRequest, style: ArchiveStyle = .init()) -> ResponseBody {
        let stats = req.stats, platform = req.platform
        let bps = req.faults.bytesPerSecond
        req.routeInfo.countsOwnBytes = true
        return ResponseBody { writer in
            let deflater = Deflater(level: max(1, style.deflateLevel), gzip: true)
            var pending = ByteBuffer()
            func send(_ bytes: ByteBuffer, finish: Bool = false) async throws {
                pending.writeImmutableBuffer(bytes)
                guard finish || pending.readableBytes >= 64 << 10 else { return }
                let out = deflater.deflate(pending, finish: finish)
                pending.clear()
                if out.readableBytes > 0 {
                    stats.bytesServed(platform, out.readableBytes)
                    try await writer.write(out)
                    if let bps, bps > 0 { try await Task.sleep(nanoseconds: UInt64(Double(out.readableBytes) / Double(bps) * 1e9)) }
                }
            }
            for entry in entries {
                let name = Array(entry.name.utf8)
                if name.count > 100 {
                    var record = " path=\(entry.name)\n"
                    var length = record.utf8.count
                    length += String(length).count
                    if String(length).count != String(length - String(length).count).count { length += 1 }
                    record = "\(length)" + record
                    try await send(ByteBuffer(bytes: header("PaxHeader", size: record.utf8.count, type: UInt8(ascii: "x"), modified: entry.modified)))
                    try await send(ByteBuffer(bytes: padded(Array(record.utf8))))
                }
                if let link = entry.tarLink {  // a link entry: no data blocks
                    try await send(ByteBuffer(bytes: header(String(entry.name.suffix(100)), size: 0, type: link.type, modified: entry.modified,
                                                           link: link.target)))
                    continue
                }
                try await send(ByteBuffer(bytes: header(String(entry.name.suffix(100)), size: Int(entry.body.size), type: UInt8(ascii: "0"),
                                                       modified: entry.modified)))
                var sent: Int64 = 0
                while sent < entry.body.size {
                    let chunk = entry.body.chunk(offset: sent, length: 64 * 1024)
                    sent += Int64(chunk.readableBytes)
                    try await send(chunk)
                }
                let pad = Int((512 - entry.body.size % 512) % 512)
                if pad > 0 { try await send(ByteBuffer(bytes: [UInt8](repeating: 0, count: pad))) }
            }
            try await send(ByteBuffer(bytes: [UInt8](repeating: 0, count: 1024)), finish: true)
            try await writer.finish(nil)
        }
    }

    static func padded(_ bytes: [UInt8]) -> [UInt8] { bytes + [UInt8](repeating: 0, count: (512 - bytes.count % 512) % 512) }

    /// A ustar header block.
    static func header(_ name: String, size: Int, type: UInt8, modified: Date, link: String = "") -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at: Int, width: Int) { for (i, b) in text.utf8.prefix(width).enumerated() { h[at + i] = b } }
        func octal(_ value: Int, at: Int, width: Int) {
            let digits = String(value, radix: 8)
            put(String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits, at: at, width: width - 1)
        }
        put(name, at: 0, width: 100)
        octal(0o644, at: 100, width: 8)
        octal(0, at: 108, width: 8)
        octal(0, at: 116, width: 8)
        octal(size, at: 124, width: 12)
        octal(Int(modified.timeIntervalSince1970), at: 136, width: 12)
        h[156] = type
        put(link, at: 157, width: 100)
        put("ustar", at: 257, width: 6)
        put("00", at: 263, width: 2)
        for i in 148..<156 { h[i] = 32 }
        let sum = h.reduce(0) { $0 + Int($1) }
        octal(sum, at: 148, width: 7)
        h[155] = 32
        return h
    }
}

/// zlib's deflate over pieces (a zip member's raw deflate, or gzip).
final class Deflater: @unchecked Sendable {
    private var stream = z_stream()
    private var output = [UInt8](repeating: 0, count: 128 << 10)

    init(level: Int, gzip: Bool) {
        _ = flow_deflate_init2(&stream, Int32(level), gzip ? 31 : -15)
    }

    deinit { deflateEnd(&stream) }

    func deflate(_ input: ByteBuffer, finish: Bool) -> ByteBuffer {
        var result = ByteBuffer()
        var input = input
        input.withUnsafeMutableReadableBytes { raw in
            stream.next_in = raw.baseAddress?.assumingMemoryBound(to: Bytef.self)
            stream.avail_in = uInt(raw.count)
            while true {
                let (status, produced) = output.withUnsafeMutableBytes { out -> (Int32, Int) in
                    stream.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.avail_out = uInt(out.count)
                    let status = CZlib.deflate(&stream, finish ? Z_FINISH : Z_NO_FLUSH)
                    return (status, out.count - Int(stream.avail_out))
                }
                result.writeBytes(output[0..<produced])
                if status == Z_STREAM_END || status < 0 { break }
                if stream.avail_in == 0 && stream.avail_out > 0 && !finish { break }
            }
        }
        return result
    }
}

/// CRC-32 (IEEE), through zlib.
struct CRC32 {
    private var crc: UInt = 0
    mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        let done = bytes.withContiguousStorageIfAvailable { buffer in
            crc = crc32(crc, buffer.baseAddress, uInt(buffer.count))
        }
        if done == nil {
            let array = Array(bytes)
            array.withUnsafeBufferPointer { crc = crc32(crc, $0.baseAddress, uInt($0.count)) }
        }
    }
    var value: UInt32 { UInt32(truncatingIfNeeded: crc) }
}
