// A small Hummingbird server on 127.0.0.1 (port 0) with the faults FlowHTTP must survive.
import FlowFiles
import Foundation
import Hummingbird

/// The deterministic content of every `/bytes/N` file: byte i is i mod 251.
func pattern(_ range: Range<Int>) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(range.count)
    var i = range.lowerBound
    while i < range.upperBound {  // whole runs of the cycle: fast even in debug builds
        let start = i % 251
        let n = min(251 - start, range.upperBound - i)
        out.append(contentsOf: cycle[start..<start + n])
        i += n
    }
    return out
}

private let cycle: [UInt8] = (0..<251).map { UInt8($0) }

func sha256Hex(_ bytes: [UInt8]) -> String {
    Digester.hex(.sha256, of: bytes)
}

struct CutConnection: Error {}

/// Arrivals per key for the `together` route.
enum Gathering {
    private static let arrivals = NSLock()
    nonisolated(unsafe) private static var counts: [String: Int] = [:]
    static func arrive(_ key: String) { arrivals.withLock { counts[key, default: 0] += 1 } }
    static func count(_ key: String) -> Int { arrivals.withLock { counts[key, default: 0] } }
}

/// The current version of each `versioned` file, by key (one key per test).
enum Versions {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var versions: [String: Int] = [:]
    static func set(_ key: String, _ version: Int) { lock.withLock { versions[key] = version } }
    static func current(_ key: String) -> Int { lock.withLock { versions[key, default: 1] } }
    /// Every byte differs from one version to the next.
    static func body(version: Int, size: Int) -> [UInt8] { pattern(version..<version + size) }
}

/// Started once per test process (two instances: a second origin for redirect tests).
enum Servers {
    static let main = Task { try await TestServer.start() }
    static let other = Task { try await TestServer.start() }
}

struct TestServer: Sendable {
    let port: Int
    var base: String { "http://127.0.0.1:\(port)" }

    static func start() async throws -> TestServer {
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: makeRouter(),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                portSink.yield(channel.localAddress?.port ?? 0)
                portSink.finish()
            })
        Task { try await app.run() }  // runs until the test process exits
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw CutConnection() }
        return TestServer(port: port)
    }

    static func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()

        // Deterministic bytes with `Range: bytes=N-` support (206 / 416).
        router.get("bytes/:n") { request, context -> Response in
            let size = try context.parameters.require("n", as: Int.self)
            var start = 0
            if let range = request.headers[.range], range.hasPrefix("bytes="), range.hasSuffix("-"),
               let from = Int(range.dropFirst(6).dropLast()) {
                guard from < size else {
                    return Response(status: .rangeNotSatisfiable, headers: [.contentRange: "bytes */\(size)"])
                }
                start = from
            }
            var headers: HTTPFields = [.contentLength: "\(size - start)", .acceptRanges: "bytes"]
            if start > 0 { headers[.contentRange] = "bytes \(start)-\(size - 1)/\(size)" }
            return Response(status: start > 0 ? .partialContent : .ok, headers: headers,
                            body: streamed(start..<size))
        }

        // Same bytes, but Range is ignored (always 200 with the whole file).
        router.get("norange/:n") { _, context -> Response in
            let size = try context.parameters.require("n", as: Int.self)
            return Response(status: .ok, headers: [.contentLength: "\(size)"], body: streamed(0..<size))
        }

        router.get("status/:code") { _, context -> Response in
            let code = try context.parameters.require("code", as: Int.self)
            var headers: HTTPFields = [.contentType: "application/json"]
            if code == 401 { headers[.wwwAuthenticate] = "Bearer" }
            return Response(status: .init(code: code), headers: headers,
                            body: .init(byteBuffer: ByteBuffer(string: #"{"error":"boom"}"#)))
        }

        // Content-Length announces N bytes; the connection is cut after N/2.
        router.get("cut/:n") { _, context -> Response in
            let size = try context.parameters.require("n", as: Int.self)
            return Response(status: .ok, headers: [.contentLength: "\(size)"],
                            body: ResponseBody(contentLength: size) { writer in
                                try await writer.write(ByteBuffer(bytes: pattern(0..<size / 2)))
                                throw CutConnection()
                            })
        }

        // A file that changes with its version (`Versions`): a strong ETag per version, `Range`
        // honoured only while `If-Range` (when sent) names the current one; `?cut` cuts the
        // connection after half the body.
        router.get("versioned/:key/:n") { request, context -> Response in
            let size = try context.parameters.require("n", as: Int.self)
            let version = Versions.current(try context.parameters.require("key"))
            let etag = "\"v\(version)\""
            let bytes = Versions.body(version: version, size: size)
            var start = 0
            if let range = request.headers[.range], range.hasPrefix("bytes="), range.hasSuffix("-"),
               let from = Int(range.dropFirst(6).dropLast()), from < size,
               (request.headers.first { $0.name.canonicalName == "if-range" }?.value ?? etag) == etag {
                start = from
            }
            let (first, end) = (start, request.uri.query?.contains("cut") == true ? start + (size - start) / 2 : size)
            var headers: HTTPFields = [.contentLength: "\(size - start)", .eTag: etag, .acceptRanges: "bytes"]
            if start > 0 { headers[.contentRange] = "bytes \(start)-\(size - 1)/\(size)" }
            return Response(status: start > 0 ? .partialContent : .ok, headers: headers,
                            body: ResponseBody(contentLength: size - start) { writer in
                                try await writer.write(ByteBuffer(bytes: bytes[first..<end]))
                                if end < size { throw CutConnection() }
                            })
        }

        // Chunked body (no length) cut half-way.
        router.get("chunkedcut/:n") { _, context -> Response in
            let size = try context.parameters.require("n", as: Int.self)
            return Response(status: .ok, body: ResponseBody { writer in
                try await writer.write(ByteBuffer(bytes: pattern(0..<size / 2)))
                throw CutConnection()
            })
        }

        // Answers once `n` requests to `together/n/<key>` are in at the same time (or after 5 s,
        // with 504): shows whether a client sends a burst at once or holds part of it back.
        router.get("together/:n/:key") { _, context -> Response in
            let n = try context.parameters.require("n", as: Int.self)
            let key = context.parameters.get("key") ?? ""
            Gathering.arrive(key)
            let deadline = ContinuousClock.now + .seconds(5)
            while Gathering.count(key) < n, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(2)) }
            return Response(status: Gathering.count(key) >= n ? .ok : .gatewayTimeout)
        }

        // A thousand headers of 1 KiB each: a header bomb.
        router.get("headerbomb") { _, _ -> Response in
            var headers = HTTPFields()
            let value = String(repeating: "x", count: 1024)
            for i in 0..<1000 { headers[.init("X-Bomb-\(i)")!] = value }
            return Response(status: .ok, headers: headers)
        }

        // A body with no length and no end (stops after 256 MiB, or when the client goes).
        router.get("endless") { _, _ -> Response in
            Response(status: .ok, body: ResponseBody { writer in
                let chunk = ByteBuffer(bytes: pattern(0..<(64 << 10)))
                for _ in 0..<4096 { try await writer.write(chunk) }
                try await writer.finish(nil)
            })
        }

        // `Content-Encoding: gzip` although the client asked for none (a gzip bomb's first step).
        router.get("gzipped") { _, _ -> Response in
            let gzip: [UInt8] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3] + [UInt8](repeating: 0, count: 1000)
            return Response(status: .ok, headers: [.contentEncoding: "gzip", .contentLength: "\(gzip.count)"],
                            body: .init(byteBuffer: ByteBuffer(bytes: gzip)))
        }

        // Announces N bytes, sends 64 KiB, then waits 5 s: a client that reads a length over its
        // cap fails at once, not after the wait.
        router.get("announced/:n") { _, context -> Response in
            let size = try context.parameters.require("n", as: Int.self)
            return Response(status: .ok, headers: [.contentLength: "\(size)"], body: ResponseBody(contentLength: size) { writer in
                try await writer.write(ByteBuffer(bytes: pattern(0..<(64 << 10))))
                try await Task.sleep(for: .seconds(5))
                throw CutConnection()
            })
        }

        // N bytes of `pattern`, 1 KiB every 50 ms: a small file on a slow link.
        router.get("trickle/:n") { _, context -> Response in
            let size = try context.parameters.require("n", as: Int.self)
            return Response(status: .ok, headers: [.contentLength: "\(size)"], body: ResponseBody(contentLength: size) { writer in
                var at = 0
                while at < size {
                    let end = min(at + 1024, size)
                    try await writer.write(ByteBuffer(bytes: pattern(at..<end)))
                    at = end
                    try await Task.sleep(for: .milliseconds(50))
                }
                try await writer.finish(nil)
            })
        }

        // 10 bytes, then nothing for 3 s, then the rest: a stalled transfer.
        router.get("slow") { _, _ -> Response in
            Response(status: .ok, headers: [.contentLength: "20"], body: ResponseBody(contentLength: 20) { writer in
                try await writer.write(ByteBuffer(bytes: pattern(0..<10)))
                try await Task.sleep(for: .seconds(3))
                try await writer.write(ByteBuffer(bytes: pattern(10..<20)))
                try await writer.finish(nil)
            })
        }

        // 10 bytes, then nothing for a minute: for cancellation.
        router.get("hang") { _, _ -> Response in
            Response(status: .ok, headers: [.contentLength: "20"], body: ResponseBody(contentLength: 20) { writer in
                try await writer.write(ByteBuffer(bytes: pattern(0..<10)))
                try await Task.sleep(for: .seconds(60))
                try await writer.write(ByteBuffer(bytes: pattern(10..<20)))
                try await writer.finish(nil)
            })
        }

        router.get("redirect") { request, _ -> Response in
            let target = request.uri.queryParameters.get("to").map { String($0) } ?? "/redirect"  // no target: loop
            let code = request.uri.queryParameters.get("code").flatMap { Int($0) } ?? 302
            return Response(status: .init(code: code), headers: [.location: target])
        }
        for method in [HTTPRequest.Method.post, .put] {
            router.on("redirect", method: method) { request, _ -> Response in
                let target = request.uri.queryParameters.get("to").map { String($0) } ?? "/redirect"  // no target: loop
                let code = request.uri.queryParameters.get("code").flatMap { Int($0) } ?? 302
                return Response(status: .init(code: code), headers: [.location: target])
            }
        }

        // The request's method and headers, one "name: value" per line.
        router.on("headers", method: .get) { request, _ -> Response in
            echoHeaders(request)
        }
        router.on("headers", method: .post) { request, _ -> Response in
            echoHeaders(request)
        }

        // Upload sink: answers the SHA-256 and size of what arrived, and an ETag.
        for method in [HTTPRequest.Method.put, .post] {
            router.on("upload", method: method) { request, _ -> Response in
                var hasher = Digester(.sha256)
                var count = 0
                for try await buffer in request.body {
                    buffer.withUnsafeReadableBytes { hasher.update($0) }
                    count += buffer.readableBytes
                }
                let digest = hasher.hexDigest()
                return Response(status: .ok, headers: [.eTag: "\"\(digest)\""],
                                body: .init(byteBuffer: ByteBuffer(string: "\(request.method) \(count) \(digest)")))
            }
        }

        // Echoes the raw request body (multipart checks).
        router.post("echo") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 16 << 20)
            let type = request.headers[.contentType] ?? ""
            return Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: body))
        }

        return router
    }

    static func echoHeaders(_ request: Request) -> Response {
        var lines = "method: \(request.method)\n"
        for field in request.headers { lines += "\(field.name.canonicalName): \(field.value)\n" }
        return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: lines)))
    }

    /// A body of `pattern(range)` written in 64 KiB buffers.
    static func streamed(_ range: Range<Int>) -> ResponseBody {
        ResponseBody(contentLength: range.count) { writer in
            var at = range.lowerBound
            while at < range.upperBound {
                let end = min(at + (64 << 10), range.upperBound)
                try await writer.write(ByteBuffer(bytes: pattern(at..<end)))
                at = end
            }
            try await writer.finish(nil)
        }
    }
}
