import Crypto
#if canImport(Glibc)
import Glibc
#endif

/// Running hashes of a download; a value type so the state of a hashed prefix can be copied.
// swift-crypto hash functions are copy-on-write values without a Sendable conformance.
package struct Hashers: @unchecked Sendable {
    package var sha256 = SHA256()
    package var md5: Insecure.MD5?
    package var sha1: Insecure.SHA1?

    package init(_ algorithms: Set<DigestAlgorithm>) {
        if algorithms.contains(.md5) { md5 = Insecure.MD5() }
        if algorithms.contains(.sha1) { sha1 = Insecure.SHA1() }
    }

    package mutating func update(_ bytes: UnsafeRawBufferPointer) {
        sha256.update(bufferPointer: bytes)
        md5?.update(bufferPointer: bytes)
        sha1?.update(bufferPointer: bytes)
    }

    package func finalize() -> [DigestAlgorithm: String] {
        var out: [DigestAlgorithm: String] = [.sha256: hex(sha256.finalize())]
        if let md5 { out[.md5] = hex(md5.finalize()) }
        if let sha1 { out[.sha1] = hex(sha1.finalize()) }
        return out
    }

    /// Feeds the first `length` bytes of the file at `path` (the prefix a resumed download keeps).
    /// Blocking: called on a Dispatch thread, never on the cooperative pool or the curl thread.
    package mutating func hashPrefix(of path: String, length: Int64) throws(FileSystemError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileSystemError(path: path, errno: errno) }
        defer { close(fd) }
        let chunk = Int(max(1, min(length, 1 << 20)))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        var offset: Int64 = 0
        while offset < length {
            let want = Int(min(Int64(chunk), length - offset))
            let n = pread(fd, buffer.baseAddress, want, off_t(offset))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystemError(path: path, errno: errno)
            }
            if n == 0 {
                throw FileSystemError(path: path, errno: EIO, message: "file shorter than \(length) bytes")
            }
            update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            offset += Int64(n)
        }
    }
}

private let hexDigits = Array("0123456789abcdef".utf8)

package func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
    var out = [UInt8]()
    out.reserveCapacity(64)
    for byte in digest {
        out.append(hexDigits[Int(byte >> 4)])
        out.append(hexDigits[Int(byte & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}
