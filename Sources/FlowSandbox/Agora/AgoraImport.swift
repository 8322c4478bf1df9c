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
            var rows = snapshot.imports[id]?.result ?? []
            if let p = snapshot.imports[id], hostileImport(p) == .sha1Lies {
                rows = rows.map { row in
                    guard case .object(let fields) = row else { return row }
                    return .object(fields.map { $0.0 == "sha1" ? ($0.0, .string(String(repeating: "0", count: 40))) : $0 })
                }
            }
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
        // The chunk streams to disk. Its SHA-256 is taken when the client sends one to check, and
        // the file's SHA-1 continued when this is the next chunk in order (fields come first).
        let received = try await Multipart.receive(req, boundary: boundary) { fields in
            var digests: [Digester] = []
            if Self.chunkHash(fields) != nil { digests.append(Digester(.sha256)) }
            if let identifier = fields["flowIdentifier"], let number = fields["flowChunkNumber"].flatMap(Int.init),
               let running = data.withLock({ d -> Digester? in
                   let upload = d.imports[id]?.uploads[identifier]
                   let through = upload?.hashedThrough ?? 0
                   return through == number - 1 ? (upload?.sha1 ?? Digester(.sha1)) : nil
               }) {
                digests.append(running)
            }
            return digests
        }
        let fields = received.fields
        guard let (file, digests) = received.file, let identifier = fields["flowIdentifier"], !identifier.isEmpty,
              let number = fields["flowChunkNumber"].flatMap(Int.init), number >= 1,
              let total = fields["flowTotalChunks"].flatMap(Int.init), total >= 1, number <= total,
              let path = fields["flowRelativePath"] ?? fields["flowFilename"], !path.isEmpty else {
            return badRequest("file, flowIdentifier, flowChunkNumber, flowTotalChunks and flowRelativePath are required")
        }
        if let current = fields["flowCurrentChunkSize"].flatMap(Int64.init), current != file.size {
            return badRequest("chunk \(number) has \(file.size) bytes, flowCurrentChunkSize says \(current)")
        }
        // Optional per-chunk SHA-256 (`flowFileContentHash` in Python, `flowChunkHash` in Go).
        if let expected = Self.chunkHash(fields) {
            let actual = digests.first { $0.algorithm == .sha256 }?.hexDigest() ?? Self.hex(.sha256, of: SpooledFile.body([file], key: 0))
            if actual != expected { return badRequest("chunk \(number) of \(path) does not match its hash") }
        }
        let running = digests.first { $0.algorithm == .sha1 }
        let totalSize = fields["flowTotalSize"].flatMap(Int64.init) ?? file.size
        let refusal: String? = data.withLock { d in
            guard var p = d.imports[id] else { return "no import \(id)" }
            if p.completed != nil { return "import \(id) is already complete" }
            var upload = p.uploads[identifier] ?? AgoraImport.Upload(path: path, totalChunks: total, totalSize: totalSize)
            if p.uploads[identifier] == nil { p.order.append(identifier) }
            upload.chunks[number] = file
            if let running, upload.hashedThrough == number - 1 {
                upload.sha1 = running
                upload.hashedThrough = number
            }
            p.uploads[identifier] = upload
            d.imports[id] = p
            return nil
        }
        if let refusal { return badRequest(refusal) }
        return Reply.json(.ok, .object([("flowIdentifier", .string(identifier)), ("flowChunkNumber", .int(Int64(number)))]))
    }

    /// The SHA-256 a client sent to check a chunk against, if any.
    private static func chunkHash(_ fields: [String: String]) -> String? {
        guard let hash = (fields["flowFileContentHash"] ?? fields["flowChunkHash"])?.lowercased(), !hash.isEmpty else { return nil }
        return hash
    }

    /// Lowercase hex digest of a body, read 1 MiB at a time.
    static func hex(_ algorithm: DigestAlgorithm, of body: FileBody) -> String {
        var hasher = Digester(algorithm)
        var offset: Int64 = 0
        while offset < body.size {
            let chunk = body.chunk(offset: offset, length: 1 << 20)
            guard chunk.readableBytes > 0 else { break }
            hasher.update(chunk.readableBytesView)
            offset += Int64(chunk.readableBytes)
        }
        return hasher.hexDigest()
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
        switch hostileImport(p) {
        case .fails?: return .object([("state", -1), ("progress", 100), ("error", .string(Self.hostileImportError))])
        case .stuck?: return reply(3, 42, finished: 0)
        case .sha1Lies?, nil: break
        }
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

    /// How an import into a hostile folder misbehaves: `hostile-import-fails` ends in state -1 with
    /// `hostileImportError`, `hostile-import-stuck` stays at state 3, 42 % for ever,
    /// `hostile-import-sha1-lies` imports honestly but its `result` gives every file a SHA-1 of zeros.
    enum HostileImport { case fails, stuck, sha1Lies }

    /// An error text with control characters and a line break, as a careless server might send.
    static let hostileImportError = "DICOM parser failed\u{1B}[31m on frame 3\r\nTraceback (most recent call last): ..."

    func hostileImport(_ p: AgoraImport) -> HostileImport? {
        guard hostile, let target = p.target, target.type == "folder",
              let name = snapshot.folders[target.id]?.name else { return nil }
        if name.contains("hostile-import-fails") { return .fails }
        if name.contains("hostile-import-stuck") { return .stuck }
        if name.contains("hostile-import-sha1-lies") { return .sha1Lies }
        return nil
    }

    /// Turns the uploaded files into datasets (type OTHER, one datafile each) at the target;
    /// a file already there with the same path and SHA-1 is kept (`created: false`).
    private func runImport(_ id: Int) {
        data.withLock { d in
            guard var p = d.imports[id], p.result == nil else { return }
            // Each file's body reads its spooled chunks in place; a zip's entries are slices of it.
            var files: [(path: String, body: FileBody, sha1: String?)] = []
            for identifier in p.order {
                guard let upload = p.uploads[identifier] else { continue }
                let chunks = (1...upload.totalChunks).compactMap { upload.chunks[$0] }
                let key = stableHash("agora-import/\(id)/\(identifier)")
                let body = SpooledFile.body(chunks, key: key)
                if upload.path.hasSuffix(".agora_upload") {
                    guard let entries = StoredZip.entries(body) else {
                        p.error = "\(upload.path) is not a zip of stored entries"
                        d.imports[id] = p
                        return
                    }
                    files += entries.map { ($0.path, $0.body, nil) }
                } else {
                    files.append((upload.path, body, upload.hashedThrough == upload.totalChunks ? upload.sha1.hexDigest() : nil))
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
            for (path, body, hashed) in files {
                let sha1 = hashed ?? Self.hex(.sha1, of: body)
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
                                               body: body, created: Date())
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
    /// The entries of a zip body, each a slice of it (read in place, never the whole zip).
    static func entries(_ zip: FileBody) -> [(path: String, body: FileBody)]? {
        let total = zip.size
        func read(_ offset: Int64, _ length: Int) -> [UInt8] {
            guard offset >= 0, offset < total else { return [] }
            return Array(zip.chunk(offset: offset, length: Int(min(Int64(length), total - offset))).readableBytesView)
        }
        func u16(_ b: [UInt8], _ i: Int) -> Int { i + 2 <= b.count ? Int(b[i]) | Int(b[i + 1]) << 8 : -1 }
        func u32(_ b: [UInt8], _ i: Int) -> Int { i + 4 <= b.count ? u16(b, i) | u16(b, i + 2) << 16 : -1 }
        // End of central directory: the last `PK\5\6` within the final 64 KiB + 22 bytes.
        guard total >= 22 else { return nil }
        let tailStart = max(0, total - 65_557)
        let tail = read(tailStart, Int(total - tailStart))
        var eocd = tail.count - 22
        while eocd >= 0, u32(tail, eocd) != 0x0605_4B50 { eocd -= 1 }
        guard eocd >= 0 else { return nil }
        let count = u16(tail, eocd + 10)
        let directoryStart = Int64(u32(tail, eocd + 16))
        let directory = read(directoryStart, Int(max(0, tailStart + Int64(eocd) - directoryStart)))
        var cursor = 0
        var out: [(path: String, body: FileBody)] = []
        for _ in 0..<count {
            guard u32(directory, cursor) == 0x0201_4B50 else { return nil }
            let method = u16(directory, cursor + 10), size = Int64(u32(directory, cursor + 20))
            let nameLength = u16(directory, cursor + 28), extra = u16(directory, cursor + 30), comment = u16(directory, cursor + 32)
            let local = Int64(u32(directory, cursor + 42))
            guard cursor + 46 + nameLength <= directory.count else { return nil }
            let name = String(decoding: directory[(cursor + 46)..<(cursor + 46 + nameLength)], as: UTF8.self)
            cursor += 46 + nameLength + extra + comment
            if name.hasSuffix("/") { continue }
            let header = read(local, 30)
            guard method == 0, u32(header, 0) == 0x0403_4B50 else { return nil }
            let start = local + 30 + Int64(u16(header, 26) + u16(header, 28))
            guard start + size <= total else { return nil }
            let key = stableHash("\(zip.validator)/\(start)/\(size)")
            out.append((name, .generated(GeneratedBytes(count: size) { offset, length in
                Array(zip.chunk(offset: start + offset, length: length).readableBytesView)
            }, key: key)))
        }
        return out
    }
}
