import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The hostile answers themselves: file downloads per `HostileBehaviour`, experiment listings per
/// `HostileListingAttack`. Every body is streamed and bounded (a size, a cap, or the client leaving).
enum HostileReplies {
    static let chunkSize = 64 * 1024

    // MARK: downloads

    static func download(_ req: SandboxRequest, _ file: HostileFile, attempt: Int, links: HostileLinks,
                         configuration: SandboxConfiguration) -> Response {
        let size = file.size
        switch file.behaviour {
        case .honest:
            return FileServer.serve(req, served(file.body))
        case .longerBody(let extra):
            return FileServer.serve(req, served(resized(file, size + Int64(extra))))
        case .shorterBody(let missing):
            return FileServer.serve(req, served(resized(file, max(0, size - Int64(missing)))))
        case .contentLengthUnder:
            return raw(req, status: .ok, contentLength: size / 2, headers: [:]) { writer in
                try await write(file.body, from: 0, length: size, to: &writer, req: req)
            }
        case .truncated:
            return cutAtHalf(req, file)
        case .resetOnce:
            if attempt == 1 && req.header("Range") == nil { return cutAtHalf(req, file) }
            return FileServer.serve(req, served(file.body))
        case .rangeLies:
            guard let range = req.header("Range"), case .range(let start, let end) = FileServer.parseRange(range, size: size) else {
                return cutAtHalf(req, file)
            }
            // The Content-Range the client asked for, the bytes from the start of the file.
            var headers: HTTPFields = [:]
            headers[.contentRange] = "bytes \(start)-\(end)/\(size)"
            headers[.contentType] = "application/dicom"
            return raw(req, status: .partialContent, contentLength: end - start + 1, headers: headers) { writer in
                try await write(file.body, from: 0, length: end - start + 1, to: &writer, req: req)
            }
        case .endless(let bytesPerSecond, let capBytes):
            return raw(req, status: .ok, contentLength: nil, headers: [.contentType: "application/dicom"]) { writer in
                try await paced(total: capBytes, bytesPerSecond: bytesPerSecond, to: &writer, req: req) { offset, count in
                    file.body.chunkBeyondEnd(offset: offset, length: count)
                }
            }
        case .gzipBomb:
            return gzipBomb(req, inflatedSize: configuration.hostileGzipInflatedBytes, contentType: "application/dicom")
        case .headerBomb(let count, let length):
            var extra: HTTPFields = [:]
            let filler = String(repeating: "b", count: length)
            for i in 0..<count { extra.append(HTTPField(name: HTTPField.Name("X-Hostile-Bomb-\(i)")!, value: filler)) }
            return FileServer.serve(req, served(file.body, headers: extra))
        case .redirect(let target):
            return redirect(req, file, target, links: links)
        case .storm(let status, let retryAfter, let asDate, let failures):
            if let failures, attempt > failures { return FileServer.serve(req, served(file.body)) }
            var headers: HTTPFields = [:]
            if let retryAfter {
                headers[.retryAfter] = asDate ? HTTPDate.format(Date().addingTimeInterval(TimeInterval(retryAfter))) : String(retryAfter)
            }
            if status == 401 { headers[.wwwAuthenticate] = "Basic realm=\"XNAT\"" }
            let code = HTTPResponse.Status(code: status)
            return Reply.text(code, "<html><body><h3>\(status) \(code.reasonPhrase)</h3></body></html>",
                              contentType: "text/html", headers: headers)
        }
    }

    static func served(_ body: FileBody, headers: HTTPFields = [:]) -> ServedFile {
        ServedFile(body: body, contentType: "application/dicom", etag: "\"\(body.validator)\"", extraHeaders: headers)
    }

    /// The file's bytes at another length: a prefix of them, or them followed by more of the same stream.
    static func resized(_ file: HostileFile, _ size: Int64) -> FileBody {
        guard case .synthetic(let key, _) = file.body else { return file.body }
        return .synthetic(key: key, size: size)
    }

    /// `Content-Length` of the whole file, half of it, then the connection closes.
    static func cutAtHalf(_ req: SandboxRequest, _ file: HostileFile) -> Response {
        var headers: HTTPFields = [:]
        headers[.contentType] = "application/dicom"
        headers[.acceptRanges] = "bytes"
        headers[.eTag] = "\"\(file.body.validator)\""
        return raw(req, status: .ok, contentLength: file.size, headers: headers) { writer in
            try await write(file.body, from: 0, length: file.size / 2, to: &writer, req: req)
            throw InjectedConnectionCut()
        }
    }

    static func redirect(_ req: SandboxRequest, _ file: HostileFile, _ target: HostileRedirect, links: HostileLinks) -> Response {
        let location: String
        switch target {
        case .elsewhere:
            location = links.elsewhereOrigin + "/hostile/files/\(file.slug)"
        case .localhostElsewhere:
            location = "http://localhost:\(links.elsewherePort)/hostile/files/\(file.slug)"
        case .elsewhereChallenge:
            location = links.elsewhereOrigin + "/hostile/challenge/\(file.slug)"
        case .chain(let hops):
            let hop = Int(req.query["hop"] ?? "0") ?? 0
            if hop >= hops { return FileServer.serve(req, served(file.body)) }
            location = req.origin + req.path + "?hop=\(hop + 1)"
        case .loop:
            location = req.origin + req.path
        case .literal(let text):
            location = text.replacingOccurrences(of: "{elsewhere-port}", with: String(links.elsewherePort))
        }
        return Reply.text(.found, "<html><body>Moved <a href=\"\(XNATEmulator.escape(location))\">here</a></body></html>",
                          contentType: "text/html", headers: [.location: location])
    }

    // MARK: listings

    static func listing(_ attack: HostileListingAttack, req: SandboxRequest, configuration: SandboxConfiguration) async -> Response {
        switch attack {
        case .notJSON:
            return Reply.text(.ok, "ResultSet = nope; this is not JSON {", contentType: "application/json")
        case .notUTF8:
            let bytes = Array(#"{"ResultSet":{"Result":[{"ID":""#.utf8) + [0xC3, 0x28, 0xFF, 0xFE]
                + Array(#"","label":"LISTING_NOT_UTF8_E1","xsiType":"xnat:mrSessionData"}],"totalRecords":"1"}}"#.utf8)
            return Reply.bytes(.ok, contentType: "application/json", ByteBuffer(bytes: bytes))
        case .deep(let levels):
            var body = ByteBufferAllocator().buffer(capacity: 2 * levels)
            body.writeRepeatingByte(UInt8(ascii: "["), count: levels)
            body.writeRepeatingByte(UInt8(ascii: "]"), count: levels)
            return Reply.bytes(.ok, contentType: "application/json", body)
        case .gzipBomb:
            return gzipBomb(req, inflatedSize: configuration.hostileGzipInflatedBytes, contentType: "application/json")
        case .huge(let total, let bytesPerSecond):
            // Valid JSON in the end: spaces, then an empty ResultSet.
            let tail = Array(#"{"ResultSet":{"Result":[],"totalRecords":"0"}}"#.utf8)
            let padding = total - Int64(tail.count)
            return raw(req, status: .ok, contentLength: total, headers: [.contentType: "application/json"]) { writer in
                try await paced(total: total, bytesPerSecond: bytesPerSecond, to: &writer, req: req) { offset, count in
                    var chunk = ByteBufferAllocator().buffer(capacity: count)
                    let spaces = Int(max(0, min(Int64(count), padding - offset)))
                    chunk.writeRepeatingByte(UInt8(ascii: " "), count: spaces)
                    if spaces < count {
                        let from = Int(offset + Int64(spaces) - padding)
                        chunk.writeBytes(tail[from..<(from + count - spaces)])
                    }
                    return chunk
                }
            }
        case .silent:
            // Accepted, and nothing said until the silence runs out (bounded: the task ends then).
            try? await Task.sleep(nanoseconds: UInt64(configuration.hostileSilenceSeconds) * 1_000_000_000)
            return Reply.text(.gatewayTimeout, "silence is over", contentType: "text/plain")
        }
    }

    // MARK: bodies

    /// A response whose body and `Content-Length` are written by hand (nil: chunked).
    static func raw(_ req: SandboxRequest, status: HTTPResponse.Status, contentLength: Int64?, headers: HTTPFields,
                    body: @escaping @Sendable (inout any ResponseBodyWriter) async throws -> Void) -> Response {
        var headers = headers
        if let contentLength { headers[.contentLength] = String(contentLength) }
        req.routeInfo.countsOwnBytes = true
        return Response(status: status, headers: headers, body: ResponseBody(contentLength: contentLength.map(Int.init)) { writer in
            try await body(&writer)
            try await writer.finish(nil)
        })
    }

    /// Writes `length` bytes of `body` from `start` in chunks, counting them.
    static func write(_ body: FileBody, from start: Int64, length: Int64, to writer: inout any ResponseBodyWriter,
                      req: SandboxRequest) async throws {
        var sent: Int64 = 0
        while sent < length {
            let n = Int(min(Int64(chunkSize), length - sent))
            try await writer.write(body.chunk(offset: start + sent, length: n))
            req.stats.bytesServed(req.platform, n)
            sent += Int64(n)
        }
    }

    /// Writes `total` bytes made by `produce(offset, count)` at about `bytesPerSecond`, a tenth
    /// of a second's worth at a time; a client that hangs up ends it (the write throws).
    static func paced(total: Int64, bytesPerSecond: Int, to writer: inout any ResponseBodyWriter, req: SandboxRequest,
                      produce: (Int64, Int) -> ByteBuffer) async throws {
        let step = max(1024, bytesPerSecond / 10)
        var sent: Int64 = 0
        while sent < total {
            let n = Int(min(Int64(step), total - sent))
            try await writer.write(produce(sent, n))
            req.stats.bytesServed(req.platform, n)
            sent += Int64(n)
            try await Task.sleep(nanoseconds: UInt64(Double(n) / Double(bytesPerSecond) * 1e9))
        }
    }

    /// `Content-Encoding: gzip`, chunked, inflating to `inflatedSize` zero bytes.
    static func gzipBomb(_ req: SandboxRequest, inflatedSize: Int64, contentType: String) -> Response {
        raw(req, status: .ok, contentLength: nil, headers: [.contentType: contentType, .contentEncoding: "gzip"]) { writer in
            var bomb = GzipBomb(inflatedSize: inflatedSize)
            while let piece = bomb.next() {
                let n = piece.readableBytes
                try await writer.write(piece)
                req.stats.bytesServed(req.platform, n)
            }
        }
    }
}

extension FileBody {
    /// Like `chunk`, but a synthetic body goes on past its size (an endless body's bytes).
    func chunkBeyondEnd(offset: Int64, length: Int) -> ByteBuffer {
        guard case .synthetic(let key, _) = self else { return chunk(offset: offset, length: length) }
        return FileBody.synthetic(key: key, size: offset + Int64(length)).chunk(offset: offset, length: length)
    }
}
