/// gzip without zlib: deflate "stored" blocks (RFC 1951 §3.2.4) are a valid deflate stream, so a
/// member of stored blocks is a gzip file every reader accepts. The sandbox's images are tiny:
/// compression would buy nothing.
enum Gzip {
    /// `bytes` as one gzip member of stored blocks (mtime 0: the same bytes every time).
    static func stored(_ bytes: [UInt8]) -> [UInt8] {
        let (head, tail) = storedParts(bytes)
        return head + tail
    }

    /// The member of `stored` in two parts: `head` (the gzip header and the data in non-final
    /// stored blocks) and `tail` (an empty final block, the CRC-32 and the size). Any number of
    /// empty stored blocks (`emptyBlock`, 5 bytes each, inflating to nothing) may go between
    /// them: that is how an image is padded to a size without changing what it inflates to.
    static func storedParts(_ bytes: [UInt8]) -> (head: [UInt8], tail: [UInt8]) {
        var head: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3]
        head.reserveCapacity(bytes.count + 16 + bytes.count / 65535 * 5)
        var offset = 0
        while offset < bytes.count {
            let length = min(65535, bytes.count - offset)
            head.append(0)  // BFINAL 0, BTYPE 00 (stored), then aligned to a byte
            head.append(contentsOf: DataWriter.le(UInt16(length)))
            head.append(contentsOf: DataWriter.le(~UInt16(length)))
            head.append(contentsOf: bytes[offset..<(offset + length)])
            offset += length
        }
        var crc = CRC32()
        crc.update(bytes)
        let tail = [1, 0, 0, 0xFF, 0xFF] + DataWriter.le(crc.value) + DataWriter.le(UInt32(truncatingIfNeeded: bytes.count))
        return (head, tail)
    }

    /// An empty, non-final stored block: inflates to nothing.
    static let emptyBlock: [UInt8] = [0, 0, 0, 0xFF, 0xFF]
}

/// Little-endian bytes of fixed-width values, for the binary formats the sandbox writes.
enum DataWriter {
    static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    static func le(_ value: Float) -> [UInt8] { le(value.bitPattern) }
    static func le(_ value: Double) -> [UInt8] { le(value.bitPattern) }
}
