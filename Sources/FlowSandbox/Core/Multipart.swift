import Foundation
import FlowFiles
import NIOCore

/// Minimal `multipart/form-data` parsing for uploads: `parse` holds the whole body in memory,
/// `receive` streams its file part to disk.
public enum Multipart {
    public struct Part: Sendable {
        public var name: String?
        public var filename: String?
        public var contentType: String?
        public var body: ByteBuffer
    }

    /// The boundary parameter of a `multipart/form-data` content type.
    public static func boundary(_ contentType: String) -> String? {
        for param in contentType.split(separator: ";").dropFirst() {
            let kv = param.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0].lowercased() == "boundary" { return kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        }
        return nil
    }

    /// Parts of a body; malformed input yields the parts found before the damage.
    public static func parse(_ body: ByteBuffer, boundary: String) -> [Part] {
        let bytes = Array(body.readableBytesView)
        let delimiter = Array(("--" + boundary).utf8)
        var parts: [Part] = []
        guard var pos = find(delimiter, in: bytes, from: 0) else { return [] }
        while true {
            pos += delimiter.count
            if pos + 2 <= bytes.count, bytes[pos] == 45, bytes[pos + 1] == 45 { break }  // closing `--`
            if pos + 2 <= bytes.count, bytes[pos] == 13, bytes[pos + 1] == 10 { pos += 2 }
            guard let headerEnd = find([13, 10, 13, 10], in: bytes, from: pos) else { break }
            let headerText = String(decoding: bytes[pos..<headerEnd], as: UTF8.self)
            let bodyStart = headerEnd + 4
            guard let next = find([13, 10] + delimiter, in: bytes, from: bodyStart) else { break }
            var part = Part(body: ByteBuffer(bytes: bytes[bodyStart..<next]))
            for line in headerText.components(separatedBy: "\r\n") {
                let lower = line.lowercased()
                if lower.hasPrefix("content-disposition:") {
                    part.name = param("name", in: line)
                    part.filename = param("filename", in: line)
                } else if lower.hasPrefix("content-type:") {
                    part.contentType = String(line.dropFirst("content-type:".count)).trimmingCharacters(in: .whitespaces)
                }
            }
            parts.append(part)
            pos = next + 2
        }
        return parts
    }

    private static func param(_ name: String, in line: String) -> String? {
        for piece in line.split(separator: ";") {
            let kv = piece.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0].lowercased() == name { return kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        }
        return nil
    }

    private static func find(_ needle: [UInt8], in hay: [UInt8], from: Int) -> Int? {
        hay.withUnsafeBytes { find(needle, in: $0, from: from) }
    }

    /// memchr for the first byte, memcmp for the rest: a byte-at-a-time Swift loop costs about a
    /// CPU-second per GiB of body.
    private static func find(_ needle: [UInt8], in hay: UnsafeRawBufferPointer, from: Int) -> Int? {
        guard !needle.isEmpty, from >= 0, hay.count - from >= needle.count else { return nil }
        let base = hay.baseAddress!
        let last = hay.count - needle.count  // the last index a match can start at
        var i = from
        return needle.withUnsafeBytes { n -> Int? in
            while i <= last {
                guard let hit = memchr(base + i, Int32(needle[0]), last - i + 1) else { return nil }
                i = UnsafeRawPointer(hit) - base
                if memcmp(base + i, n.baseAddress!, n.count) == 0 { return i }
                i += 1
            }
            return nil
        }
    }

    /// A multipart body received as it streams: its text fields, and its file parts written to
    /// spool files (never the whole body in memory).
    struct Spooled {
        var fields: [String: String] = [:]
        /// The `file` part with the digests `receive` was asked to take of it.
        var file: (file: SpooledFile, digests: [Digester])?
        /// With `everyFile`: every part with a filename, in order, its MD5 taken (XNAT's uploads).
        var files: [(filename: String, file: SpooledFile)] = []
    }

    /// Streams `req`'s multipart body: fields into memory (64 KiB each at most), the `file` part
    /// to disk. `hashing` gets the fields that came before the file part and says which digests
    /// to take of its bytes as they pass (flow.js clients send the fields first). With
    /// `everyFile`, each part with a filename goes to a spool file of its own (`files`).
    static func receive(_ req: SandboxRequest, boundary: String, everyFile: Bool = false,
                        hashing: ([String: String]) -> [Digester]) async throws -> Spooled {
        let delimiter = Array(("\r\n--" + boundary).utf8)
        enum State { case preamble, afterDelimiter, headers, body, done }
        var state = State.preamble
        var pending: [UInt8] = [13, 10]  // the first delimiter has no CRLF before it
        var out = Spooled()
        var name: String?
        var isFile = false
        var filename: String?
        var field: [UInt8] = []
        var writer: SpoolWriter?
        defer { writer?.abandon() }  // a file part the body ended inside

        func emit(_ bytes: UnsafeRawBufferPointer) throws {
            if isFile { try writer?.write(bytes) } else if field.count + bytes.count <= 1 << 16 { field += bytes }
            else { throw SpoolError(message: "multipart field \(name ?? "") is over 64 KiB") }
        }
        func endPart() {
            if isFile, let w = writer {
                if everyFile { out.files.append((filename ?? "", w.finish().file)) } else { out.file = w.finish() }
                writer = nil
            } else if let name { out.fields[name] = String(decoding: field, as: UTF8.self) }
            field = []
        }
        func process() throws {
            var start = 0
            try pending.withUnsafeBytes { p in
                scan: while true {
                    switch state {
                    case .preamble:
                        guard let i = find(delimiter, in: p, from: start) else { start = max(start, p.count - delimiter.count + 1); break scan }
                        start = i + delimiter.count
                        state = .afterDelimiter
                    case .afterDelimiter:
                        guard p.count - start >= 2 else { break scan }
                        if p[start] == 45, p[start + 1] == 45 { state = .done; break scan }
                        if p[start] == 13, p[start + 1] == 10 { start += 2 }
                        state = .headers
                    case .headers:
                        guard let end = find([13, 10, 13, 10], in: p, from: start) else {
                            if p.count - start > 1 << 16 { throw SpoolError(message: "multipart headers over 64 KiB") }
                            break scan
                        }
                        let text = String(decoding: UnsafeRawBufferPointer(rebasing: p[start..<end]), as: UTF8.self)
                        name = nil
                        filename = nil
                        for line in text.components(separatedBy: "\r\n") where line.lowercased().hasPrefix("content-disposition:") {
                            name = param("name", in: line)
                            filename = param("filename", in: line)
                        }
                        if everyFile {
                            isFile = filename != nil
                            if isFile { writer = try SpoolWriter(hashing: []) }
                        } else {
                            isFile = name == "file" || (name == nil && filename != nil)
                            if isFile {
                                guard out.file == nil, writer == nil else { throw SpoolError(message: "more than one file part") }
                                writer = try SpoolWriter(md5: false, hashing: hashing(out.fields))
                            }
                        }
                        start = end + 4
                        state = .body
                    case .body:
                        if let i = find(delimiter, in: p, from: start) {
                            try emit(UnsafeRawBufferPointer(rebasing: p[start..<i]))
                            endPart()
                            start = i + delimiter.count
                            state = .afterDelimiter
                        } else {
                            let upto = max(start, p.count - delimiter.count + 1)
                            try emit(UnsafeRawBufferPointer(rebasing: p[start..<upto]))
                            start = upto
                            break scan
                        }
                    case .done:
                        start = p.count
                        break scan
                    }
                }
            }
            pending.removeSubrange(0..<start)
        }

        for try await buffer in req.request.body {
            try await req.received(buffer.readableBytes)
            guard state != .done else { continue }
            pending.append(contentsOf: buffer.readableBytesView)
            try process()
        }
        return out
    }
}
