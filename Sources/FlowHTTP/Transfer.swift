import FlowFiles
import CCurl
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One request/response exchange on one easy handle (one redirect hop).
///
/// Created and configured by the calling task, then owned by the curl thread from `submit` until
/// the continuation resumes; the caller reads the results afterwards. The continuation's resume
/// orders those accesses, so no lock is needed (hence `@unchecked Sendable`).
final class Transfer: @unchecked Sendable {
    /// Where the response body goes.
    enum Sink {
        /// Keep the body in memory; more than `limit` bytes fails the transfer.
        case memory(limit: Int)
        /// Write a 2xx body to a file; keep a non-2xx body (capped) in memory.
        case file(FileSink)
        /// Hand a 2xx body to a consumer as it arrives; keep a non-2xx body (capped) in memory.
        case stream(StreamSink)
    }

    let easy: UnsafeMutableRawPointer
    let errorBuffer: UnsafeMutablePointer<CChar>
    var headerList: UnsafeMutablePointer<curl_slist>?
    var mime: OpaquePointer?
    /// Upload sources kept alive while curl reads from them.
    var uploads: [UploadSource] = []

    var continuation: CheckedContinuation<Void, any Error>?
    // Curl-thread state.
    var cancelRequested = false
    var finished = false

    // Response.
    var status = 0
    var headers = HTTPHeaders()
    var body: [UInt8] = []
    var sink: Sink
    var overflowed = false
    var effectiveURL = ""
    var redirectURL: String?

    /// The largest body accepted (a download's listed size, or a cap): more fails the transfer.
    let maxBody: Int64

    init(easy: UnsafeMutableRawPointer, sink: Sink, maxBody: Int64) {
        self.easy = easy
        self.sink = sink
        self.maxBody = maxBody
        errorBuffer = .allocate(capacity: Int(flow_error_size()))
        errorBuffer.initialize(repeating: 0, count: Int(flow_error_size()))
    }

    deinit {
        errorBuffer.deallocate()
        if let headerList { curl_slist_free_all(headerList) }
        if let mime { curl_mime_free(mime) }
    }

    var isSuccessStatus: Bool { status >= 200 && status < 300 }

    /// Most header bytes one exchange may send (all responses of it, interim ones included).
    static let maxHeaderBytes = 256 << 10
    private var headerBytes = 0
    /// The server sent more than `maxHeaderBytes` of headers (a header bomb).
    private(set) var headersOverflowed = false

    /// Called by curl with one header line (status lines included), CRLF-terminated; false
    /// aborts the transfer.
    func receiveHeader(_ line: UnsafeRawBufferPointer) -> Bool {
        headerBytes += line.count
        if headerBytes > Self.maxHeaderBytes {
            headersOverflowed = true
            return false
        }
        var end = line.count
        while end > 0, line[end - 1] == UInt8(ascii: "\n") || line[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        guard end > 0 else { return true }
        let bytes = UnsafeRawBufferPointer(rebasing: line[0..<end])
        if bytes.starts(with: "HTTP/".utf8) {
            // A new response begins (interim 1xx, proxy CONNECT): forget the previous one.
            headers = HTTPHeaders()
            status = 0
            if let space = bytes.firstIndex(of: UInt8(ascii: " ")) {
                var code = 0
                var i = space + 1
                while i < end, bytes[i] >= 48, bytes[i] <= 57 {
                    code = code * 10 + Int(bytes[i] - 48)
                    i += 1
                }
                status = code
            }
            return true
        }
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { return true }
        let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<colon]), as: UTF8.self)
        var start = colon + 1
        while start < end, bytes[start] == 32 || bytes[start] == 9 { start += 1 }
        let value = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        headers.add(name: name, value: value)
        return true
    }

    /// Called by curl with a piece of the body; returns the bytes consumed (less aborts).
    func receiveBody(_ data: UnsafeRawBufferPointer) -> Int {
        switch sink {
        case .memory(let limit):
            let needed = body.count + data.count
            if needed > limit {
                overflowed = true
                return 0
            }
            // Grown by doubling, but never past the limit: a body near it holds the limit, not twice.
            if needed > body.capacity { body.reserveCapacity(min(limit, max(body.capacity * 2, needed))) }
            body.append(contentsOf: data)
            return data.count
        case .file(let file):
            if isSuccessStatus {
                if !file.started {
                    // Asked for with `Accept-Encoding: identity`: encoded bytes are not the file's
                    // bytes (a gzip bomb would be kept as the file), and decoding is not ours to guess.
                    if let encoding = headers.first("Content-Encoding")?.lowercased(), !encoding.isEmpty, encoding != "identity" {
                        file.failure = .unexpectedEncoding(String(encoding.prefix(40)))
                        return 0
                    }
                    guard file.start(status: status, contentRange: headers.first("Content-Range"),
                                     contentLength: headers.first("Content-Length").flatMap { Int64($0) },
                                     validator: PartValidator.of(headers)) else { return 0 }
                }
                if file.sizeAfterWriting(data.count) > maxBody {
                    file.failure = .bodyTooLarge(limit: Int(clamping: maxBody))
                    return 0
                }
                return file.write(data) ? data.count : 0
            }
            // An error page: keep its beginning for the caller, never touch the .part file.
            let room = FileSink.errorBodyLimit - body.count
            if room > 0 { body.append(contentsOf: UnsafeRawBufferPointer(rebasing: data.prefix(room))) }
            return data.count
        case .stream(let stream):
            if isSuccessStatus {
                if stream.received == 0, let encoding = headers.first("Content-Encoding")?.lowercased(), !encoding.isEmpty, encoding != "identity" {
                    stream.failure = HTTPError.unexpectedEncoding(String(encoding.prefix(40)))
                    return 0
                }
                if stream.received + Int64(data.count) > maxBody {
                    stream.failure = HTTPError.bodyTooLarge(limit: Int(clamping: maxBody))
                    return 0
                }
                return stream.take(data) ? data.count : 0
            }
            let room = FileSink.errorBodyLimit - body.count
            if room > 0 { body.append(contentsOf: UnsafeRawBufferPointer(rebasing: data.prefix(room))) }
            return data.count
        }
    }

    /// The error to report for a failed curl result.
    func error(for code: CURLcode) -> HTTPError {
        if case .memory(let limit) = sink, overflowed { return .bodyTooLarge(limit: limit) }
        if code == CURLE_FILESIZE_EXCEEDED { return .bodyTooLarge(limit: Int(clamping: maxBody)) }
        if headersOverflowed { return .other(code: Int(code.rawValue), message: "the server sent more than \(Self.maxHeaderBytes) bytes of headers") }
        if case .file(let file) = sink, let failure = file.failure { return failure }
        if case .stream(let stream) = sink, let failure = stream.failure as? HTTPError { return failure }
        if let failure = uploads.lazy.compactMap(\.failure).first { return failure }
        var message = String(cString: errorBuffer)
        if message.isEmpty { message = String(cString: curl_easy_strerror(code)) }
        return HTTPError.from(code: code, message: message)
    }
}

/// The consumer side of a streamed download: each piece of a 2xx body goes to `consume` on the
/// curl thread as it arrives (nothing is kept), so the consumer must be quick and must not block
/// for long; an error it throws stops the transfer and is what the caller sees.
final class StreamSink: @unchecked Sendable {
    let consume: (UnsafeRawBufferPointer) throws -> Void
    /// Body bytes handed over so far.
    var received: Int64 = 0
    /// Why the transfer stopped: the consumer's error, or the transport's refusal.
    var failure: (any Error)?

    init(consume: @escaping (UnsafeRawBufferPointer) throws -> Void) { self.consume = consume }

    /// Hands one piece over; false (the consumer threw) aborts the transfer.
    func take(_ data: UnsafeRawBufferPointer) -> Bool {
        do { try consume(data) } catch {
            failure = error
            return false
        }
        received += Int64(data.count)
        return true
    }
}

/// The file side of a download: a `.part` file, or an `UnnamedFile` in its folder. The caller
/// opens (creates) the file before the request, in its own thread: creating an inode can take
/// milliseconds in a busy ext4 directory, and the curl thread, which drives every transfer,
/// should only receive. The first 2xx byte decides between appending (a 206 that continues our
/// prefix) and starting clean. Bodies are written and hashed by the engine's `BodyPipeline`
/// (whose hasher alone touches `hashers` meanwhile), except a small unnamed file, which the curl
/// thread writes and hashes itself (`hashesInline`).
///
/// Either way the body is gathered into buffers of `BodyPipeline.bufferSize` (64 KiB) first:
/// curl hands it over 16 KiB at a time, and one `pwrite` per 64 KiB costs the kernel less than
/// four (fewer calls, and larger page-cache folios on ext4).
final class FileSink: @unchecked Sendable {
    static let errorBodyLimit = 64 << 10

    let path: String
    /// Bytes already in the file when a resumed request was sent (0 for a fresh download).
    let resumeFrom: Int64
    /// Hashes of the existing prefix, used when the server answers 206 (nil: nothing to resume).
    let prefixHashers: Hashers?
    var hashers: Hashers
    let pipeline: BodyPipeline
    let progress: (@Sendable (Int64) -> Void)?

    private var fd: Int32
    /// The file has no name (it owns `fd`); nil for a `.part` file.
    private(set) var unnamed: UnnamedFile?
    /// This sink created the file (it did not exist): it is empty, nothing to truncate or remove.
    let created: Bool
    /// The first body byte has arrived and the file is positioned for it.
    private(set) var started = false
    /// The body stays in an unnamed file, small enough (at most `UnnamedFile.sizeLimit`) to
    /// hash on the curl thread as each piece is written, while it is still in the CPU's cache:
    /// no copy into the `BodyPipeline` and no thread hop, and the caller need not read the file back
    /// (10,000 × 64 KiB: 1.55 -> 1.42 s, 2.28 -> 2.08 CPU-s against reading back on the pool).
    private(set) var hashesInline = false
    /// For a small unnamed file: when its body began, and the validator a `.part` would keep.
    private var unnamedSince: UInt64 = 0
    private var unnamedValidator: String?
    /// A small unnamed file still arriving after this long is named `<file>.part` (one link):
    /// a slow link or a kill then keeps what arrived, and the next attempt resumes it, instead
    /// of fetching it from byte 0 again (a small file on a slow link could loop forever).
    static let nameSlowFilesAfterNanoseconds: UInt64 = 100_000_000
    /// A slow body's gathered bytes go to the disk at least this often, not only when a 64 KiB
    /// buffer fills: a kill then loses at most this long of what arrived (a buffer fills in
    /// microseconds on a fast link, so fast transfers never reach it).
    static let flushSlowBodiesAfterNanoseconds: UInt64 = 20_000_000
    /// When the staged bytes last went to the disk (or the pipeline).
    private var lastFlushAt: UInt64 = 0
    var bytesWritten: Int64 = 0
    var appended = false
    var failure: HTTPError?
    /// Where the staged bytes go in the file.
    private var offset: Int64 = 0
    /// Body bytes received and not yet written (inline) or handed to the pipeline: the first
    /// `staged` bytes of `stage`, a buffer of the pipeline's (no buffer until the first byte).
    private var stage = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    private var staged = 0
    /// The pipeline's writer could not write (set on its thread; the next flush sees it).
    private let writeFailure = Mutex<HTTPError?>(nil)

    /// Opens (creating, never truncating) `path` for a download; truncation waits for a 2xx answer.
    /// `unnamed`: an unnamed file in `path`'s folder instead, where the file system has them.
    init(path: String, unnamed: Bool = false, resumeFrom: Int64, prefixHashers: Hashers?, freshHashers: Hashers,
         pipeline: BodyPipeline, progress: (@Sendable (Int64) -> Void)?) throws(HTTPError) {
        self.path = path
        self.resumeFrom = resumeFrom
        self.prefixHashers = prefixHashers
        self.hashers = freshHashers
        self.pipeline = pipeline
        self.progress = progress
        let folder = path.utf8.lastIndex(of: UInt8(ascii: "/")).map { String(path[..<$0]) } ?? "."
        let opened: (UnnamedFile, Int32)?
        do { opened = unnamed && resumeFrom == 0 ? try UnnamedFile.create(in: folder.isEmpty ? "/" : folder) : nil } catch {
            throw HTTPError(error)
        }
        if let (file, fd) = opened {
            self.unnamed = file
            self.fd = fd
            created = true
            return
        }
        self.unnamed = nil
        // Exclusive first: the common case (no .part yet) then needs no stat and no truncate.
        fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        created = fd >= 0
        if fd < 0 && errno == EEXIST { fd = Glibc.open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644) }
        if fd < 0 { throw .fileSystem(path: path, errno: errno, message: errnoMessage(errno)) }
    }

    deinit { close() }

    /// Positions the file for the body: after our prefix on a 206 that continues it, else empty.
    /// An unnamed file for a body that may be large (over `UnnamedFile.sizeLimit`, or of unknown
    /// length) is named `path` now, so that a killed run can resume it like any `.part` file
    /// (a directory operation on the curl thread, but one per large file, not per small one).
    /// A `.part` file whose body starts from byte 0 records the answer's `validator`, for the
    /// `If-Range` of a later resume (see `PartValidator`); a small unnamed file never asks for it.
    func start(status: Int, contentRange: String?, contentLength: Int64?, validator: @autoclosure () -> String?) -> Bool {
        started = true
        lastFlushAt = Self.monotonicNanoseconds()
        if let file = unnamed {
            guard let length = contentLength, length <= UnnamedFile.sizeLimit else {
                do {
                    try file.nameAndKeepOpen(as: path)
                } catch {
                    failure = HTTPError(error)
                    return false
                }
                unnamed = nil  // the descriptor is this sink's now
                if let validator = validator() { PartValidator.store(validator, on: fd) }
                return true
            }
            hashesInline = true
            unnamedSince = Self.monotonicNanoseconds()
            unnamedValidator = validator()
            return true
        }
        if status == 206, resumeFrom > 0, let prefixHashers {
            guard let contentRange, Self.rangeStart(contentRange) == resumeFrom else {
                failure = .other(code: -1, message: "206 answer does not continue at byte \(resumeFrom)")
                return false
            }
            appended = true
            hashers = prefixHashers
            offset = resumeFrom
            return true
        }
        // From byte 0: a new file, or the server ignored Range or found the validator stale (200).
        if !created && !check(ftruncate(fd, 0) == 0) { return false }
        let validator = validator()
        if validator != nil || !created { PartValidator.store(validator, on: fd) }
        return true
    }

    /// Takes a piece of the body (on the curl thread); false aborts the transfer.
    func write(_ data: UnsafeRawBufferPointer) -> Bool {
        if fd < 0 || failure != nil { return false }
        if let file = unnamed, Self.monotonicNanoseconds() - unnamedSince > Self.nameSlowFilesAfterNanoseconds {
            do {
                try file.nameAndKeepOpen(as: path)
            } catch {
                failure = HTTPError(error)
                return false
            }
            unnamed = nil  // the descriptor is this sink's now; it goes on hashing inline
            PartValidator.store(unnamedValidator, on: fd)
        }
        var rest = data
        while !rest.isEmpty {
            if stage.baseAddress == nil { stage = pipeline.takeBuffer() }
            let n = min(rest.count, stage.count - staged)
            UnsafeMutableRawBufferPointer(rebasing: stage[staged..<staged + n])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: rest[..<n]))
            staged += n
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            if staged == stage.count, !flush() { return false }
        }
        if staged > 0, Self.monotonicNanoseconds() - lastFlushAt > Self.flushSlowBodiesAfterNanoseconds, !flush() { return false }
        bytesWritten += Int64(data.count)
        progress?(bytesWritten)
        return true
    }

    /// A cheap clock (a few milliseconds coarse is plenty) for naming slow small files.
    static func monotonicNanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    /// The file's size once `count` more body bytes are written.
    func sizeAfterWriting(_ count: Int) -> Int64 { (appended ? resumeFrom : 0) + bytesWritten + Int64(count) }

    /// Writes and hashes the staged bytes (inline), or hands them to the pipeline; on the curl
    /// thread, when the stage is full and when the transfer ends. False when the write failed.
    @discardableResult
    func flush() -> Bool {
        guard staged > 0, fd >= 0, failure == nil else { return failure == nil }
        lastFlushAt = Self.monotonicNanoseconds()
        let bytes = UnsafeRawBufferPointer(rebasing: stage[..<staged])
        let position = offset
        offset += Int64(staged)
        staged = 0
        if hashesInline {
            let code = Self.write(bytes, to: fd, at: position)
            guard code == 0 else {
                failure = .fileSystem(path: path, errno: code, message: errnoMessage(code))
                return false
            }
            hashers.update(bytes)
        } else {
            if let failed = writeFailure.withLock({ $0 }) {
                failure = failed
                return false
            }
            pipeline.submit(stage, count: bytes.count, at: position, for: self)
            stage = UnsafeMutableRawBufferPointer(start: nil, count: 0)  // the pipeline's now
        }
        return true
    }

    /// Writes a chunk the pipeline queued (on its writer thread); a failure ends the transfer.
    func writeNow(_ data: UnsafeRawBufferPointer, at position: Int64) {
        guard fd >= 0, writeFailure.withLock({ $0 }) == nil else { return }
        let code = Self.write(data, to: fd, at: position)
        if code != 0 {
            writeFailure.withLock { $0 = .fileSystem(path: path, errno: code, message: errnoMessage(code)) }
        }
    }

    /// Why the body did not make it into the file, once the pipeline has written what it got.
    var finalFailure: HTTPError? { failure ?? writeFailure.withLock { $0 } }

    /// `pwrite`s all of `data` at `position`; returns 0 or the errno.
    private static func write(_ data: UnsafeRawBufferPointer, to fd: Int32, at position: Int64) -> Int32 {
        var done = 0
        while done < data.count {
            let n = pwrite(fd, data.baseAddress! + done, data.count - done, off_t(position) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            done += n
        }
        return 0
    }

    /// No more writes (call `flush` first). A `.part` file is closed; an unnamed file stays open
    /// (its `UnnamedFile` owns the descriptor) until it is linked or dropped.
    func close() {
        if stage.baseAddress != nil {
            pipeline.returnBuffer(stage)
            stage = UnsafeMutableRawBufferPointer(start: nil, count: 0)
            staged = 0
        }
        if fd >= 0 {
            if unnamed == nil, Glibc.close(fd) != 0 { _ = check(false) }
            fd = -1
        }
    }

    /// Records errno as the failure when `ok` is false.
    private func check(_ ok: Bool) -> Bool {
        if !ok, failure == nil { failure = .fileSystem(path: path, errno: errno, message: errnoMessage(errno)) }
        return ok
    }

    /// The first byte position of `bytes N-M/T`.
    static func rangeStart(_ value: String) -> Int64? {
        guard let unitEnd = value.firstIndex(of: " ") else { return nil }
        let rest = value[value.index(after: unitEnd)...]
        guard let dash = rest.firstIndex(of: "-") else { return nil }
        return Int64(rest[..<dash])
    }
}

/// Bytes for an upload (request body or multipart part), from memory or a file slice.
final class UploadSource {
    enum Storage {
        case bytes([UInt8])
        case file(fd: Int32, path: String)
    }

    let storage: Storage
    let offset: Int64
    let length: Int64
    var position: Int64 = 0
    var failure: HTTPError?
    /// Hashes the bytes as curl takes them (restarted here: each source sends from its start).
    let digest: RequestBodyDigest?

    init(bytes: [UInt8], digest: RequestBodyDigest? = nil) {
        storage = .bytes(bytes)
        offset = 0
        length = Int64(bytes.count)
        self.digest = digest
        digest?.restart()
    }

    /// Opens a slice of a file; the length is clamped to the file's size.
    init(path: String, offset: Int64, length: Int64?, digest: RequestBodyDigest? = nil) throws(HTTPError) {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .fileSystem(path: path, errno: errno, message: errnoMessage(errno)) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            Glibc.close(fd)
            throw .fileSystem(path: path, errno: code, message: errnoMessage(code))
        }
        let available = max(0, Int64(info.st_size) - offset)
        storage = .file(fd: fd, path: path)
        self.offset = offset
        self.length = min(length ?? available, available)
        self.digest = digest
        digest?.restart()
    }

    deinit {
        if case .file(let fd, _) = storage { Glibc.close(fd) }
    }

    /// Copies up to `capacity` bytes into curl's buffer; 0 at the end; abort on a read error.
    func read(into buffer: UnsafeMutablePointer<CChar>, capacity: Int) -> Int {
        let want = Int(min(Int64(capacity), length - position))
        if want <= 0 { return 0 }
        switch storage {
        case .bytes(let bytes):
            bytes.withUnsafeBytes { raw in
                UnsafeMutableRawPointer(buffer).copyMemory(from: raw.baseAddress! + Int(position), byteCount: want)
            }
            digest?.update(UnsafeRawBufferPointer(start: buffer, count: want), at: position)
            position += Int64(want)
            return want
        case .file(let fd, let path):
            while true {
                let n = pread(fd, buffer, want, off_t(offset + position))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    failure = .fileSystem(path: path, errno: n < 0 ? errno : EIO,
                                          message: n < 0 ? errnoMessage(errno) : "file shrank during upload")
                    return flow_readfunc_abort()
                }
                digest?.update(UnsafeRawBufferPointer(start: buffer, count: n), at: position)
                position += Int64(n)
                return n
            }
        }
    }

    /// Rewinds (curl asks when it must resend, e.g. on a dead reused connection).
    func seek(to target: Int64, origin: Int32) -> Int32 {
        guard origin == SEEK_SET, target >= 0, target <= length else { return 2 } // CURL_SEEKFUNC_CANTSEEK
        position = target
        digest?.rewound(to: target)
        return 0 // CURL_SEEKFUNC_OK
    }
}
