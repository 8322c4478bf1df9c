import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Digests of files already on disk (verification, uploads, local copies), computed off the
/// cooperative thread pool because they block on file I/O.
public enum FileDigest {
    /// Lowercase hex digests of a whole file (sha256 always, plus `algorithms`).
    public static func compute(path: String, algorithms: Set<DigestAlgorithm> = [.sha256]) async throws -> [DigestAlgorithm: String] {
        try await offThePool { try computeBlocking(path: path, algorithms: algorithms) }
    }

    /// Lowercase hex digest of a whole file in `algorithm` alone: no sha256 beside it, which on a
    /// 1 GiB upload costs seconds before the first byte is sent.
    public static func hex(_ algorithm: DigestAlgorithm, ofFile path: String) async throws -> String {
        try await offThePool {
            var digester = Digester(algorithm)
            try readFile(path) { digester.update($0) }
            return digester.hexDigest()
        }
    }

    /// `compute` on the calling thread, for callers that are not on the cooperative pool.
    public static func computeBlocking(path: String, algorithms: Set<DigestAlgorithm> = [.sha256]) throws -> [DigestAlgorithm: String] {
        var hashers = Hashers(algorithms)
        var info = stat()
        guard stat(path, &info) == 0 else { throw FileSystemError(path: path, errno: errno) }
        try hashers.hashPrefix(of: path, length: Int64(info.st_size))
        return hashers.finalize()
    }

    /// Copies `source` to `destination` (created or truncated), hashing the bytes on the way.
    public static func copy(from source: String, to destination: String,
                            algorithms: Set<DigestAlgorithm> = [.sha256]) async throws -> (bytes: Int64, digests: [DigestAlgorithm: String]) {
        try await offThePool {
            let input = open(source, O_RDONLY | O_CLOEXEC)
            guard input >= 0 else { throw FileSystemError(path: source, errno: errno) }
            defer { close(input) }
            let output = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard output >= 0 else { throw FileSystemError(path: destination, errno: errno) }
            defer { close(output) }
            var hashers = Hashers(algorithms)
            let chunk = 1 << 20
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
            defer { buffer.deallocate() }
            var total: Int64 = 0
            while true {
                let n = read(input, buffer.baseAddress, chunk)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileSystemError(path: source, errno: errno)
                }
                if n == 0 { break }
                let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                var written = 0
                while written < n {
                    let w = write(output, bytes.baseAddress! + written, n - written)
                    if w < 0 {
                        if errno == EINTR { continue }
                        throw FileSystemError(path: destination, errno: errno)
                    }
                    written += w
                }
                hashers.update(bytes)
                total += Int64(n)
            }
            return (total, hashers.finalize())
        }
    }

    /// sha256 of bytes in memory (small documents such as a job file), lowercase hex.
    public static func sha256(_ bytes: [UInt8]) -> String {
        var hashers = Hashers([])
        bytes.withUnsafeBytes { hashers.update($0) }
        return hashers.finalize()[.sha256]!
    }
}
