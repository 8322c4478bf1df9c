import CZlib

/// zlib's inflate over pieces of input, handing out what it expands in pieces of 64 KiB.
final class Inflater {
    private var stream = z_stream()
    private var output = [UInt8](repeating: 0, count: 64 << 10)
    /// The compressed stream ended (Z_STREAM_END); input after it is not ours.
    private(set) var ended = false

    /// `raw`: a bare deflate stream (zip); else gzip (tar.gz).
    init(raw: Bool) throws(ArchiveError) {
        let status = flow_inflate_init2(&stream, raw ? -15 : 15 + 16)
        guard status == Z_OK else { throw ArchiveError(.malformed, "zlib could not start (\(status))") }
    }

    deinit { inflateEnd(&stream) }

    /// Starts a new stream (the next gzip member).
    func reset() {
        inflateReset(&stream)
        ended = false
    }

    /// Inflates `input` until it is used up or the stream ends; `out` gets each expanded piece.
    /// Returns how many input bytes were used.
    func inflate(_ input: UnsafeRawBufferPointer, _ out: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        guard let base = input.baseAddress, !input.isEmpty, !ended else { return 0 }
        stream.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(input.count)
        while true {
            let (status, produced) = output.withUnsafeMutableBytes { buffer -> (Int32, Int) in
                stream.next_out = buffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(buffer.count)
                let status = CZlib.inflate(&stream, Z_NO_FLUSH)
                return (status, buffer.count - Int(stream.avail_out))
            }
            if produced > 0 { try output.withUnsafeBytes { try out(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) } }
            switch status {
            case Z_STREAM_END:
                ended = true
                return input.count - Int(stream.avail_in)
            case Z_OK:
                if stream.avail_in == 0 && stream.avail_out != 0 { return input.count }
            case Z_BUF_ERROR:
                return input.count - Int(stream.avail_in)
            default:
                throw ArchiveError(.malformed, "the compressed data is damaged (zlib \(status))")
            }
        }
    }
}

/// CRC-32 through zlib (the zip members' check).
struct ZipCRC {
    private(set) var value: UInt = 0
    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        value = crc32(value, base.assumingMemoryBound(to: Bytef.self), uInt(bytes.count))
    }
}
