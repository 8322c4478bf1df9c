import Foundation
import FlowConnector
import FlowHTTP
import FlowModel

/// A plain web server folder as a source (`type: http`): its files are listed from the server's
/// JSON directory index (nginx `autoindex_format json`), crawled concurrently, or taken from an
/// index file of paths or URLs (`index:`), and downloaded like any other item.
public struct WebFolderConnector: Connector {
    public let spec: SourceSpec
    let session: SourceSession
    public var taskExecutors: [any TaskExecutor] { session.http.taskExecutors }

    public init(spec: SourceSpec) throws {
        try spec.requireWebURL("Web folder")
        var spec = spec
        if !spec.url.hasSuffix("/") { spec.url += "/" }
        self.spec = spec
        session = try SourceSession(spec: spec, auth: StaticCredentials(spec: spec))
    }

    public func list(_ selection: Selection) async throws -> [RemoteItem] {
        let files: [(path: String, size: Int64?, version: String?)]
        if let index = spec.options["index"] {
            files = try Self.readIndex(index, base: spec.url)
        } else {
            files = try await crawl("")
        }
        var items = files.compactMap { file -> RemoteItem? in
            // The common path has no empty component: it is its own normal form, with no array
            // of components made for it. An absolute URL has one (`//`) and is its own URL.
            let path = Self.isPlain(file.path) ? file.path : Self.components(of: file.path).joined(separator: "/")
            let absolute = file.path.hasPrefix("http://") || file.path.hasPrefix("https://")
            return item(file, path: path, url: absolute ? file.path : spec.url + URLText.path(path), selection)
        }
        // An index is usually in order already: then no sort (by position: no copy of each item).
        if !items.indices.dropFirst().allSatisfy({ items[$0 - 1].id < items[$0].id }) { items.sort { $0.id < $1.id } }
        return items
    }

    /// An item of the listing, when the selection takes it; `path` is `file.path` without empty components.
    private func item(_ file: (path: String, size: Int64?, version: String?), path: String, url: String,
                      _ selection: Selection) -> RemoteItem? {
        let slash = path.utf8.lastIndex(of: UInt8(ascii: "/"))
        let name = slash.map { String(path[path.utf8.index(after: $0)...]) } ?? path
        var fields = [
            "file.path": file.path, "file.name": name, "file.stem": FileName.stem(of: name),
            "file.ext": FileName.extension(of: name), "file.dir": slash.map { String(path[..<$0]) } ?? "",
        ]
        if let size = file.size { fields["file.size"] = String(size) }
        guard selection.accepts(fields) else { return nil }
        return RemoteItem(source: spec.name, id: file.path, url: url, size: file.size, version: file.version, fields: fields)
    }

    /// `..` anywhere in the bytes: a cheap look before splitting a line into components.
    static func hasDoubleDot(_ bytes: ArraySlice<UInt8>) -> Bool {
        var previous: UInt8 = 0
        for byte in bytes {
            if byte == UInt8(ascii: "."), previous == byte { return true }
            previous = byte
        }
        return false
    }

    /// The non-empty components of a `/`-separated path, split on bytes (no grapheme breaking).
    static func components(of path: String) -> [String] {
        path.utf8.split(separator: UInt8(ascii: "/")).map { String(Substring($0)) }
    }

    /// No empty component: neither leading nor trailing `/`, nor `//`.
    static func isPlain(_ path: String) -> Bool {
        let bytes = path.utf8
        guard let first = bytes.first, first != UInt8(ascii: "/"), bytes.last != UInt8(ascii: "/") else { return false }
        var previous = first
        for byte in bytes.dropFirst() {
            if byte == UInt8(ascii: "/") && previous == byte { return false }
            previous = byte
        }
        return true
    }

    public func fetch(_ item: RemoteItem, to partPath: String, resume: Bool, unnamed: Bool,
                      progress: (@Sendable (Int64) -> Void)?) async throws -> FetchResult {
        try await session.fetch(item, to: partPath, resume: resume, unnamed: unnamed, progress: progress)
    }

    /// One entry of nginx's JSON autoindex.
    struct IndexEntry: Decodable {
        var name: String
        var type: String
        var size: Int64?
        var mtime: String?
    }

    /// Lists a folder and its sub-folders, the sub-folders concurrently.
    func crawl(_ folder: String) async throws -> [(path: String, size: Int64?, version: String?)] {
        let url = spec.url + folder.split(separator: "/").map { URLText.segment(String($0)) + "/" }.joined()
        let response = try await session.send(HTTPRequest(url: url, headers: ["Accept": "application/json"]))
        let entries = try SourceSession.decode([IndexEntry].self, response.body, from: url)
        var files: [(path: String, size: Int64?, version: String?)] = []
        var folders: [String] = []
        try _ = listingRows(entries, at: URLText.redacted(url)) { entry -> Void? in
            // A name is one path component; anything else is a hostile or broken index.
            guard !entry.name.isEmpty, !entry.name.contains("/"), entry.name != ".", entry.name != "..",
                  !entry.name.contains("\0") else {
                throw ConnectorError.badReply("unsafe name \(ErrorText.quoted(entry.name)) in the directory index")
            }
            let path = folder.isEmpty ? entry.name : folder + "/" + entry.name
            if entry.type == "directory" { folders.append(path) } else if entry.type == "file" {
                files.append((path, entry.size, entry.mtime))
            }
            return nil
        }
        return try await files + listEach(folders) { sub in try await crawl(sub) }
    }

    /// Paths (relative to the source URL) or absolute URLs, one per line; `#` starts a comment.
    static func readIndex(_ path: String, base: String) throws -> [(path: String, size: Int64?, version: String?)] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConnectorError.local("cannot read index file \(path)")
        }
        // Lines on bytes (an array's split is fast; Data's and Character's are not).
        func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") }
        return try Array(text.utf8).split(separator: UInt8(ascii: "\n")).compactMap { raw in
            guard let first = raw.firstIndex(where: { !isBlank($0) }), let last = raw.lastIndex(where: { !isBlank($0) }) else {
                return nil
            }
            let line = String(decoding: raw[first...last], as: UTF8.self)
            if line.hasPrefix("#") { return nil }
            if line.hasPrefix("http://") || line.hasPrefix("https://") { return (line, nil, nil) }
            // Most lines have no `..` at all: only those are split into components.
            if Self.hasDoubleDot(raw[first...last]),
               line.utf8.split(separator: UInt8(ascii: "/")).contains(where: { $0.elementsEqual("..".utf8) }) {
                throw ConnectorError.local("index file \(path): `..` in \"\(line)\"")
            }
            return (line.hasPrefix("/") ? String(line.dropFirst()) : line, nil, nil)
        }
    }
}

/// Basic or bearer credentials from the source, when it has them.
struct StaticCredentials: Authenticator {
    let header: String?

    init(spec: SourceSpec) {
        if let token = spec.credentials["token"]?.revealed, !token.isEmpty {
            header = "Bearer " + token
        } else if let user = spec.credentials["user"]?.revealed, !user.isEmpty {
            let pair = user + ":" + (spec.credentials["password"]?.revealed ?? "")
            header = "Basic " + Data(pair.utf8).base64EncodedString()
        } else {
            header = nil
        }
    }

    func authorize(_ request: inout HTTPRequest) async throws {
        if let header { request.headers.replaceOrAdd(name: "Authorization", value: header) }
    }

    func refresh() async throws {
        if header != nil { throw ConnectorError.authentication("the server refused the source's credentials") }
    }
}
