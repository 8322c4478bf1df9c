import FlowFiles
import Foundation
import FlowConnector
import FlowHTTP
import FlowModel

/// Uploads: one file into a resource (`PUT .../resources/{label}/files/{path}`), idempotent by MD5.
extension XNATConnector {
    /// Sends `file` into `destination` (`project`, `subject`, `experiment`, optional `scan`,
    /// `resource`, optional `format`/`content` for a new resource). A remote file with the same
    /// path and MD5 is kept as is; a different one is replaced only with `overwrite`.
    public func upload(_ file: LocalFile, into destination: [String: String], overwrite: Bool) async throws -> UploadOutcome {
        func required(_ key: String, _ alias: String? = nil) throws -> String {
            if let v = destination[key] ?? alias.flatMap({ destination[$0] }), !v.isEmpty { return v }
            throw ConnectorError.unsupported("XNAT upload needs `into: {project, subject, experiment, [scan], resource}`; `\(key)` is missing")
        }
        let project = try required("project"), subject = try required("subject")
        let experiment = try required("experiment", "session"), resource = try required("resource")
        let scan = destination["scan"].flatMap { $0.isEmpty ? nil : $0 }
        let relative = try Self.remotePath(file.relativePath)

        var base = "/data/projects/\(URLText.segment(project))/subjects/\(URLText.segment(subject))"
            + "/experiments/\(URLText.segment(experiment))"
        if let scan { base += "/scans/\(URLText.segment(scan))" }
        base += "/resources/\(URLText.segment(resource))"
        let filePath = base + "/files/" + relative.split(separator: "/").map { URLText.segment(String($0)) }.joined(separator: "/")
        var fields = ["project.id": project, "subject.label": subject, "experiment.label": experiment, "resource.label": resource]
        if let scan { fields["scan.id"] = scan }

        // The resource is listed once per run (`uploadTargets`), not before and after every PUT.
        let listed = try await uploadTargets.entries(base) { [self, base, fields] in try await listResource(base, fields: fields) }
        if let existing = listed?[relative] {
            let localMD5 = try await Self.md5(of: file.path)
            if existing.checksum(.md5) == localMD5 { return UploadOutcome(item: existing, transferred: false) }
            guard overwrite else {
                throw ConnectorError.status(409, url: session.url(filePath), message:
                    "a different \(relative) is already in resource \(resource) (remote MD5 \(existing.checksum(.md5) ?? "unknown"), "
                    + "local \(localMD5)); set `overwrite: true` to replace it", retryAfter: nil)
            }
        }
        if listed == nil {
            // XNAT creates a resource on the first file too; creating it first sets its format.
            var query: [String] = []
            if let f = destination["format"] { query.append("format=\(URLText.query(f))") }
            if let c = destination["content"] { query.append("content=\(URLText.query(c))") }
            try await uploadTargets.ensureExists(base) { [session, base, query] in
                _ = try await session.request(HTTPRequest(method: "PUT", url: session.url(base) + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))))
            }
        }
        // MD5 taken while curl reads the file to send it: one read of the file.
        var put = HTTPRequest(method: "PUT", url: session.url(filePath) + "?inbody=true&overwrite=\(overwrite)",
                              headers: ["Content-Type": "application/octet-stream"], body: .file(path: file.path))
        let sent = RequestBodyDigest(.md5)
        put.bodyDigest = sent
        let response = try await session.request(put, accept: [409])
        let size = FileManager.default.sizeOfFile(file.path) ?? file.size
        let stored: RemoteItem
        if response.isSuccess, !response.text.contains("duplicates"), let md5 = sent.hex(ofLength: size),
           let prefix = await resourceURIs.prefix(base) {
            // A plain success: the resource holds what was sent, as its listing would say.
            stored = try sentItem(relative, size: size, md5: md5, uriPrefix: prefix, fields: fields)
        } else {
            // Anything else (`{"duplicates":[...]}`, 409 from older XNATs, a file changed while
            // sent, a resource whose URI shape is not known yet): what counts is what the resource
            // now holds.
            let localMD5: String
            if let hashed = sent.hex(ofLength: size) { localMD5 = hashed } else { localMD5 = try await Self.md5(of: file.path) }
            guard let found = try await listResource(base, fields: fields)?[relative] else {
                throw ConnectorError.badReply("XNAT accepted \(relative) (HTTP \(response.status)) but the resource does not list it")
            }
            if let remote = found.checksum(.md5), remote != localMD5 {
                throw ConnectorError.integrity("\(relative): XNAT holds MD5 \(remote) after the upload, the local file is \(localMD5)"
                                               + (response.text.contains("duplicates") || response.status == 409 ? " (XNAT kept its existing copy)" : ""))
            }
            stored = found
        }
        await uploadTargets.record(base, name: relative, stored)
        return UploadOutcome(item: stored, transferred: true)
    }

    /// The files of the resource at `base` by relative path, or nil when the resource does not
    /// exist; remembers the shape of its files' URIs (see `sentItem`).
    func listResource(_ base: String, fields: Fields) async throws -> [String: RemoteItem]? {
        let listing = base + "/files"
        let response = try await session.request(HTTPRequest(url: session.url(listing) + "?format=json"), accept: [404])
        if response.status == 404 { return nil }
        var files: [String: RemoteItem] = [:]
        for row in try XNATReply.rows(response.body, from: listing) {
            guard let uri = row["URI"]?.text, let range = uri.range(of: "/files/") else { continue }
            await resourceURIs.learn(base, prefix: String(uri[..<range.lowerBound]))
            if let item = try fileItem(row, resource: Self.resourceFields(fields, uri: uri), listing: listing) {
                files[String(uri[range.upperBound...])] = item
            }
        }
        return files
    }

    /// The item a file sent into a resource is, as the resource's listing would give it.
    func sentItem(_ relative: String, size: Int64, md5: String, uriPrefix: String, fields: Fields) throws -> RemoteItem {
        let uri = uriPrefix + "/files/" + relative
        let row = JSONValue.object(["URI": .string(uri), "Name": .string(String(relative.split(separator: "/").last ?? "")),
                                    "Size": .string(String(size)), "digest": .string(md5)])
        guard let item = try fileItem(row, resource: Self.resourceFields(fields, uri: uri), listing: uriPrefix + "/files") else {
            throw ConnectorError.badReply("no item for \(relative)")
        }
        return item
    }

    /// The listing's URIs name the experiment by accession ID: the item id uses it.
    static func resourceFields(_ fields: Fields, uri: String) -> Fields {
        var resource = fields
        if let r = uri.range(of: "/experiments/") {
            resource["experiment.id"] = String(uri[r.upperBound...].prefix { $0 != "/" })
        }
        return resource
    }

    /// A local relative path as a remote one: `/`-separated, no empty, `.` or `..` parts.
    static func remotePath(_ relative: String) throws -> String {
        let parts = relative.split(separator: "/", omittingEmptySubsequences: true)
        guard !parts.isEmpty, !parts.contains(where: { $0 == "." || $0 == ".." || $0.contains("\0") }) else {
            throw ConnectorError.local("cannot upload \"\(relative)\": the remote path must be relative without `.`/`..` parts")
        }
        return parts.joined(separator: "/")
    }

    /// MD5 of a local file (FlowHTTP hashes it off Swift's cooperative threads); needed only
    /// when the resource already holds the path.
    static func md5(of path: String) async throws -> String {
        do {
            guard let md5 = try await FileDigest.compute(path: path, algorithms: [.md5])[.md5] else {
                throw ConnectorError.local("no MD5 computed for \(path)")
            }
            return md5
        } catch let error as FileSystemError {
            throw ConnectorError.local(error.description)
        }
    }
}

/// Where the files of each upload resource live (`/data/experiments/{ID}/.../resources/{label}`,
/// as its listing gives them), learnt from the first listing that shows a file.
actor ResourceURIs {
    private var prefixes: [String: String] = [:]
    func learn(_ base: String, prefix: String) { prefixes[base] = prefix }
    func prefix(_ base: String) -> String? { prefixes[base] }
}

extension FileManager {
    func sizeOfFile(_ path: String) -> Int64? {
        (try? attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value
    }
}
