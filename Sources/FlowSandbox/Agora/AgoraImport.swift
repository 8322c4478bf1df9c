import FlowFiles
import Foundation
import Hummingbird
import NIOCore

/// The import protocol (`api/agora.md` §5): create a package, send flow.js-style chunks
/// (assembled by `flowIdentifier`, so a client can resume), `complete`, watch `progress`
/// go 2 -> 3 -> 4 -> 5, read `result`. `.agora_upload` files are zips whose entries are imported.
extension AgoraEmulator {
    func importJSON(_ p: AgoraImport) -> JSON {
        let state = p.error != nil ? -1 : (p.result != nil ? 5 : 1)
        return .object([("id", .int(Int64(p.id))), ("state", .int(Int64(state))), ("is_complete", .bool(p.result != nil)),
                        ("complete_date", p.completed.map { .string(AgoraData.iso($0)) } ?? .null),
                        ("created_date", .string(AgoraData.iso(p.created))), ("modified_date", .string(AgoraData.iso(p.created))),
                        ("error", .optional(p.error)), ("extract_zip_files", true), ("import_file", .optional(p.importFile)),
                        ("import_parameters", .null), ("nof_retries", 0),
                        ("target_id", p.target.map { .int(Int64($0.id)) } ?? .null), ("target_type", .optional(p.target?.type)),
                        ("timeline_items", []), ("user", 1)])
    }

    func imports(_ req: SandboxRequest, _ rest: [String]) async throws -> Response {
        if rest.isEmpty {
            req.route("/api/v1/import/")
            guard req.method == .post else { return page(req, snapshot.imports.values.sorted { $0.id < $1.id }.map(importJSON)) }
            _ = try? await req.body(maxSize: 1 << 16)
            let p = data.withLock { d -> AgoraImport in
                let p = AgoraImport(id: d.newID("import"), created: Date())
                d.imports[p.id] = p
                return p
            }
            return Reply.json(.created, importJSON(p))
        }
        guard let id = Int(rest[0]), snapshot.imports[id] != nil else { req.route("/api/v1/import/{id}/"); return notFound() }
        switch rest.count == 1 ? nil : rest[1] {
        case nil:
            req.route("/api/v1/import/{id}/")
            return Reply.json(.ok, importJSON(snapshot.imports[id]!))
        case "upload":
            req.route("/api/v1/import/{id}/upload/", .upload)
            if req.method == .get { return testChunk(req, id) }
            guard req.method == .post else { return methodNotAllowed() }
            return try await uploadChunk(req, id)
        case "complete":
            req.route("/api/v1/import/{id}/complete/")
            guard req.method == .post else { return methodNotAllowed() }
            return await complete(req, id)
        case "progress":
            req.route("/api/v1/import/{id}/progress/")
            return Reply.json(.ok, progress(id))
        case "result":
            req.route("/api/v1/import/{id}/result/")
            _ = progress(id)  // runs the import if its time has come
            let rows = snapshot.imports[id]?.result ?? []
            return Reply.json(.ok, .object([("datafiles", .array(rows))]))
        default:
            req.route("/api/v1/import/{id}/(unknown)")
            return notFound()
        }
    }

    /// flow.js `testChunks`: 200 when the chunk is already here, 204 when it must be sent.
    private func testChunk(_ req: SandboxRequest, _ id: Int) -> Response {
        guard let identifier = req.query["flowIdentifier"], let n = req.query["flowChunkNumber"].flatMap(Int.init) else {
            return badRequest("flowIdentifier and flowChunkNumber are required")
        }
        let have = data.withLock { $0.imports[id]?.uploads[identifier]?.chunks[n] != nil }
        return have ? Reply.json(.ok, .object([("flowChunkNumber", .int(Int64(n)))])) : Response(status: .noContent)
    }

    private func uploadChunk(_ req: SandboxRequest, _ id: Int) async throws -> Response {
        guard let type = req.header("Content-Type"), let boundary = Multipart.boundary(type) else {
            return badRequest("multipart/form-data expected")
        }
        let parts = Multipart.parse(try await req.body(), boundary: boundary)
        var fields: [String: String] = [:]
        var file: ByteBuffer?
        for part in parts {
            if part.name == "file" { file = part.body } else if let name = part.name {
                fields[name] = String(decoding: part.body.readableBytesView, as: UTF8.self)
            }
        }
        guard let file, let identifier = fields["flowIdentifier"], !identifier.isEmpty,
              let number = fields["flowChunkNumber"].flatMap(Int.init), number >= 1,
              let total = fields["flowTotalChunks"].flatMap(Int.init), total >= 1, number <= total,
              let path = fields["flowRelativePath"] ?? fields["flowFilename"], !path.isEmpty else {
            return badRequest("file, flowIdentifier, flowChunkNumber, flowTotalChunks and flowRelativePath are required")
        }
        let bytes = Array(file.readableBytesView)
        if let current = fields["flowCurrentChunkSize"].flatMap(Int.init), current != bytes.count {
            return badRequest("chunk \(number) has \(bytes.count) bytes, flowCurrentChunkSize says \(current)")
        }
        // Optional per-chunk SHA-256 (`flowFileContentHash` in Python, `flowChunkHash` in Go).
        if let expected = (fields["flowFileContentHash"] ?? fields["flowChunkHash"])?.lowercased(), !expected.isEmpty,
           Digester.hex(.sha256, of: bytes) != expected {
            return badRequest("chunk \(number) of \(path) does not match its hash")
        }
        let totalSize = fields["flowTotalSize"].flatMap(Int64.init) ?? Int64(bytes.count)
        let refusal: String? = data.withLock { d in
            guard var p = d.imports[id] else { return "no import \(id)" }
            if p.completed != nil { return "import \(id) is already complete" }
            var upload = p.uploads[identifier] ?? AgoraImport.Upload(path: path, totalChunks: total, totalSize: totalSize)
            if p.uploads[identifier] == nil { p.order.append(identifier) }
            upload.chunks[number] = bytes
            p.uploads[identifier] = upload
            d.imports[id] = p
            return nil
        }
        if let refusal { return badRequest(refusal) }
        return Reply.json(.ok, .object([("flowIdentifier", .string(identifier)), ("flowChunkNumber", .int(Int64(number)))]))
    }

    private func complete(_ req: SandboxRequest, _ id: Int) async -> Response {
        let body = await bodyFields(req)
        let d = snapshot
        var target: (type: String, id: Int)?
        let checks: [(String, (Int) -> Bool)] = [("folder", { d.folders[$0] != nil }), ("series", { d.series[$0] != nil }),
                                                  ("exam", { d.exams[$0] != nil }), ("project", { d.projects[$0] != nil })]
        for (key, exists) in checks {
            guard let value = Self.int(body[key]) else { continue }
            guard exists(value) else { return badRequest("the \(key) \(value) does not exist") }
            target = (key, value)
            break
        }
        let refusal: String? = data.withLock { d in
            guard var p = d.imports[id] else { return "no import \(id)" }
            if p.completed != nil { return "import \(id) is already complete" }
            p.completed = Date()
            p.target = target
            p.importFile = body["import_file"] as? String
            let missing = p.order.filter { !(p.uploads[$0]?.isComplete ?? false) }.compactMap { p.uploads[$0]?.path }
            if !missing.isEmpty { p.error = "incomplete upload: " + missing.joined(separator: ", ") }
            d.imports[id] = p
            return nil
        }
        if let refusal { return badRequest(refusal) }
        return Response(status: .noContent)
    }

    /// `{"state","progress","tasks"}`: 1 until `complete`, then 2/3/4 over `importDuration`, then 5
    /// (the files are imported at that moment), or -1 with an error.
    func progress(_ id: Int) -> JSON {
        let duration = importDuration
        guard let p = snapshot.imports[id] else { return .object([("state", -1), ("progress", 0)]) }
        func reply(_ state: Int, _ progress: Int, finished: Int, errors: Int = 0) -> JSON {
            .object([("state", .int(Int64(state))), ("progress", .int(Int64(progress))),
                     ("tasks", .object([("count", .int(Int64(p.order.count))), ("finished", .int(Int64(finished))),
                                        ("error", .int(Int64(errors))), ("ids", [])])),
                     ("error", .optional(p.error))])
        }
        if p.error != nil { return reply(-1, 100, finished: 0, errors: p.order.count) }
        guard let completed = p.completed else { return reply(1, 0, finished: 0) }
        let fraction = duration <= 0 ? 1 : Date().timeIntervalSince(completed) / duration
        if fraction < 1 {
            let state = fraction < 1.0 / 3 ? 2 : (fraction < 2.0 / 3 ? 3 : 4)
            return reply(state, min(99, Int(fraction * 100)), finished: Int(Double(p.order.count) * fraction))
        }
        if p.result == nil { runImport(id) }
        let after = snapshot.imports[id]!
        if let error = after.error { return .object([("state", -1), ("progress", 100), ("error", .string(error))]) }
        return reply(5, 100, finished: p.order.count)
    }

    /// Turns the uploaded files into datasets (type OTHER, one datafile each) at the target;
    /// a file already there with the same path and SHA-1 is kept (`created: false`).
    private func runImport(_ id: Int) {
        data.withLock { d in
            guard var p = d.imports[id], p.result == nil else { return }
            var files: [(path: String, bytes: [UInt8])] = []
            for identifier in p.order {
                guard let upload = p.uploads[identifier] else { continue }
                let bytes = (1...upload.totalChunks).flatMap { upload.chunks[$0] ?? [] }
                if upload.path.hasSuffix(".agora_upload") {
                    guard let entries = StoredZip.entries(bytes) else {
                        p.error = "\(upload.path) is not a zip of stored entries"
                        d.imports[id] = p
                        return
                    }
                    files += entries
                } else {
                    files.append((upload.path, bytes))
                }
            }
            let target = p.target
            let project: Int
            var folder: Int?
            switch target?.type ?? "" {
            case "folder": folder = target!.id; project = d.folders[target!.id]!.project
            case "series":
                project = d.series[target!.id].flatMap { d.exams[$0.exam]?.project } ?? 1
            case "exam": project = d.exams[target!.id]?.project ?? 1
            case "project": project = target!.id; folder = d.projects[target!.id]?.rootFolder
            default:
                let mine = d.projects.values.first { $0.isMyAgora }!
                project = mine.id; folder = mine.rootFolder
            }
            var rows: [JSON] = []
            for (path, bytes) in files {
                let sha1 = Digester.hex(.sha1, of: bytes)
                let name = String(path.split(separator: "/").last ?? Substring(path))
                // The same file already at the target is not imported twice.
                let candidates: [AgoraDataset]
                if let folder {
                    candidates = d.folderItems.values.filter { $0.folder == folder && $0.contentType == "dataset" }.compactMap { d.datasets[$0.objectID] }
                } else if target?.type == "series" {
                    candidates = d.datasets.values.filter { $0.serie == target!.id }
                } else {
                    candidates = d.datasets.values.filter { $0.exam == target!.id && $0.serie == nil }
                }
                let existing = candidates.flatMap { ds in ds.datafiles.compactMap { d.datafiles[$0] } }
                    .first { f in f.relativePath == path && self.sha1(f) == sha1 }
                if let existing {
                    rows.append(.object([("id", .int(Int64(existing.id))), ("path", .string(path)), ("sha1", .string(sha1)),
                                         ("dataset", .int(Int64(existing.dataset))), ("created", false)]))
                    continue
                }
                let ds = d.newID("dataset")
                let f = d.newID("datafile")
                d.datafiles[f] = AgoraDatafile(id: f, dataset: ds, relativePath: path, originalFilename: name,
                                               body: .stored(ByteBuffer(bytes: bytes)), created: Date())
                sha1Cache.withLock { $0[f] = sha1 }
                d.datasets[ds] = AgoraDataset(id: ds, name: name, type: 100000, serie: target?.type == "series" ? target!.id : nil,
                                              exam: target?.type == "exam" ? target!.id : nil, project: project, datafiles: [f])
                if let folder {
                    let item = d.newID("item")
                    d.folderItems[item] = AgoraFolderItem(id: item, folder: folder, contentType: "dataset", objectID: ds)
                }
                rows.append(.object([("id", .int(Int64(f))), ("path", .string(path)), ("sha1", .string(sha1)),
                                     ("dataset", .int(Int64(ds))), ("created", true)]))
            }
            p.result = rows
            d.imports[id] = p
        }
    }
}

/// Reads zips whose entries are stored (not compressed), as gtagora-connector writes its
/// `.agora_upload` packages (`zipfile.ZIP_STORED`). Returns nil for anything else.
enum StoredZip {
    static func entries(_ z: [UInt8]) -> [(path: String, bytes: [UInt8])]? {
        func u16(_ i: Int) -> Int { i + 2 <= z.count ? Int(z[i]) | Int(z[i + 1]) << 8 : -1 }
        func u32(_ i: Int) -> Int { i + 4 <= z.count ? u16(i) | u16(i + 2) << 16 : -1 }
        // End of central directory: the last `PK\5\6` within the final 64 KiB + 22 bytes.
        guard z.count >= 22 else { return nil }
        var eocd = z.count - 22
        while eocd >= max(0, z.count - 65_557), u32(eocd) != 0x0605_4B50 { eocd -= 1 }
        guard eocd >= 0, u32(eocd) == 0x0605_4B50 else { return nil }
        let count = u16(eocd + 10)
        var cursor = u32(eocd + 16)
        var out: [(path: String, bytes: [UInt8])] = []
        for _ in 0..<count {
            guard u32(cursor) == 0x0201_4B50 else { return nil }
            let method = u16(cursor + 10), size = u32(cursor + 20)
            let nameLength = u16(cursor + 28), extra = u16(cursor + 30), comment = u16(cursor + 32)
            let local = u32(cursor + 42)
            guard cursor + 46 + nameLength <= z.count else { return nil }
            let name = String(decoding: z[(cursor + 46)..<(cursor + 46 + nameLength)], as: UTF8.self)
            cursor += 46 + nameLength + extra + comment
            if name.hasSuffix("/") { continue }
            guard method == 0, u32(local) == 0x0403_4B50 else { return nil }
            let start = local + 30 + u16(local + 26) + u16(local + 28)
            guard start + size <= z.count else { return nil }
            out.append((name, Array(z[start..<(start + size)])))
        }
        return out
    }
}
