/// gzip without zlib: deflate "stored" blocks (RFC 1951 §3.2.4) are a valid deflate stream, so a
/// member of stored blocks is a gzip file every reader accepts. The sandbox's images are tiny:
/// compression would buy nothing.
enum Gzip {
    /// `bytes` as one gzip member of stored blocks (mtime 0: the same bytes every time).
    static func stored(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3]
        out.reserveCapacity(bytes.count + 32 + bytes.count / 65535 * 5)
        var offset = 0
        repeat {
            let length = min(65535, bytes.count - offset)
            let final: UInt8 = offset + length == bytes.count ? 1 : 0
            out.append(final)  // BFINAL, BTYPE 00 (stored), then aligned to a byte
            out.append(contentsOf: DataWriter.le(UInt16(length)))
            out.append(contentsOf: DataWriter.le(~UInt16(length)))
            out.append(contentsOf: bytes[offset..<(offset + length)])
            offset += length
        } while offset < bytes.count
        var crc = CRC32()
        crc.update(bytes)
        out.append(contentsOf: DataWriter.le(crc.value))
        out.append(contentsOf: DataWriter.le(UInt32(truncatingIfNeeded: bytes.count)))
        return out
    }
}

/// Little-endian bytes of fixed-width values, for the binary formats the sandbox writes.
enum DataWriter {
    static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    static func le(_ value: Float) -> [UInt8] { le(value.bitPattern) }
    static func le(_ value: Double) -> [UInt8] { le(value.bitPattern) }
}
