import FlowConnector
import FlowHTTP

extension SourceSession {
    /// GET a path and decode it as JSON.
    func agoraJSON(_ path: String, query: [(String, String)] = []) async throws -> JSONValue {
        let text = query.map { "\($0.0)=\(URLText.query($0.1))" }.joined(separator: "&")
        let url = self.url(path) + (text.isEmpty ? "" : (path.contains("?") ? "&" : "?") + text)
        let response = try await send(HTTPRequest(url: url))
        return try SourceSession.decode(JSONValue.self, response.body, from: path)
    }

    /// Every element of an Agora list: a bare array, or DRF pages `{count,next,previous,results}`
    /// whose `next` links are followed (the connector asks for one huge page, as gtagora-connector does).
    func agoraList(_ path: String, query: [(String, String)] = []) async throws -> [JSONValue] {
        var value = try await agoraJSON(path, query: [("limit", "10000000000")] + query)
        var items: [JSONValue] = []
        var pages = 0
        while true {
            if let array = value.array { return items + array }
            guard let results = value["results"]?.array else {
                throw ConnectorError.badReply("\(path): expected a list or a page of results")
            }
            items += results
            pages += 1
            guard let next = value["next"]?.text, !next.isEmpty, pages < 10_000 else { return items }
            // Only follow links to the same server: a page must not send credentials elsewhere.
            guard next.hasPrefix(spec.url.hasSuffix("/") ? String(spec.url.dropLast()) : spec.url) else {
                throw ConnectorError.badReply("\(path): the next page is on another server (\(URLText.redacted(next)))")
            }
            let response = try await send(HTTPRequest(url: next))
            value = try SourceSession.decode(JSONValue.self, response.body, from: path)
        }
    }
}
