import Foundation
import NIOCore

/// Minimal `multipart/form-data` parsing for uploads (whole body in memory).
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
        guard !needle.isEmpty, hay.count >= needle.count, from <= hay.count - needle.count else { return nil }
        let first = needle[0]
        var i = from
        while i <= hay.count - needle.count {
            if hay[i] == first && hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}
