import Foundation
import Hummingbird
import NIOCore

/// One entry of a streamed zip archive.
public struct ZipEntry: Sendable {
    public var name: String
    public var body: FileBody
    public var modified: Date
    public init(name: String, body: FileBody, modified: Date) { self.name = name; self.body = body; self.modified = modified }
}

/// Streams a zip archive (entries stored, not compressed) without knowing CRCs up front:
/// each entry's CRC-32 and sizes follow its data in a data descriptor (general purpose bit 3).
/// Entries and archives must stay under 4 GiB (no Zip64).
public enum ZipStream {
    /// A chunked response body writing `entries` as a zip.
    public static func body(_ entries: [ZipEntry], req: SandboxRequest) -> ResponseBody {
        let stats = req.stats, platform = req.platform
        req.routeInfo.countsOwnBytes = true
        return ResponseBody { writer in
            var offset: UInt32 = 0
            var central = ByteBuffer()
            for entry in entries {
                let name = Array(entry.name.utf8)
                let (time, date) = dosTime(entry.modified)
                var header = ByteBuffer()
                header.writeInteger(UInt32(0x0403_4B50), endianness: .little)
                header.writeInteger(UInt16(20), endianness: .little)          // version needed
                header.writeInteger(UInt16(0x0808), endianness: .little)      // data descriptor + UTF-8 names
                header.writeInteger(UInt16(0), endianness: .little)           // stored
                header.writeInteger(time, endianness: .little)
                header.writeInteger(date, endianness: .little)
                header.writeInteger(UInt32(0), endianness: .little)           // crc (in descriptor)
                header.writeInteger(UInt32(0), endianness: .little)
                header.writeInteger(UInt32(0), endianness: .little)
                header.writeInteger(UInt16(name.count), endianness: .little)
                header.writeInteger(UInt16(0), endianness: .little)
                header.writeBytes(name)
                let headerOffset = offset
                try await writer.write(header)
                offset &+= UInt32(header.readableBytes)

                var crc = CRC32()
                var sent: Int64 = 0
                while sent < entry.body.size {
                    let chunk = entry.body.chunk(offset: sent, length: 64 * 1024)
                    crc.update(chunk.readableBytesView)
                    try await writer.write(chunk)
                    stats.bytesServed(platform, chunk.readableBytes)
                    sent += Int64(chunk.readableBytes)
                }
                let size = UInt32(truncatingIfNeeded: entry.body.size)
                offset &+= size
                var descriptor = ByteBuffer()
                descriptor.writeInteger(UInt32(0x0807_4B50), endianness: .little)
                descriptor.writeInteger(crc.value, endianness: .little)
                descriptor.writeInteger(size, endianness: .little)
                descriptor.writeInteger(size, endianness: .little)
                try await writer.write(descriptor)
                offset &+= UInt32(descriptor.readableBytes)

                central.writeInteger(UInt32(0x0201_4B50), endianness: .little)
                central.writeInteger(UInt16(20), endianness: .little)         // made by
                central.writeInteger(UInt16(20), endianness: .little)
                central.writeInteger(UInt16(0x0808), endianness: .little)
                central.writeInteger(UInt16(0), endianness: .little)
                central.writeInteger(time, endianness: .little)
                central.writeInteger(date, endianness: .little)
                central.writeInteger(crc.value, endianness: .little)
                central.writeInteger(size, endianness: .little)
                central.writeInteger(size, endianness: .little)
                central.writeInteger(UInt16(name.count), endianness: .little)
                central.writeInteger(UInt16(0), endianness: .little)          // extra
                central.writeInteger(UInt16(0), endianness: .little)          // comment
                central.writeInteger(UInt16(0), endianness: .little)          // disk
                central.writeInteger(UInt16(0), endianness: .little)          // internal attrs
                central.writeInteger(UInt32(0), endianness: .little)          // external attrs
                central.writeInteger(headerOffset, endianness: .little)
                central.writeBytes(name)
            }
            let centralSize = UInt32(central.readableBytes)
            var end = central
            end.writeInteger(UInt32(0x0605_4B50), endianness: .little)
            end.writeInteger(UInt16(0), endianness: .little)
            end.writeInteger(UInt16(0), endianness: .little)
            end.writeInteger(UInt16(entries.count), endianness: .little)
            end.writeInteger(UInt16(entries.count), endianness: .little)
            end.writeInteger(centralSize, endianness: .little)
            end.writeInteger(offset, endianness: .little)
            end.writeInteger(UInt16(0), endianness: .little)
            stats.bytesServed(platform, end.readableBytes)
            try await writer.write(end)
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

/// CRC-32 (IEEE), table driven.
struct CRC32 {
    private static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }
    private var crc: UInt32 = 0xFFFF_FFFF
    mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        let table = CRC32.table
        var c = crc
        table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        crc = c
    }
    var value: UInt32 { crc ^ 0xFFFF_FFFF }
}
