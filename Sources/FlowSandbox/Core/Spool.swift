import Foundation
import FlowFiles
import NIOCore

/// An upload body written to disk as it arrived: an unlinked temp file (under `$TMPDIR`) held
/// open, so a 10 GiB upload costs the sandbox no 10 GiB of memory and the disk space goes back
/// when the last body using it is dropped or the process ends (no cleanup after a kill).
public final class SpooledFile: Sendable {
    /// Bytes written.
    public let size: Int64
    /// Lowercase hex MD5 of the bytes (computed while they arrived: S3 ETags, XNAT digests), or
    /// empty when not asked for (Agora chunks).
    public let md5: String
    private let fd: Int32

    fileprivate init(fd: Int32, size: Int64, md5: String) {
        self.fd = fd
        self.size = size
        self.md5 = md5
    }

    deinit { close(fd) }

    /// Streams `req`'s body to a new spool file (counting the bytes received, as `req.body()` does).
    static func receive(_ req: SandboxRequest) async throws -> SpooledFile {
        var writer = try SpoolWriter(hashing: [])
        do {
            for try await buffer in req.request.body {
                try buffer.withUnsafeReadableBytes { try writer.write($0) }
                try await req.received(buffer.readableBytes)
            }
        } catch {
            writer.abandon()
            throw error
        }
        return writer.finish().file
    }

    /// `length` bytes from `offset` (clipped to the end).
    func read(_ offset: Int64, _ length: Int) -> [UInt8] {
        let n = Int(max(0, min(Int64(length), size - offset)))
        var out = [UInt8](repeating: 0, count: n)
        var done = 0
        out.withUnsafeMutableBytes { raw in
            while done < n {
                let got = pread(fd, raw.baseAddress! + done, n - done, off_t(offset) + off_t(done))
                if got < 0 && errno == EINTR { continue }
                if got <= 0 { break }
                done += got
            }
        }
        return done == n ? out : Array(out[..<done])
    }

    /// The served body of spooled files one after another (S3 parts completed into one object),
    /// named by `key` (by default a hash of the parts' MD5s).
    static func body(_ files: [SpooledFile], key: UInt64? = nil) -> FileBody {
        let starts = files.reduce(into: [Int64(0)]) { $0.append($0.last! + $1.size) }
        let total = starts.last!
        let key = key ?? stableHash(files.map(\.md5).joined(separator: "/") + "/\(total)")
        if files.count == 1, !files[0].md5.isEmpty { FileBody.remember(md5: files[0].md5, key: key, size: total) }
        return .generated(GeneratedBytes(count: total) { offset, length in
            var out: [UInt8] = []
            out.reserveCapacity(length)
            var at = offset
            let end = min(total, offset + Int64(length))
            var i = max(0, (starts.lastIndex { $0 <= at } ?? 0))
            while at < end, i < files.count {
                let inFile = at - starts[i]
                let bytes = files[i].read(inFile, Int(min(end - at, files[i].size - inFile)))
                out += bytes
                at += Int64(bytes.count)
                if bytes.isEmpty || at >= starts[i + 1] { i += 1 }
            }
            return out
        }, key: key)
    }
}

/// Writes bytes to a new spool file as they arrive, taking their MD5 (S3 ETags, XNAT digests;
/// not for Agora, whose protocol has none) and any other digests asked for (continuing the
/// states given: a file's SHA-1 over its chunks in order).
struct SpoolWriter {
    private let fd: Int32
    private var size: Int64 = 0
    private var md5: Digester?
    private var others: [Digester]

    init(md5: Bool = true, hashing others: [Digester]) throws {
        var template = Array((NSTemporaryDirectory() + "/flowctl-sandbox-upload.XXXXXX").utf8CString)
        fd = template.withUnsafeMutableBufferPointer { p -> Int32 in
            let fd = mkstemp(p.baseAddress!)
            if fd >= 0 { unlink(p.baseAddress!) }  // gone from the folder; the bytes live while fd is open
            return fd
        }
        guard fd >= 0 else { throw SpoolError(message: "cannot create a spool file: errno \(errno)") }
        self.others = others
        self.md5 = md5 ? Digester(.md5) : nil
    }

    mutating func write(_ raw: UnsafeRawBufferPointer) throws {
        guard raw.count > 0 else { return }
        md5?.update(raw)
        for i in others.indices { others[i].update(raw) }
        var done = 0
        while done < raw.count {
            let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
            if n < 0 { if errno == EINTR { continue }; throw SpoolError(message: "spool write failed: errno \(errno)") }
            done += n
        }
        size += Int64(raw.count)
    }

    /// The spooled file, and the other digests' states (in the order given).
    func finish() -> (file: SpooledFile, digests: [Digester]) {
        (SpooledFile(fd: fd, size: size, md5: md5?.hexDigest() ?? ""), others)
    }

    /// Closes the file of a body that failed (its bytes go with it).
    func abandon() { close(fd) }
}

struct SpoolError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
