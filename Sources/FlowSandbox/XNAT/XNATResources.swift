import Foundation
import Hummingbird
import NIOCore

extension XNATEmulator {
    /// `.../resources[/{R}[/files[/{path}]]]` at any level: listings, downloads, zips, uploads, deletes.
    func resources(_ req: SandboxRequest, _ p: XNATPath, _ r: Resolved) async throws -> Response {
        let owners = owners(r)
        guard !owners.isEmpty else { return XNATEmulator.error(.notFound, "No object for resources") }
        let method = req.method

        // Resource collection or single resource (no `files` segment).
        if p.file == nil {
            if p.resource == nil {
                guard method == .get || method == .head else { return XNATEmulator.error(.methodNotAllowed, "Method not allowed") }
                let rows: [XNATRow] = data.withLock { d in
                    owners.flatMap { o in (d.resources[o] ?? []).map { resourceRow($0, owner: o) } }
                }
                return XNATTable(rows: rows, defaultColumns: ["xnat_abstractresource_id", "label", "element_name", "category", "cat_id", "cat_desc",
                                                              "format", "content", "tags", "file_count", "file_size"],
                                 title: "Resources", addIDAndURI: false).render(req)
            }
            let label = p.resource!
            switch method {
            case .put, .post:
                guard owners.count == 1 else { return XNATEmulator.error(.badRequest, "Select one scan to create a resource") }
                _ = data.withLock { d in ensureResource(&d, owners[0], label, format: req.query["format"], content: req.query["content"], tags: req.query["tags"]) }
                return Reply.text(.ok, "")
            case .delete:
                let removed = data.withLock { d -> Bool in
                    var any = false
                    for o in owners { if let i = d.resourceIndex(o, label) { d.resources[o]!.remove(at: i); any = true } }
                    return any
                }
                return removed ? Reply.text(.ok, "") : XNATEmulator.error(.notFound, "Unable to find resource \(label)")
            default:
                // XNAT answers the catalog XML here; a short XML catalog is enough for clients.
                let files: [XNATFile]? = data.withLock { d in d.resourceIndex(owners[0], label).map { d.resources[owners[0]]![$0].files } }
                guard let files else { return XNATEmulator.error(.notFound, "Unable to find resource \(label)") }
                var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<cat:Catalog xmlns:cat=\"http://nrg.wustl.edu/catalog\" ID=\"\(label)\"><cat:entries>"
                for f in files { xml += "<cat:entry URI=\"\(XNATEmulator.escape(f.path))\" ID=\"\(XNATEmulator.escape(f.path))\" format=\"\(f.format)\" content=\"\(f.content)\" digest=\"\(f.body.md5)\"/>" }
                return Reply.text(.ok, xml + "</cat:entries></cat:Catalog>", contentType: "text/xml")
            }
        }

        let filePath = p.file!
        if method == .put || method == .post { return try await upload(req, p, owners, filePath) }

        // Gather (owner, resource) pairs the path selects.
        let selected: [(XNATOwner, XNATResource)] = data.withLock { d in
            owners.flatMap { o -> [(XNATOwner, XNATResource)] in
                let list = d.resources[o] ?? []
                guard let label = p.resource else { return list.map { (o, $0) } }
                let wanted = label.split(separator: ",").map(String.init)
                return list.filter { res in wanted.contains { $0 == res.label || $0 == String(res.id) || $0 == "ALL" } }.map { (o, $0) }
            }
        }
        if p.resource != nil && selected.isEmpty { return XNATEmulator.error(.notFound, "Unable to find resource \(p.resource!)") }

        if filePath.isEmpty {
            guard method == .get || method == .head else { return XNATEmulator.error(.methodNotAllowed, "Method not allowed") }
            if let format = req.query["format"], ["zip", "tar", "tar.gz"].contains(format.lowercased()) {
                guard format.lowercased() != "tar" else { return XNATEmulator.error(.badRequest, "flowctl-sandbox serves format=zip and format=tar.gz archives") }
                return zip(req, r, selected, tarGz: format.lowercased() == "tar.gz")
            }
            let rows: [XNATRow] = selected.flatMap { (o, res) in res.files.map { fileRow($0, res, owner: o) } }
            var rowsFiltered = rows
            for key in ["file_format", "file_content"] {
                if let want = req.query[key] { rowsFiltered = rowsFiltered.filter { row in (row.first { $0.0 == key }?.1 ?? "") == (want == "NULL" ? "" : want) } }
            }
            var req2 = XNATTable(rows: rowsFiltered, defaultColumns: ["Name", "Size", "URI", "collection", "file_tags", "file_format", "file_content", "cat_ID", "digest"],
                                 title: "Files", totalRecords: false, columnsMeta: true, addIDAndURI: false)
            req2.rows = rowsFiltered
            return req2.render(req)
        }

        // Single file.
        let hit = selected.lazy.compactMap { (o, res) in res.files.first { $0.path == filePath }.map { (o, res, $0) } }.first
        guard let (owner, res, file) = hit else {
            if req.query["accept-not-found"] == "true" { return Response(status: .noContent) }
            return XNATEmulator.error(.notFound, "Unable to find file.")
        }
        switch method {
        case .get, .head:
            return FileServer.serve(req, servedFile(file))
        case .delete:
            data.withLock { d in
                if let i = d.resourceIndex(owner, String(res.id)) { d.resources[owner]![i].files.removeAll { $0.path == file.path } }
            }
            return Reply.text(.ok, "")
        default:
            return XNATEmulator.error(.methodNotAllowed, "Method not allowed")
        }
    }

    func servedFile(_ f: XNATFile) -> ServedFile {
        let ext = (f.name as NSString).pathExtension.lowercased()
        let types = ["bmp": "image/bmp", "gif": "image/gif", "html": "text/html", "jpg": "image/jpeg", "jpeg": "image/jpeg",
                     "pdf": "application/pdf", "png": "image/png", "svg": "image/svg+xml", "tiff": "image/tiff", "txt": "text/plain", "xml": "text/xml"]
        let type = types[ext] ?? "application/octet-stream"
        return ServedFile(body: f.body, contentType: type,
                          contentDisposition: type.hasPrefix("application/") ? "attachment; filename=\"\(f.name)\";" : nil,
                          etag: "\"\(f.body.validator)\"", lastModified: f.modified,
                          extraHeaders: [.cacheControl: "must-revalidate"])
    }

    func resourceRow(_ res: XNATResource, owner: XNATOwner) -> XNATRow {
        let category: String
        switch owner { case .scan: category = "scans"; default: category = "resources" }
        return [("xnat_abstractresource_id", String(res.id)), ("label", res.label), ("element_name", "xnat:resourceCatalog"),
                ("category", category), ("cat_id", ""), ("cat_desc", ""), ("format", res.format), ("content", res.content), ("tags", res.tags),
                ("file_count", String(res.files.count)), ("file_size", String(res.totalSize))]
    }

    func fileRow(_ f: XNATFile, _ res: XNATResource, owner: XNATOwner) -> XNATRow {
        [("Name", f.name), ("Size", String(f.body.size)), ("URI", "\(ownerURI(owner))/resources/\(res.id)/files/\(f.path)"),
         ("collection", res.label), ("file_tags", f.tags), ("file_format", f.format), ("file_content", f.content),
         ("cat_ID", String(res.id)), ("digest", f.body.md5)]
    }

    /// Index of a resource, created when missing (uploads auto-create their resource).
    @discardableResult
    func ensureResource(_ d: inout XNATData, _ owner: XNATOwner, _ label: String, format: String?, content: String?, tags: String?) -> Int {
        if let i = d.resourceIndex(owner, label) { return i }
        let res = XNATResource(id: d.nextResourceID, label: label, format: format ?? "", content: content ?? "", tags: tags ?? "", files: [])
        d.nextResourceID += 1
        d.resources[owner, default: []].append(res)
        return d.resources[owner]!.count - 1
    }

    // MARK: uploads

    static let inBodyTypes: Set<String> = ["application/octet-stream", "application/zip", "application/x-zip-compressed", "application/x-tar",
                                           "application/x-gzip", "application/gzip", "text/plain", "application/dicom", "application/json",
                                           "text/xml", "application/xml", "application/x-gtar"]

    func upload(_ req: SandboxRequest, _ p: XNATPath, _ owners: [XNATOwner], _ filePath: String) async throws -> Response {
        guard owners.count == 1, let label = p.resource else { return XNATEmulator.error(.badRequest, "Uploads need exactly one resource") }
        if req.query["extract"] == "true" {
            return XNATEmulator.error(.badRequest, "flowctl-sandbox does not extract archives (extract=true); upload files one by one")
        }
        let contentType = (req.header("Content-Type") ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        let inbody = req.query["inbody"] == "true"
        var files: [(String, FileBody)] = []
        if contentType == "multipart/form-data" {
            if inbody { return XNATEmulator.error(.notAcceptable, "In-body File posts must include the file directly as the body of the message (not as part of multi-part form data).") }
            guard let boundary = Multipart.boundary(req.header("Content-Type") ?? "") else { return XNATEmulator.error(.badRequest, "Malformed multipart body") }
            // Each file part spooled to disk as it arrives, as PUT bodies are.
            for part in try await Multipart.receive(req, boundary: boundary, everyFile: true, hashing: { _ in [] }).files {
                files.append((filePath.isEmpty ? part.filename : filePath, SpooledFile.body([part.file])))
            }
            if files.isEmpty { return XNATEmulator.error(.badRequest, "You tried to POST to this service, but didn't provide any files.") }
        } else {
            guard inbody || contentType.isEmpty || XNATEmulator.inBodyTypes.contains(contentType) || contentType.hasPrefix("image/") else {
                return XNATEmulator.error(.badRequest, "Unable to process the request body as a file: send inbody=true or Content-Type: application/octet-stream")
            }
            // Spooled to disk as it arrives (`Core/Spool.swift`): a 10 GiB PUT needs no 10 GiB of memory.
            let spooled = try await SpooledFile.receive(req)
            guard spooled.size > 0 else {
                return XNATEmulator.error(.badRequest, "You tried to \(req.method.rawValue) to this service, but didn't provide any data (found request entity size of 0). Please check your request and try again.")
            }
            files.append((filePath.isEmpty ? "upload" : filePath, SpooledFile.body([spooled])))
        }
        let overwrite = req.query["overwrite"] == "true"
        let owner = owners[0]
        let duplicates: [String] = data.withLock { d in
            let i = ensureResource(&d, owner, label, format: nil, content: nil, tags: nil)
            var dups: [String] = []
            for (path, bytes) in files {
                let file = XNATFile(path: path, body: bytes, modified: Date(), format: req.query["format"] ?? "",
                                    content: req.query["content"] ?? "", tags: req.query["tags"] ?? "")
                if let j = d.resources[owner]![i].files.firstIndex(where: { $0.path == path }) {
                    if overwrite { d.resources[owner]![i].files[j] = file } else { dups.append(path) }
                } else {
                    d.resources[owner]![i].files.append(file)
                }
            }
            return dups
        }
        if !duplicates.isEmpty {
            if configuration.xnatDuplicateUploadConflict {
                return XNATEmulator.error(.conflict, "File already exists: \(duplicates.joined(separator: ", "))")
            }
            return Reply.json(.ok, .object([("duplicates", .array(duplicates.map { .string($0) }))]))
        }
        return Reply.text(.ok, "")
    }

    // MARK: zip

    /// The selected files as one archive, zip or (`tarGz`) tar.gz, in XNAT's member names.
    func zip(_ req: SandboxRequest, _ r: Resolved, _ selected: [(XNATOwner, XNATResource)], tarGz: Bool = false) -> Response {
        let files = selected.flatMap { (o, res) in res.files.map { (o, res, $0) } }
        guard !files.isEmpty else { return XNATEmulator.error(.notFound, "No matching files") }
        let archiveName = r.experiment?.label ?? r.subject?.label ?? r.project?.id ?? "archive"
        let structure = req.query["structure"] ?? "default"
        let scansByID = Dictionary((r.experiment?.scans ?? []).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let entries: [ZipEntry] = files.map { (o, res, f) in
            let name: String
            switch o {
            case .scan(_, let scanID):
                let type = (scansByID[scanID]?.type ?? "").replacingOccurrences(of: "\\W", with: "_", options: .regularExpression)
                switch structure {
                case "simplified": name = "\(archiveName)/scans/\(scanID)/\(res.label)/\(f.path)"
                case "improved": name = "scans/\(scanID)_\(type)/\(res.label)/\(f.path)"
                default: name = "\(archiveName)/scans/\(scanID)-\(type)/resources/\(res.label)/files/\(f.path)"
                }
            default:
                name = structure == "simplified" ? "\(archiveName)/\(res.label)/\(f.path)" : "\(archiveName)/resources/\(res.label)/files/\(f.path)"
            }
            return ZipEntry(name: name, body: f.body, modified: f.modified)
        }
        let ext = tarGz ? "tar.gz" : "zip"
        var headers: HTTPFields = [.contentType: tarGz ? "application/x-gzip" : "application/zip",
                                   .contentDisposition: "attachment; filename=\"\(archiveName).\(ext)\";"]
        headers[.cacheControl] = "must-revalidate"
        if req.method == .head { return Response(status: .ok, headers: headers) }
        let style = configuration.xnatArchiveStyle
        return Response(status: .ok, headers: headers,
                        body: tarGz ? TarGzStream.body(entries, req: req, style: style) : ZipStream.body(entries, req: req, style: style))
    }

    // MARK: runtime mutation

    /// Paths: `PROJECT/SUBJECT_LABEL[/SESSION_LABEL[/SCAN_ID/RESOURCE/FILE_PATH]]`.
    public func mutate(_ m: SandboxMutation) throws -> String {
        let parts = m.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard parts.count >= 2 else { throw SandboxError("XNAT item path is PROJECT/SUBJECT[/SESSION[/SCAN/RESOURCE/FILE]]: \(m.path)") }
        return try data.withLock { d -> String in
            guard d.project(parts[0]) != nil else { throw SandboxError("no project \(parts[0])") }
            let subject = d.subject(parts[1], project: parts[0])
            if parts.count == 2 {
                switch m.op {
                case .add:
                    if subject != nil { throw SandboxError("subject \(parts[1]) exists") }
                    return d.addSubject(project: parts[0], label: parts[1], withSession: true, dicomPerScan: configuration.xnatDicomFilesPerScan)
                case .remove:
                    guard let s = subject else { throw SandboxError("no subject \(parts[1])") }
                    for e in d.experimentsOf(project: nil, subject: s.id) {
                        d.experiments[e.id] = nil
                        for scan in e.scans { d.resources[.scan(experiment: e.id, scan: scan.id)] = nil }
                    }
                    d.experimentOrder.removeAll { d.experiments[$0] == nil }
                    d.subjects[s.id] = nil
                    d.subjectOrder.removeAll { $0 == s.id }
                    return s.id
                case .modify: throw SandboxError("modify applies to files")
                }
            }
            guard let s = subject else { throw SandboxError("no subject \(parts[1])") }
            guard let e = d.experiment(parts[2], project: parts[0], subject: s.id) else { throw SandboxError("no session \(parts[2])") }
            guard parts.count >= 6 else { throw SandboxError("file path needs SCAN/RESOURCE/FILE after the session") }
            guard e.scans.contains(where: { $0.id == parts[3] }) else { throw SandboxError("no scan \(parts[3])") }
            let owner = XNATOwner.scan(experiment: e.id, scan: parts[3])
            let filePath = parts[5...].joined(separator: "/")
            let body: FileBody = m.content.map { .stored(ByteBuffer(string: $0)) }
                ?? d.syntheticBody("\(m.path)#\(Date().timeIntervalSince1970)", size: m.size)
            switch m.op {
            case .add, .modify:
                let i = ensureResource(&d, owner, parts[4], format: parts[4], content: "RAW", tags: nil)
                let file = XNATFile(path: filePath, body: body, modified: Date(), format: parts[4], content: "RAW", tags: "")
                if let j = d.resources[owner]![i].files.firstIndex(where: { $0.path == filePath }) {
                    if m.op == .add { throw SandboxError("file exists: \(m.path)") }
                    d.resources[owner]![i].files[j] = file
                } else {
                    if m.op == .modify { throw SandboxError("no file \(m.path)") }
                    d.resources[owner]![i].files.append(file)
                }
            case .remove:
                guard let i = d.resourceIndex(owner, parts[4]), d.resources[owner]![i].files.contains(where: { $0.path == filePath }) else {
                    throw SandboxError("no file \(m.path)")
                }
                d.resources[owner]![i].files.removeAll { $0.path == filePath }
            }
            return "/data/experiments/\(e.id)/scans/\(parts[3])/resources/\(parts[4])/files/\(filePath)"
        }
    }
}
