import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// One running hash (SHA-256, SHA-1 or MD5) over OpenSSL's libcrypto. A value: a copy goes on
/// from the state it was copied in (a resumed download copies the hash of the kept prefix).
public struct Digester: @unchecked Sendable {
    /// The EVP context, copied on write.
    private final class Context {
        let pointer: OpaquePointer
        init(_ pointer: OpaquePointer) { self.pointer = pointer }
        deinit { EVP_MD_CTX_free(pointer) }
    }

    public let algorithm: DigestAlgorithm
    private var context: Context

    public init(_ algorithm: DigestAlgorithm) {
        self.algorithm = algorithm
        let pointer = EVP_MD_CTX_new()!
        // Only fails when out of memory or the algorithm is missing from libcrypto: not recoverable.
        precondition(EVP_DigestInit_ex(pointer, Self.md(algorithm), nil) == 1, "libcrypto lacks \(algorithm)")
        context = Context(pointer)
    }

    private static func md(_ algorithm: DigestAlgorithm) -> OpaquePointer {
        switch algorithm {
        case .sha256: EVP_sha256()
        case .sha1: EVP_sha1()
        case .md5: EVP_md5()
        }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        if !isKnownUniquelyReferenced(&context) {
            let copy = EVP_MD_CTX_new()!
            precondition(EVP_MD_CTX_copy_ex(copy, context.pointer) == 1)
            context = Context(copy)
        }
        EVP_DigestUpdate(context.pointer, bytes.baseAddress, bytes.count)
    }

    public mutating func update(_ bytes: some Collection<UInt8>) {
        if let done: Void = bytes.withContiguousStorageIfAvailable({ update(UnsafeRawBufferPointer($0)) }) { return done }
        Array(bytes).withUnsafeBytes { update($0) }
    }

    /// The digest of everything fed so far (the digester itself is left as it was).
    public func finalize() -> [UInt8] {
        let copy = EVP_MD_CTX_new()!
        defer { EVP_MD_CTX_free(copy) }
        precondition(EVP_MD_CTX_copy_ex(copy, context.pointer) == 1)
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        EVP_DigestFinal_ex(copy, &out, &length)
        return Array(out.prefix(Int(length)))
    }

    /// Lowercase hex of `finalize()`.
    public func hexDigest() -> String { FlowFiles.hex(finalize()) }

    /// The lowercase hex digest of bytes in memory.
    public static func hex(_ algorithm: DigestAlgorithm, of bytes: some Collection<UInt8>) -> String {
        var digester = Digester(algorithm)
        digester.update(bytes)
        return digester.hexDigest()
    }

    /// HMAC-SHA256 of `data` under `key` (signed tokens).
    public static func hmacSHA256(key: [UInt8], data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        _ = HMAC(EVP_sha256(), key, Int32(key.count), data, data.count, &out, &length)
        return Array(out.prefix(Int(length)))
    }

    /// Compares two digests in time independent of where they differ.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.count == b.count && CRYPTO_memcmp(a, b, a.count) == 0
    }
}

/// Running hashes of a download: sha256 always, plus what the server lists; a value, so the
/// state of a hashed prefix can be copied.
package struct Hashers: Sendable {
    package var sha256 = Digester(.sha256)
    package var md5: Digester?
    package var sha1: Digester?

    package init(_ algorithms: Set<DigestAlgorithm>) {
        if algorithms.contains(.md5) { md5 = Digester(.md5) }
        if algorithms.contains(.sha1) { sha1 = Digester(.sha1) }
    }

    package mutating func update(_ bytes: UnsafeRawBufferPointer) {
        sha256.update(bytes)
        md5?.update(bytes)
        sha1?.update(bytes)
    }

    package func finalize() -> [DigestAlgorithm: String] {
        var out: [DigestAlgorithm: String] = [.sha256: sha256.hexDigest()]
        if let md5 { out[.md5] = md5.hexDigest() }
        if let sha1 { out[.sha1] = sha1.hexDigest() }
        return out
    }

    /// Feeds the first `length` bytes of the file at `path` (the prefix a resumed download keeps).
    /// Blocking: called on a Dispatch thread, never on the cooperative pool or the curl thread.
    package mutating func hashPrefix(of path: String, length: Int64) throws(FileSystemError) {
        try readFile(path, length: length) { update($0) }
    }
}

/// Reads the file at `path` from its start in pieces of up to 1 MiB: its first `length` bytes (a
/// shorter file is an error) or, with `length` nil, all of it. Blocking: call it off the pool.
package func readFile(_ path: String, length: Int64? = nil,
                      _ body: (UnsafeRawBufferPointer) -> Void) throws(FileSystemError) {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FileSystemError(path: path, errno: errno) }
    defer { close(fd) }
    let chunk = Int(max(1, min(length ?? (1 << 20), 1 << 20)))
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
    defer { buffer.deallocate() }
    var offset: Int64 = 0
    while length.map({ offset < $0 }) ?? true {
        let want = Int(min(Int64(chunk), (length ?? .max) - offset))
        let n = pread(fd, buffer.baseAddress, want, off_t(offset))
        if n < 0 {
            if errno == EINTR { continue }
            throw FileSystemError(path: path, errno: errno)
        }
        if n == 0 {
            guard let length else { return }
            throw FileSystemError(path: path, errno: EIO, message: "file shorter than \(length) bytes")
        }
        body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        offset += Int64(n)
    }
}

private let hexDigits = Array("0123456789abcdef".utf8)

/// Lowercase hex of bytes.
public func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
    var out = [UInt8]()
    out.reserveCapacity(64)
    for byte in digest {
        out.append(hexDigits[Int(byte >> 4)])
        out.append(hexDigits[Int(byte & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}
