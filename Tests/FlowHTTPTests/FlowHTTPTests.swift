import CCurl
import FlowFiles
@testable import FlowHTTP
import Foundation
import Testing

// MARK: helpers

/// A fresh temporary directory for one test.
func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "flowhttp-tests-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func readFile(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func hexDigest(_ algorithm: DigestAlgorithm, _ bytes: [UInt8]) -> String { Digester.hex(algorithm, of: bytes) }

func makeClient(_ adjust: (inout HTTPClientConfiguration) -> Void = { _ in }) throws -> HTTPClient {
    var configuration = HTTPClientConfiguration()
    configuration.connectTimeout = .seconds(5)
    adjust(&configuration)
    return try HTTPClient(configuration: configuration)
}

/// Runs `body` and returns the `HTTPError` it throws (nil when it succeeds).
func httpError(_ body: () async throws -> Void) async -> HTTPError? {
    do {
        try await body()
        return nil
    } catch let error as HTTPError {
        return error
    } catch {
        Issue.record("unexpected error type: \(error)")
        return nil
    }
}

// MARK: downloads

@Suite struct DownloadTests {
    @Test func downloadIsByteIdenticalWithDigests() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let size = 1_000_003
        let result = try await client.download(HTTPRequest(url: "\(server.base)/bytes/\(size)"),
                                               to: "\(dir)/a.part", resume: true, digests: [.md5, .sha1])
        let expected = pattern(0..<size)
        #expect(result.status == 200)
        #expect(result.bytesWritten == Int64(size))
        #expect(result.fileSize == Int64(size))
        #expect(!result.resumed)
        #expect(try readFile("\(dir)/a.part") == expected)
        #expect(result.digests[.sha256] == hexDigest(.sha256, expected))
        #expect(result.digests[.md5] == hexDigest(.md5, expected))
        #expect(result.digests[.sha1] == hexDigest(.sha1, expected))
    }

    /// A task that prefers one of the client's curl threads runs there, sends through that
    /// thread's engine, and is back on it after each download: small (hashed inline), large (through
    /// the pipeline) and refused alike.
    @Test func aTaskOnACurlThreadDownloadsAndResumesThere() async throws {
        let server = try await Servers.main.value
        let client = try makeClient { $0.curlThreads = 2 }
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let executors = client.taskExecutors
        #expect(executors.count == 2)
        let onItsThread = await Task(executorPreference: executors[1]) { () -> [Bool] in
            var seen: [Bool] = []
            for (name, path) in [("small", "bytes/70000"), ("large", "bytes/5000000"), ("refused", "status/404")] {
                _ = try? await client.download(HTTPRequest(url: "\(server.base)/\(path)"), to: "\(dir)/\(name).part",
                                               resume: false, unnamed: name == "small", digests: [])
                seen.append((executors[1] as! CurlEngine).isCurrentThread)
            }
            return seen
        }.value
        #expect(onItsThread == [true, true, true])
        #expect(try readFile("\(dir)/large.part") == pattern(0..<5_000_000))
        #expect(client.loads == [0, 0])
    }

    /// Hashing runs on a worker thread with at most 8 MiB queued: big and small downloads at
    /// once must still each get the digest of exactly their own bytes.
    /// Half the downloads are unnamed (small ones hashed on the curl thread, large ones named
    /// `.part` and hashed by the worker), half `.part` files: every digest belongs to its own body.
    /// Bodies are gathered into 64 KiB buffers: 700,001 bytes unnamed and 300,000 bytes in a
    /// `.part` take a few buffers each, the last one part full.
    @Test func concurrentDownloadsGetTheirOwnDigestsUnderHashBackpressure() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sizes = [12 << 20, 9 << 20 + 7, 700_001, 300_000] + (0..<40).map { 1 + $0 * 4093 }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (n, size) in sizes.enumerated() {
                group.addTask {
                    let result = try await client.download(HTTPRequest(url: "\(server.base)/bytes/\(size)"),
                                                           to: "\(dir)/\(n).part", resume: false,
                                                           unnamed: n % 2 == 0, digests: [.md5])
                    let expected = pattern(0..<size)
                    #expect(result.fileSize == Int64(size))
                    #expect(result.digests[.sha256] == hexDigest(.sha256, expected))
                    #expect(result.digests[.md5] == hexDigest(.md5, expected))
                    // And the bytes in the file are the body, each buffer at its place.
                    var path = "\(dir)/\(n).part"
                    if let file = result.unnamedFile {
                        path = "\(dir)/\(n)"
                        try file.link(as: path)
                    }
                    #expect(try readFile(path) == expected)
                }
            }
            try await group.waitForAll()
        }
    }

    @Test func emptyBodyCreatesEmptyFile() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try await client.download(HTTPRequest(url: "\(server.base)/norange/0"), to: "\(dir)/e.part")
        #expect(result.status == 200)
        #expect(try readFile("\(dir)/e.part").isEmpty)
        #expect(result.digests[.sha256] == hexDigest(.sha256, []))
    }

    @Test func resumeAppendsAndDigestsTheWholeFile() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let size = 700_001
        let prefix = 300_000
        try writeFile("\(dir)/r.part", pattern(0..<prefix))
        let progress = ProgressLog()
        let result = try await client.download(HTTPRequest(url: "\(server.base)/bytes/\(size)"),
                                               to: "\(dir)/r.part", resume: true, digests: [.md5],
                                               progress: { progress.record($0) })
        let expected = pattern(0..<size)
        #expect(result.status == 206)
        #expect(result.resumed)
        #expect(result.bytesWritten == Int64(size - prefix))
        #expect(result.fileSize == Int64(size))
        #expect(try readFile("\(dir)/r.part") == expected)
        #expect(result.digests[.sha256] == hexDigest(.sha256, expected))
        #expect(result.digests[.md5] == hexDigest(.md5, expected))
        #expect(progress.last == Int64(size - prefix))
    }

    @Test func serverIgnoringRangeStartsClean() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeFile("\(dir)/n.part", [UInt8](repeating: 0xEE, count: 5000))
        let size = 50_000
        let result = try await client.download(HTTPRequest(url: "\(server.base)/norange/\(size)"),
                                               to: "\(dir)/n.part", resume: true)
        #expect(result.status == 200)
        #expect(!result.resumed)
        #expect(result.fileSize == Int64(size))
        #expect(try readFile("\(dir)/n.part") == pattern(0..<size))
        #expect(result.digests[.sha256] == hexDigest(.sha256, pattern(0..<size)))
    }

    @Test func resumeWithoutResumeFlagTruncates() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeFile("\(dir)/t.part", [UInt8](repeating: 1, count: 90_000))
        let result = try await client.download(HTTPRequest(url: "\(server.base)/bytes/1000"), to: "\(dir)/t.part",
                                               resume: false)
        #expect(result.status == 200)
        #expect(try readFile("\(dir)/t.part") == pattern(0..<1000))
    }

    @Test func completePartFileGets416AndIsUntouched() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeFile("\(dir)/c.part", pattern(0..<4096))
        let result = try await client.download(HTTPRequest(url: "\(server.base)/bytes/4096"), to: "\(dir)/c.part")
        #expect(result.status == 416)
        #expect(result.fileSize == 4096)
        #expect(result.digests.isEmpty)
        #expect(try readFile("\(dir)/c.part") == pattern(0..<4096))
    }

    @Test(arguments: [500, 401, 404, 429])
    func errorStatusIsNeverWrittenToThePartFile(code: Int) async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeFile("\(dir)/p.part", pattern(0..<1234))
        let result = try await client.download(HTTPRequest(url: "\(server.base)/status/\(code)"), to: "\(dir)/p.part")
        #expect(result.status == code)
        #expect(!result.isSuccess)
        #expect(String(decoding: result.errorBody, as: UTF8.self) == #"{"error":"boom"}"#)
        #expect(try readFile("\(dir)/p.part") == pattern(0..<1234))

        let fresh = try await client.download(HTTPRequest(url: "\(server.base)/status/\(code)"), to: "\(dir)/q.part")
        #expect(fresh.status == code)
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/q.part"))
    }

    @Test func twoHundredConcurrentTransfers() async throws {
        let server = try await Servers.main.value
        let client = try makeClient { $0.maxConnections = 8; $0.maxConnectionsPerHost = 8 }
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<200 {
                group.addTask {
                    let size = 1000 + i * 37
                    let result = try await client.download(HTTPRequest(url: "\(server.base)/bytes/\(size)"),
                                                           to: "\(dir)/\(i).part")
                    #expect(result.status == 200)
                    #expect(result.digests[.sha256] == hexDigest(.sha256, pattern(0..<size)))
                    #expect(try readFile("\(dir)/\(i).part").count == size)
                }
            }
            try await group.waitForAll()
        }
    }

    @Test func transfersSpreadOverTheCurlThreads() async throws {
        let server = try await Servers.main.value
        let client = try makeClient { $0.curlThreads = 3 }
        defer { client.shutdown() }
        #expect(client.loads == [0, 0, 0])
        await withTaskGroup(of: Void.self) { group in
            for started in 1...6 {
                group.addTask { _ = try? await client.send(HTTPRequest(url: "\(server.base)/hang")) }
                let deadline = ContinuousClock.now + .seconds(5)
                while client.loads.reduce(0, +) < started, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(5)) }
            }
            #expect(client.loads == [2, 2, 2])
            group.cancelAll()
        }
        #expect(client.loads == [0, 0, 0])
    }

    @Test func aBurstOnFreshConnectionsGoesOutAtOnce() async throws {
        // Plain http: no request may wait for another connection's first answer (curl's
        // PIPEWAIT, meant for HTTP/2 over TLS, did that: a round trip lost per fresh burst).
        let server = try await Servers.main.value
        let client = try makeClient { $0.curlThreads = 1 }
        defer { client.shutdown() }
        let key = UUID().uuidString
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<4 { group.addTask { try await client.send(HTTPRequest(url: "\(server.base)/together/4/\(key)")).status } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses == [200, 200, 200, 200])
    }

    @Test func followsRedirectToAnotherOrigin() async throws {
        let server = try await Servers.main.value
        let other = try await Servers.other.value
        let client = try makeClient()
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let target = "\(other.base)/bytes/5000"
        let result = try await client.download(HTTPRequest(url: "\(server.base)/redirect?to=\(target)"),
                                               to: "\(dir)/x.part")
        #expect(result.status == 200)
        #expect(result.effectiveURL == target)
        #expect(try readFile("\(dir)/x.part") == pattern(0..<5000))
    }
}

/// Small downloads go to an unnamed file (O_TMPFILE) that appears, whole, only when linked.
@Suite struct UnnamedFileTests {
    /// The folder's entries, sorted.
    func entries(_ dir: String) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: dir).sorted() }

    @Test func bodyIsInvisibleUntilLinkedThenByteIdentical() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let size = 300_007
        let result = try await client.download(HTTPRequest(url: "\(server.base)/bytes/\(size)"), to: "\(dir)/a.part",
                                               resume: false, unnamed: true, digests: [.md5])
        let file = try #require(result.unnamedFile)
        #expect(file.folder == dir)
        #expect(try entries(dir).isEmpty, "nothing named before the link, not even a.part")
        #expect(result.fileSize == Int64(size))
        // Hashed by the caller once whole (read back from the unnamed file), every requested digest.
        #expect(result.digests[.sha256] == hexDigest(.sha256, pattern(0..<size)))
        #expect(result.digests[.md5] == hexDigest(.md5, pattern(0..<size)))
        try file.link(as: "\(dir)/a")
        #expect(try entries(dir) == ["a"])
        #expect(try readFile("\(dir)/a") == pattern(0..<size))
        #expect(throws: FileSystemError.self) { try file.link(as: "\(dir)/again") }
    }

    @Test func linkReplacesAnExistingFileAtomically() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeFile("\(dir)/a", Array("old copy".utf8))
        let result = try await client.download(HTTPRequest(url: "\(server.base)/bytes/5000"), to: "\(dir)/a.part",
                                               resume: false, unnamed: true)
        try #require(result.unnamedFile).link(as: "\(dir)/a")
        #expect(try readFile("\(dir)/a") == pattern(0..<5000))
        #expect(try entries(dir) == ["a"], "no helper name left behind")
    }

    @Test func droppedOrFailedDownloadsLeaveNothing() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try await client.download(HTTPRequest(url: "\(server.base)/bytes/5000"), to: "\(dir)/dropped.part",
                                      resume: false, unnamed: true)
        let refused = try await client.download(HTTPRequest(url: "\(server.base)/status/500"), to: "\(dir)/refused.part",
                                                resume: false, unnamed: true)
        #expect(refused.status == 500 && refused.unnamedFile == nil)
        let cut = await httpError {
            _ = try await client.download(HTTPRequest(url: "\(server.base)/cut/100000"), to: "\(dir)/cut.part",
                                          resume: false, unnamed: true)
        }
        #expect(cut != nil)
        #expect(try entries(dir).isEmpty)
    }

    /// A body over the size limit, or of unknown length, is named `.part` as it starts: a cut
    /// leaves the partial file for a resume, and a whole one comes back as the `.part` file.
    @Test func largeOrUnknownLengthBodiesAreNamedPartFilesAsTheyStart() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let large = Int(UnnamedFile.sizeLimit) + 1
        let whole = try await client.download(HTTPRequest(url: "\(server.base)/bytes/\(large)"), to: "\(dir)/large.part",
                                              resume: false, unnamed: true)
        #expect(whole.unnamedFile == nil)
        #expect(try readFile("\(dir)/large.part") == pattern(0..<large))
        for (name, url) in [("cut", "\(server.base)/cut/\(large)"), ("chunked", "\(server.base)/chunkedcut/1000")] {
            let error = await httpError {
                _ = try await client.download(HTTPRequest(url: url), to: "\(dir)/\(name).part", resume: false, unnamed: true)
            }
            #expect(error != nil)
            #expect(try readFile("\(dir)/\(name).part").count > 0, "\(name): the partial body is kept for a resume")
        }
    }

    /// An existing `.part` is resumed as usual: `unnamed` applies to fresh downloads only.
    /// A `.part` keeps the validator its bytes came under: a resume sends it as `If-Range`, and a
    /// file that changed upstream meanwhile comes whole, never spliced onto the old prefix.
    @Test func aResumeOfAFileThatChangedUpstreamStartsOver() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let key = UUID().uuidString
        let size = 600_000
        let url = "\(server.base)/versioned/\(key)/\(size)"
        let part = "\(dir)/v.part"

        // Cut half-way through version 1, then resumed while it is still version 1: appended.
        Versions.set(key, 1)
        await #expect(throws: HTTPError.self) { try await client.download(HTTPRequest(url: url + "?cut"), to: part) }
        #expect(PartValidator.read(part) == "\"v1\"")
        #expect(try readFile(part) == Array(Versions.body(version: 1, size: size)[..<(size / 2)]))
        let same = try await client.download(HTTPRequest(url: url), to: part, resume: true)
        #expect(same.status == 206 && same.resumed)
        #expect(try readFile(part) == Versions.body(version: 1, size: size))
        #expect(PartValidator.read(part) == nil, "a finished download keeps no validator")

        // Cut again, and the file changes upstream before the resume: sent and written whole.
        try FileManager.default.removeItem(atPath: part)
        await #expect(throws: HTTPError.self) { try await client.download(HTTPRequest(url: url + "?cut"), to: part) }
        Versions.set(key, 2)
        let changed = try await client.download(HTTPRequest(url: url), to: part, resume: true)
        #expect(changed.status == 200 && !changed.resumed)
        #expect(changed.fileSize == Int64(size))
        #expect(try readFile(part) == Versions.body(version: 2, size: size))
        #expect(changed.digests[.sha256] == hexDigest(.sha256, Versions.body(version: 2, size: size)))
    }

    @Test func onlyAStrongETagOrADateOfSaneLengthIsKeptAsAValidator() {
        func headers(_ pairs: [(String, String)]) -> HTTPHeaders {
            var h = HTTPHeaders()
            for (name, value) in pairs { h.add(name: name, value: value) }
            return h
        }
        let date = "Thu, 03 Dec 2026 10:00:00 GMT"
        #expect(PartValidator.of(headers([("ETag", "\"abc\""), ("Last-Modified", date)])) == "\"abc\"")
        #expect(PartValidator.of(headers([("ETag", "W/\"abc\""), ("Last-Modified", date)])) == date)
        #expect(PartValidator.of(headers([("ETag", "abc")])) == nil)  // unquoted: not an entity tag
        #expect(PartValidator.of(headers([("ETag", "\"" + String(repeating: "x", count: 2000) + "\"")])) == nil)
    }

    @Test func anExistingPartFileIsResumedNotReplaced() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeFile("\(dir)/r.part", pattern(0..<1000))
        let result = try await client.download(HTTPRequest(url: "\(server.base)/bytes/4000"), to: "\(dir)/r.part",
                                               resume: true, unnamed: true)
        #expect(result.status == 206 && result.resumed)
        #expect(result.unnamedFile == nil)
        #expect(try readFile("\(dir)/r.part") == pattern(0..<4000))
    }
}

final class ProgressLog: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Int64] = []
    func record(_ value: Int64) { lock.withLock { values.append(value) } }
    var last: Int64? { lock.withLock { values.last } }
}

// MARK: errors

@Suite struct ErrorTests {
    @Test func connectionRefusedIsTransient() async throws {
        let client = try makeClient()
        defer { client.shutdown() }
        // Port 1 on loopback: nothing listens there.
        let error = await httpError { _ = try await client.send(HTTPRequest(url: "http://127.0.0.1:1/")) }
        guard case .couldNotConnect = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(error?.isTransient == true)
    }

    @Test(arguments: ["cut", "chunkedcut"])
    func connectionCutMidBodyIsPartialAndTransient(route: String) async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let error = await httpError {
            _ = try await client.download(HTTPRequest(url: "\(server.base)/\(route)/200000"), to: "\(dir)/c.part")
        }
        guard case .partialBody = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(error?.isTransient == true)
        // What arrived stays in the .part file for a later resume.
        let kept = try readFile("\(dir)/c.part")
        #expect(kept == pattern(0..<kept.count))
    }

    @Test func stalledBodyIsDetected() async throws {
        let server = try await Servers.main.value
        let client = try makeClient { $0.lowSpeedLimit = 100; $0.lowSpeedTime = .seconds(1) }
        defer { client.shutdown() }
        let error = await httpError { _ = try await client.send(HTTPRequest(url: "\(server.base)/slow")) }
        guard case .stalled = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(error?.isTransient == true)
    }

    @Test func totalTimeout() async throws {
        let server = try await Servers.main.value
        let client = try makeClient { $0.lowSpeedLimit = 0 }
        defer { client.shutdown() }
        let error = await httpError {
            _ = try await client.send(HTTPRequest(url: "\(server.base)/slow", timeout: .milliseconds(500)))
        }
        guard case .timedOut = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(error?.isTransient == true)
    }

    @Test func bodyOverTheCapFails() async throws {
        let server = try await Servers.main.value
        let client = try makeClient { $0.maxResponseBodySize = 1 << 20 }
        defer { client.shutdown() }
        let error = await httpError { _ = try await client.send(HTTPRequest(url: "\(server.base)/bytes/3000000")) }
        #expect(error == .bodyTooLarge(limit: 1 << 20))
        #expect(error?.isTransient == false)
        let small = try await client.send(HTTPRequest(url: "\(server.base)/bytes/1000"))
        #expect(small.body == pattern(0..<1000))
    }

    @Test func tlsAgainstAPlainServerFails() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let error = await httpError { _ = try await client.send(HTTPRequest(url: "https://127.0.0.1:\(server.port)/")) }
        guard case .tls = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(error?.isTransient == false)
    }

    @Test func unwritablePartFileIsAFileSystemError() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let error = await httpError {
            _ = try await client.download(HTTPRequest(url: "\(server.base)/bytes/10"), to: "/nonexistent-dir/x.part")
        }
        guard case .fileSystem(_, let code, _) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(code == ENOENT)
        #expect(error?.isTransient == false)
    }

    @Test func unauthorizedIsAResponse() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let response = try await client.send(HTTPRequest(url: "\(server.base)/status/401"))
        #expect(response.status == 401)
        #expect(response.headers.first("www-authenticate") == "Bearer")
        #expect(response.text == #"{"error":"boom"}"#)
    }

    @Test func cancellationIsPrompt() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let task = Task {
            try await client.download(HTTPRequest(url: "\(server.base)/hang"), to: "\(dir)/s.part")
        }
        try await Task.sleep(for: .milliseconds(200))
        let cancelled = ContinuousClock.now
        task.cancel()
        let error = await httpError { _ = try await task.value }
        #expect(error == .cancelled)
        // The server would take a minute; a cancelled transfer ends at once (slack for a busy CI,
        // where other tests keep the 2-thread pool busy).
        #expect(ContinuousClock.now - cancelled < .seconds(5))
        // The client keeps working after a cancellation.
        let ok = try await client.send(HTTPRequest(url: "\(server.base)/bytes/10"))
        #expect(ok.status == 200)
    }

    @Test func alreadyCancelledTaskDoesNotSend() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await client.send(HTTPRequest(url: "\(server.base)/hang"))
        }
        let error = await httpError { _ = try await task.value }
        #expect(error == .cancelled)
    }

    @Test func shutdownFailsLaterRequests() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        client.shutdown()
        let error = await httpError { _ = try await client.send(HTTPRequest(url: "\(server.base)/bytes/10")) }
        #expect(error == .cancelled)
    }
}

// MARK: uploads and redirects

@Suite struct UploadAndRedirectTests {
    @Test func putFileArrivesByteIdentical() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bytes = pattern(7..<3_000_007)
        try writeFile("\(dir)/u.bin", bytes)
        let response = try await client.send(HTTPRequest(method: "PUT", url: "\(server.base)/upload",
                                                         body: .file(path: "\(dir)/u.bin")))
        #expect(response.status == 200)
        #expect(response.text == "PUT \(bytes.count) \(sha256Hex(bytes))")
        #expect(response.headers.first("etag") == "\"\(sha256Hex(bytes))\"")

        // A slice, as Grand Challenge's multipart-upload parts are.
        let slice = try await client.send(HTTPRequest(method: "PUT", url: "\(server.base)/upload",
                                                      body: .file(path: "\(dir)/u.bin", offset: 1000, length: 5000)))
        #expect(slice.text == "PUT 5000 \(sha256Hex(Array(bytes[1000..<6000])))")
    }

    /// The MD5 of a sent body comes from the bytes curl read to send it (one read of the file),
    /// and restarts when the same request is sent again.
    @Test func aBodyIsHashedWhileItIsSent() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bytes = pattern(3..<2_000_003)
        try writeFile("\(dir)/u.bin", bytes)
        let digest = RequestBodyDigest(.md5)
        var put = HTTPRequest(method: "PUT", url: "\(server.base)/upload", body: .file(path: "\(dir)/u.bin"))
        put.bodyDigest = digest
        let response = try await client.send(put)
        #expect(response.text == "PUT \(bytes.count) \(sha256Hex(bytes))")
        #expect(digest.hex(ofLength: Int64(bytes.count)) == Digester.hex(.md5, of: bytes))
        // Not the length sent: no digest.
        #expect(digest.hex(ofLength: Int64(bytes.count) - 1) == nil)
        // Sent again (a retry): hashed from the start again, not on top of the first send.
        _ = try await client.send(put)
        #expect(digest.hex(ofLength: Int64(bytes.count)) == Digester.hex(.md5, of: bytes))
        let slice = RequestBodyDigest(.md5)
        var part = HTTPRequest(method: "PUT", url: "\(server.base)/upload", body: .file(path: "\(dir)/u.bin", offset: 10, length: 5000))
        part.bodyDigest = slice
        _ = try await client.send(part)
        #expect(slice.hex(ofLength: 5000) == Digester.hex(.md5, of: Array(bytes[10..<5010])))
    }

    @Test func postBytes() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let bytes = Array(#"{"a":1}"#.utf8)
        let response = try await client.send(HTTPRequest(method: "POST", url: "\(server.base)/upload",
                                                         headers: ["Content-Type": "application/json"],
                                                         body: .bytes(bytes)))
        #expect(response.text == "POST \(bytes.count) \(sha256Hex(bytes))")
    }

    @Test func multipartStreamsFileParts() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bytes = pattern(0..<100_000)
        try writeFile("\(dir)/chunk.bin", bytes)
        let response = try await client.send(HTTPRequest(method: "POST", url: "\(server.base)/echo", body: .multipart([
            MultipartPart(name: "flowChunkNumber", content: .text("3")),
            MultipartPart(name: "file", content: .file(path: "\(dir)/chunk.bin", offset: 10, length: 50_000),
                          filename: "scan.dcm", contentType: "application/octet-stream"),
        ])))
        #expect(response.status == 200)
        #expect(response.headers.first("content-type")?.hasPrefix("multipart/form-data; boundary=") == true)
        let body = response.body
        #expect(body.firstRange(of: Array(#"name="flowChunkNumber""#.utf8)) != nil)
        #expect(body.firstRange(of: Array(#"filename="scan.dcm""#.utf8)) != nil)
        #expect(body.firstRange(of: Array(bytes[10..<50_010])) != nil)
    }

    /// A multipart body's file part is hashed as it is sent, and a digest can go on over the next
    /// chunk of the same file: the last chunk's digest is the whole file's (Agora's SHA-1).
    @Test func chunksOfAFileAreHashedWhileSentIntoOneDigest() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bytes = pattern(0..<150_000)
        try writeFile("\(dir)/f.bin", bytes)
        func chunk(_ offset: Int64, _ length: Int64, _ digest: RequestBodyDigest?) async throws {
            var request = HTTPRequest(method: "POST", url: "\(server.base)/echo", body: .multipart([
                MultipartPart(name: "flowChunkNumber", content: .text("1")),
                MultipartPart(name: "file", content: .file(path: "\(dir)/f.bin", offset: offset, length: length)),
            ]))
            request.bodyDigest = digest
            #expect(try await client.send(request).status == 200)
        }
        let first = RequestBodyDigest(.sha1)
        try await chunk(0, 100_000, first)
        #expect(first.hex(ofLength: 100_000) == Digester.hex(.sha1, of: Array(bytes[0..<100_000])))
        #expect(first.continued(afterLength: 99_999) == nil)  // not what was sent: no chain
        let second = try #require(first.continued(afterLength: 100_000))
        try await chunk(100_000, 50_000, second)
        try await chunk(100_000, 50_000, second)  // sent again (a retry): from the chunk's start, not the file's
        #expect(second.hex(ofLength: 50_000) == Digester.hex(.sha1, of: bytes))
    }

    @Test func missingUploadFileFailsBeforeSending() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let error = await httpError {
            _ = try await client.send(HTTPRequest(method: "PUT", url: "\(server.base)/upload", body: .file(path: "/nope")))
        }
        guard case .fileSystem = error else { Issue.record("got \(String(describing: error))"); return }
    }

    @Test func crossOriginRedirectDropsCredentials() async throws {
        let server = try await Servers.main.value
        let other = try await Servers.other.value
        let client = try makeClient()
        defer { client.shutdown() }
        let headers: HTTPHeaders = ["Authorization": "Bearer secret-token", "Cookie": "JSESSIONID=secret",
                                    "X-Trace": "kept"]
        let response = try await client.send(HTTPRequest(url: "\(server.base)/redirect?to=\(other.base)/headers",
                                                         headers: headers))
        #expect(response.status == 200)
        #expect(response.effectiveURL == "\(other.base)/headers")
        #expect(!response.text.contains("secret"))
        #expect(response.text.contains("x-trace: kept"))

        // Same origin: credentials stay.
        let same = try await client.send(HTTPRequest(url: "\(server.base)/redirect?to=/headers", headers: headers))
        #expect(same.text.contains("authorization: Bearer secret-token"))
        #expect(same.text.contains("cookie: JSESSIONID=secret"))
    }

    @Test func seeOtherTurnsPostIntoGet() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let response = try await client.send(HTTPRequest(method: "POST", url: "\(server.base)/redirect?code=303&to=/headers",
                                                         body: .bytes([1, 2, 3])))
        #expect(response.text.hasPrefix("method: GET"))
        let kept = try await client.send(HTTPRequest(method: "POST", url: "\(server.base)/redirect?code=307&to=/upload",
                                                     body: .bytes([1, 2, 3])))
        #expect(kept.text == "POST 3 \(sha256Hex([1, 2, 3]))")
    }

    @Test func redirectLoopStops() async throws {
        let server = try await Servers.main.value
        let client = try makeClient { $0.maxRedirects = 3 }
        defer { client.shutdown() }
        let loop = "\(server.base)/redirect?to=/redirect"
        let error = await httpError { _ = try await client.send(HTTPRequest(url: loop)) }
        #expect(error == .tooManyRedirects(3))
    }
}

// MARK: values

@Suite struct ValueTests {
    @Test func headersAreCaseInsensitiveAndOrdered() {
        var headers: HTTPHeaders = ["Content-Type": "a", "X-Multi": "1", "Authorization": "Bearer secret-value"]
        headers.add(name: "x-multi", value: "2")
        #expect(headers.first("content-type") == "a")
        #expect(headers["CONTENT-TYPE"] == "a")
        #expect(headers.values("X-MULTI") == ["1", "2"])
        headers.replaceOrAdd(name: "x-MULTI", value: "3")
        #expect(headers.values("x-multi") == ["3"])
        #expect(!headers.description.contains("secret-value"))  // names only, never values
    }

    @Test func headerNamesCompareAsLowercasedWouldOnEveryByte() {
        // Every pair of one-byte names, plus non-ASCII ones, against the plain definition.
        func reference(_ a: String, _ b: String) -> Bool { a.utf8.count == b.utf8.count && a.lowercased() == b.lowercased() }
        let bytes = (0...255).map { String(decoding: [UInt8($0)], as: UTF8.self) } + ["É", "é", "ß", "SS", "K", "\u{212A}"]
        for a in bytes {
            for b in bytes {
                #expect(HTTPHeaders.same("x" + a, "X" + b) == reference("x" + a, "X" + b), "\(a.debugDescription) \(b.debugDescription)")
            }
        }
        #expect(HTTPHeaders.same("Content-Length", "content-LENGTH"))
        #expect(!HTTPHeaders.same("Content-Length", "Content_Length"))
        #expect(!HTTPHeaders.same("[", "{"))  // 0x5B and 0x7B differ only in the case bit
    }

    /// `https://` to a server that speaks plain HTTP failed with "wrong version number" and the
    /// hint for a private certificate authority, which sent the user after a CA they do not need.
    @Test func httpsToAPlainHTTPServerSaysToWriteHTTP() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let error = await httpError { _ = try await client.send(HTTPRequest(url: "https://127.0.0.1:\(server.port)/")) }
        guard case .tls = error else { Issue.record("got \(String(describing: error))"); return }
        let text = error!.description
        #expect(text.contains("(the server did not answer in TLS: is its URL http://, not https://?)"), "\(text)")
        #expect(!text.contains("certificate authority"), "\(text)")
    }

    @Test func tlsHintsFollowWhatOpenSSLSaid() {
        #expect(HTTPError.tls("SSL certificate problem: self-signed certificate in certificate chain").description
            .hasSuffix("name its certificate in the source's `tls: {ca: path}`)"))
        #expect(HTTPError.tls("SSL certificate problem: certificate has expired").description
            .hasSuffix("(the server's certificate has expired: its administrators must renew it)"))
        #expect(HTTPError.tls("SSL: no alternative certificate subject name matches target host name 'x'").description
            .hasSuffix("(the certificate is for another host name: write the URL with the name it was issued for)"))
        #expect(HTTPError.tls("OpenSSL SSL_connect: Connection reset by peer").description
            == "TLS failure: OpenSSL SSL_connect: Connection reset by peer")
    }

    @Test func errorDescriptionsAndTransience() {
        #expect(HTTPError.partialBody("x").isTransient)
        #expect(!HTTPError.tls("bad certificate").isTransient)
        #expect(HTTPError.fileSystem(path: "/o/x.part", errno: ENOSPC, message: "No space left on device").description
            == "/o/x.part: No space left on device (errno \(ENOSPC))")
    }
}

/// curl's "unsupported protocol" covers two things: a scheme we refuse, and a reply that is not
/// HTTP on a reused connection; only the second is worth another try.
@Test func aReplyThatIsNotHTTPIsABrokenConnectionNotARefusedScheme() {
    let garbage = HTTPError.from(code: CURLE_UNSUPPORTED_PROTOCOL, message: "Received HTTP/0.9 when not allowed")
    #expect(garbage.isTransient, "\(garbage)")
    let refused = HTTPError.from(code: CURLE_UNSUPPORTED_PROTOCOL, message: "Protocol \"file\" not supported or disabled in libcurl")
    #expect(!refused.isTransient, "\(refused)")
}
