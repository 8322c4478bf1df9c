import FlowConnector
import FlowHTTP

extension SourceSession {
    /// GETs an XNAT table listing (`{"ResultSet":{"Result":[...]}}`) and returns its rows.
    func xnatRows(_ path: String, query: [(String, String)]) async throws -> [JSONValue] {
        var q = [("format", "json")] + query
        q.sort { $0.0 < $1.0 }
        let text = q.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        let response = try await request(HTTPRequest(url: url(path) + "?" + text))
        return try XNATReply.rows(response.body, from: path)
    }
}

/// Reading XNAT replies.
enum XNATReply {
    /// The rows of a ResultSet body, or a clear `badReply` when the body is something else.
    static func rows(_ body: [UInt8], from path: String) throws -> [JSONValue] {
        if body.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) == UInt8(ascii: "<") {
            // A 200 with an HTML page is XNAT's login page or an error page (xnatpy treats it the same).
            throw ConnectorError.badReply("\(path): XNAT answered an HTML page (a login or error page) instead of JSON")
        }
        let value = try SourceSession.decode(JSONValue.self, body, from: path)
        guard let rows = value["ResultSet"]?["Result"]?.array else {
            throw ConnectorError.badReply("\(path): no ResultSet.Result array in the reply")
        }
        return rows
    }

    /// A query value for an XNAT field filter (comma = OR), or nil when the values cannot be
    /// sent exactly: XNAT reads `*`/`%` as wildcards and `,` as a separator.
    static func filterValue(_ values: [String]?) -> String? {
        guard let values, !values.isEmpty else { return nil }
        guard values.allSatisfy({ v in !v.isEmpty && !v.contains(where: { ",%*\\".contains($0) }) }) else { return nil }
        return values.map(URLText.query).joined(separator: ",")
    }

    /// A path segment naming several scans or resources (comma = OR); XNAT reads a comma in a
    /// name as a separator, so a name holding one is written `[COMMA]`.
    static func selector(_ names: [String]) -> String {
        names.map { URLText.segment($0.replacingOccurrences(of: ",", with: "[COMMA]")) }.joined(separator: ",")
    }

    /// Percent-encodes characters a URL cannot carry (space, quotes, non-ASCII...) in a path the
    /// server gave us, leaving its slashes and any existing escapes alone.
    static func encodePath(_ path: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(path.utf8.count)
        for byte in path.utf8 {
            if pathSafe[Int(byte)] { out.append(byte) }
            else { out += [UInt8(ascii: "%"), hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 15)]] }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Bytes a path keeps as they are: ASCII letters and digits, and `-._~!$&'()*+,;=:@/%`
    /// (a table: this runs for every byte of every file URI of a listing).
    private static let pathSafe: [Bool] = (0..<256).map { byte in
        let c = Character(Unicode.Scalar(UInt8(byte)))
        return c.isASCII && (c.isLetter || c.isNumber || "-._~!$&'()*+,;=:@/%".contains(c))
    }
    private static let hexDigits = Array("0123456789ABCDEF".utf8)
}
