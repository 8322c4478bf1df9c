import NIOCore

/// A real file padded to a size its format allows, served by range without ever holding it:
/// `head` (the real bytes, a few KiB, made again when a range touches them), `padding` bytes
/// from `pad` (given offsets inside the padding), then `tail` (made again likewise).
struct PaddedFile: Sendable {
    var headCount: Int
    var padding: Int64
    var tailCount: Int
    var head: @Sendable () -> [UInt8]
    var pad: @Sendable (_ offset: Int64, _ count: Int) -> [UInt8]
    var tail: @Sendable () -> [UInt8]

    var count: Int64 { Int64(headCount) + padding + Int64(tailCount) }

    /// The bytes of `offset ..< offset + length` (inside the file).
    func read(_ offset: Int64, _ length: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(length)
        let end = offset + Int64(length)
        let padStart = Int64(headCount), tailStart = padStart + padding
        if offset < padStart {
            out += head()[Int(offset)..<Int(min(end, padStart))]
        }
        if end > padStart, offset < tailStart {
            let from = max(offset, padStart)
            out += pad(from - padStart, Int(min(end, tailStart) - from))
        }
        if end > tailStart {
            out += tail()[Int(max(offset, tailStart) - tailStart)..<Int(end - tailStart)]
        }
        return out
    }

    /// The body that serves it, named by `key`.
    func body(key: UInt64) -> FileBody {
        let file = self
        return .generated(GeneratedBytes(count: count) { file.read($0, $1) }, key: key)
    }

    /// Synthetic padding bytes (the sandbox's usual stream from `key`).
    static func synthetic(key: UInt64) -> @Sendable (Int64, Int) -> [UInt8] {
        { offset, count in
            var buffer = FileBody.synthetic(key: key, size: offset + Int64(count)).chunk(offset: offset, length: count)
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        }
    }
}
