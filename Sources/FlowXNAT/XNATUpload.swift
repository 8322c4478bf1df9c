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

        // Hashed while the listing and the PUT run, not before them (seconds for a 1 GiB file,
        // benchmarks/uploads.sh); needed before the PUT only when the resource holds the path.
        async let digest = Self.md5(of: file.path)
        let (existing, resourceExists) = try await remoteFile(base, relative, fields: fields)
        if let existing {
            let localMD5 = try await digest
            if existing.checksum(.md5) == localMD5 { return UploadOutcome(item: existing, transferred: false) }
            guard overwrite else {
                throw ConnectorError.status(409, url: session.url(filePath), message:
                    "a different \(relative) is already in resource \(resource) (remote MD5 \(existing.checksum(.md5) ?? "unknown"), "
                    + "local \(localMD5)); set `overwrite: true` to replace it", retryAfter: nil)
            }
        }
        if !resourceExists {
            // XNAT creates a resource on the first file too; creating it first sets its format.
            var query: [String] = []
            if let f = destination["format"] { query.append("format=\(URLText.query(f))") }
            if let c = destination["content"] { query.append("content=\(URLText.query(c))") }
            _ = try await session.request(HTTPRequest(method: "PUT", url: session.url(base) + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))))
        }
        let put = HTTPRequest(method: "PUT", url: session.url(filePath) + "?inbody=true&overwrite=\(overwrite)",
                              headers: ["Content-Type": "application/octet-stream"], body: .file(path: file.path))
        let response = try await session.request(put, accept: [409])
        // Whatever the reply (200, `{"duplicates":[...]}`, 409 from older XNATs, a retried PUT
        // that had landed), what counts is what the resource now holds.
        let localMD5 = try await digest
        let (stored, _) = try await remoteFile(base, relative, fields: fields)
        guard let stored else {
            throw ConnectorError.badReply("XNAT accepted \(relative) (HTTP \(response.status)) but the resource does not list it")
        }
        if let remote = stored.checksum(.md5), remote != localMD5 {
            throw ConnectorError.integrity("\(relative): XNAT holds MD5 \(remote) after the upload, the local file is \(localMD5)"
                                           + (response.text.contains("duplicates") || response.status == 409 ? " (XNAT kept its existing copy)" : ""))
        }
        return UploadOutcome(item: stored, transferred: true)
    }

    /// The remote file at `relative` in the resource at `base`, and whether the resource exists.
    func remoteFile(_ base: String, _ relative: String, fields: Fields) async throws -> (RemoteItem?, Bool) {
        let listing = base + "/files"
        let response = try await session.request(HTTPRequest(url: session.url(listing) + "?format=json"), accept: [404])
        if response.status == 404 { return (nil, false) }
        for row in try XNATReply.rows(response.body, from: listing) {
            guard let uri = row["URI"]?.text, let range = uri.range(of: "/files/"), String(uri[range.upperBound...]) == relative else { continue }
            var resource = fields
            // The listing's URI names the experiment by accession ID: the item id uses it.
            if let r = uri.range(of: "/experiments/") {
                resource["experiment.id"] = String(uri[r.upperBound...].prefix { $0 != "/" })
            }
            return (try fileItem(row, resource: resource, listing: listing), true)
        }
        return (nil, true)
    }

    /// A local relative path as a remote one: `/`-separated, no empty, `.` or `..` parts.
    static func remotePath(_ relative: String) throws -> String {
        let parts = relative.split(separator: "/", omittingEmptySubsequences: true)
        guard !parts.isEmpty, !parts.contains(where: { $0 == "." || $0 == ".." || $0.contains("\0") }) else {
            throw ConnectorError.local("cannot upload \"\(relative)\": the remote path must be relative without `.`/`..` parts")
        }
        return parts.joined(separator: "/")
    }

    /// MD5 of a local file (FlowHTTP hashes it off Swift's cooperative threads).
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
