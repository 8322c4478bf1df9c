import FlowConnector
import FlowHTTP
import FlowModel

/// Archive transfers: the files of a scan, a resource or a session in one request
/// (`.../scans/{ids}/resources/{labels}/files?format=zip`), as XNAT's web UI and xnatpy's
/// `download_dir` fetch them. Members are named `{session}/scans/{scan}-{type}/resources/{label}/files/{path}`.
extension XNATConnector {
    public func streamArchive(of items: [RemoteItem], format: String, maxBytes: Int64,
                              consume: @escaping @Sendable (UnsafeRawBufferPointer) throws -> Void) async throws -> Int64 {
        guard let experiment = items.first?.fields["experiment.id"], !experiment.isEmpty else {
            throw ConnectorError.unsupported("an archive of files that name no XNAT session")
        }
        var scans: [String] = [], labels: [String] = []
        for item in items {
            guard item.fields["experiment.id"] == experiment else {
                throw ConnectorError.unsupported("one archive of files from several sessions")
            }
            if let scan = item.fields["scan.id"], !scans.contains(scan) { scans.append(scan) }
            if let label = item.fields["resource.label"], !labels.contains(label) { labels.append(label) }
        }
        let path = "/data/experiments/\(URLText.segment(experiment))/scans/\(XNATReply.selector(scans))/resources/\(XNATReply.selector(labels))/files"
        let request = HTTPRequest(url: session.url(path + "?format=\(URLText.query(format))"))
        return try await RequestTicket.with {
            try await session.stream(request, maxBytes: maxBytes, consume: consume)
        }
    }

    /// `<scan id>/<resource label>/<path in the resource>`.
    public func archiveKey(of item: RemoteItem) -> String? {
        guard let scan = item.fields["scan.id"], let label = item.fields["resource.label"], let path = item.fields["file.path"] else { return nil }
        return scan + "/" + label + "/" + path
    }

    public func archiveKeys(ofMember name: String) -> [String] {
        Self.archiveKeys(ofMember: name)
    }

    /// The keys of a member named `[{session}/]scans/{scan}[-{type}]/resources/{label}/files/{path}`
    /// (XNAT's default structure), or `.../scans/{scan}/{label}/{path}` (`structure=simplified`):
    /// with and without the `-{type}` suffix, since a scan id may hold a `-` itself.
    static func archiveKeys(ofMember name: String) -> [String] {
        let parts = name.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard let at = parts.firstIndex(of: "scans"), at + 3 < parts.count else { return [] }
        let scanPart = parts[at + 1]
        let label: String, rest: ArraySlice<String>
        if parts[at + 2] == "resources", at + 5 < parts.count, parts[at + 4] == "files" {
            label = parts[at + 3]
            rest = parts[(at + 5)...]
        } else {
            label = parts[at + 2]
            rest = parts[(at + 3)...]
        }
        let path = rest.joined(separator: "/")
        var scans = [scanPart]
        var dash = scanPart.endIndex
        while let d = scanPart[..<dash].lastIndex(of: "-") {
            scans.append(String(scanPart[..<d]))
            dash = d
        }
        return scans.map { $0 + "/" + label + "/" + path }
    }
}
