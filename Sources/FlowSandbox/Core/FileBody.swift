import Foundation
import FlowFiles
import NIOCore
import Synchronization

/// The bytes of one served file: synthetic (generated on the fly from a key, any size, nothing
/// held in memory) or stored (an uploaded body, kept byte-identical).
public enum FileBody: Sendable {
    /// Bytes derived from `key` and the offset only: any range can be produced independently.
    case synthetic(key: UInt64, size: Int64)
    /// A body kept in memory (uploads, literal content).
    case stored(ByteBuffer)
    /// A file whose bytes a function makes on demand, any range independently (a real image
    /// padded to a size, `Imaging/`); `key` names the content (digest cache, validator).
    case generated(GeneratedBytes, key: UInt64)

    /// Length in bytes.
    public var size: Int64 {
        switch self {
        case .synthetic(_, let size): return size
        case .stored(let b): return Int64(b.readableBytes)
        case .generated(let bytes, _): return bytes.count
        }
    }

    /// `length` bytes starting at `offset` (clipped to the end).
    public func chunk(offset: Int64, length: Int) -> ByteBuffer {
        let n = Int(max(0, min(Int64(length), size - offset)))
        switch self {
        case .stored(let b):
            return b.getSlice(at: b.readerIndex + Int(offset), length: n) ?? ByteBuffer()
        case .synthetic(let key, _):
            var buffer = ByteBufferAllocator().buffer(capacity: n)
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: n) { raw in
                FileBody.fill(raw, key: key, offset: offset, count: n)
                return n
            }
            return buffer
        case .generated(let bytes, _):
            return ByteBuffer(bytes: bytes.read(offset, n))
        }
    }

    /// Whole body as bytes (small files, tests).
    public func allBytes() -> [UInt8] {
        var b = chunk(offset: 0, length: Int(size))
        return b.readBytes(length: b.readableBytes) ?? []
    }

    /// Byte `i` of a synthetic body is byte `i % 8` of `mix(key ^ (i / 8))`.
    private static func fill(_ raw: UnsafeMutableRawBufferPointer, key: UInt64, offset: Int64, count: Int) {
        guard count > 0, let base = raw.baseAddress else { return }
        var word = UInt64(offset) / 8
        var skip = Int(UInt64(offset) % 8)
        var written = 0
        while written < count {
            var v = SplitMix64.mix(key ^ (word &* 0xD6E8_FEB8_6659_FD93)).littleEndian
            let take = min(8 - skip, count - written)
            withUnsafeBytes(of: &v) { bytes in
                (base + written).copyMemory(from: bytes.baseAddress! + skip, byteCount: take)
            }
            written += take
            skip = 0
            word += 1
        }
    }

    private struct DigestKey: Hashable { let key: UInt64; let size: Int64 }
    private static let md5Cache = Mutex<[DigestKey: String]>([:])

    /// Lowercase hex MD5 of the served bytes (synthetic digests are computed once, then cached).
    public var md5: String {
        switch self {
        case .stored(let b):
            return Digester.hex(.md5, of: b.readableBytesView)
        case .synthetic, .generated:
            let (key, size) = digestIdentity
            let k = DigestKey(key: key, size: size)
            if let hit = FileBody.md5Cache.withLock({ $0[k] }) { return hit }
            var hasher = Digester(.md5)
            var offset: Int64 = 0
            while offset < size {
                let c = chunk(offset: offset, length: 1 << 20)
                hasher.update(c.readableBytesView)
                offset += Int64(c.readableBytes)
            }
            let digest = hasher.hexDigest()
            FileBody.md5Cache.withLock { $0[k] = digest }
            return digest
        }
    }

    /// Records the MD5 of a `.generated` body already known (a spooled upload's, computed as it arrived).
    static func remember(md5: String, key: UInt64, size: Int64) {
        FileBody.md5Cache.withLock { $0[DigestKey(key: key, size: size)] = md5 }
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }

    /// A cheap validator that changes whenever the content changes (no hashing of the bytes).
    public var validator: String {
        switch self {
        case .synthetic, .generated:
            let (key, size) = digestIdentity
            return String(format: "%016llx%llx", SplitMix64.mix(key), size)
        case .stored: return md5
        }
    }
}

/// The bytes of a `.generated` body: how many, and the bytes of any range, made on demand.
public struct GeneratedBytes: Sendable {
    public let count: Int64
    /// `length` bytes from `offset` (the caller keeps the range inside `count`).
    public let read: @Sendable (_ offset: Int64, _ length: Int) -> [UInt8]

    public init(count: Int64, read: @escaping @Sendable (_ offset: Int64, _ length: Int) -> [UInt8]) {
        self.count = count
        self.read = read
    }
}

extension FileBody {
    /// What names a made-up body's content in the digest cache and its validator: key and size.
    var digestIdentity: (key: UInt64, size: Int64) {
        switch self {
        case .synthetic(let key, let size): return (key, size)
        case .generated(let bytes, let key): return (key, bytes.count)
        case .stored(let b): return (0, Int64(b.readableBytes))
        }
    }
}
