import FlowFiles
import Foundation
import Hummingbird
import NIOCore

/// JSON of Agora's objects (field names from gtagora-connector's models and fixtures) and the
/// read routes of projects, folders, exams, series, datasets, datafiles and patients.
extension AgoraEmulator {
    // MARK: JSON of objects

    func projectJSON(_ p: AgoraProject, _ d: AgoraData) -> JSON {
        .object([("id", .int(Int64(p.id))), ("name", .string(p.name)), ("description", .string(p.description)),
                 ("memberships", [.object([("user", 1), ("role", 1), ("id", .int(Int64(p.id))), ("project", .int(Int64(p.id)))])]),
                 ("project_memberships", []), ("root_folder", .int(Int64(p.rootFolder))), ("owner", 1),
                 ("is_myagora", .bool(p.isMyAgora)), ("special_function", .null), ("anon_settings", .null),
                 ("anon_profile_set", .null), ("created_date", .string(AgoraData.iso(AgoraData.epoch))),
                 ("exam_count", .int(Int64(d.exams(in: p.id).count))), ("settings", .object([])), ("has_autoroutes", false)])
    }

    func folderJSON(_ f: AgoraFolder) -> JSON {
        .object([("id", .int(Int64(f.id))), ("name", .string(f.name)), ("project", .int(Int64(f.project))),
                 ("queries", []), ("locked", false)])
    }

    func examJSON(_ e: AgoraExam) -> JSON {
        .object([("id", .int(Int64(e.id))), ("owner", 1), ("patient", .int(Int64(e.patient))), ("project", .int(Int64(e.project))),
                 ("uid", .string(e.uid)), ("name", .string(e.name)), ("created_date", .string(e.startTime)),
                 ("start_time", .string(e.startTime)), ("description", .string(e.name)), ("scanner_name", .string(e.scanner)),
                 ("is_anonymized", false), ("locked", false), ("valid", true), ("messages", [])])
    }

    func seriesJSON(_ s: AgoraSeries, _ d: AgoraData) -> JSON {
        let types = Set(d.datasets.values.filter { $0.serie == s.id }.map(\.type)).sorted().map { JSON.int(Int64($0)) }
        return .object([("id", .int(Int64(s.id))), ("exam", .int(Int64(s.exam))), ("uid", .string(s.uid)), ("name", .string(s.name)),
                        ("creator", 1), ("time", .string(AgoraData.iso(AgoraData.epoch))),
                        ("acquisition_number", .int(Int64(s.acquisitionNumber))), ("is_refscan", false), ("is_coil_survey", false),
                        ("locked", false), ("valid", true), ("messages", []), ("thumbnails", []), ("dataset_types", .array(types)),
                        ("has_relations", false), ("has_task_results", false),
                        ("created_date", .string(AgoraData.iso(AgoraData.epoch))), ("modified_date", .string(AgoraData.iso(AgoraData.epoch)))])
    }

    /// A dataset with its datafiles embedded (the v1 form the connector reads).
    func datasetJSON(_ ds: AgoraDataset, _ d: AgoraData) -> JSON {
        let files = ds.datafiles.compactMap { d.datafiles[$0] }
        let total = files.reduce(Int64(0)) { $0 + $1.body.size }
        return .object([("id", .int(Int64(ds.id))), ("created_date", .string(AgoraData.iso(AgoraData.epoch))),
                        ("modified_date", .string(AgoraData.iso(AgoraData.epoch))),
                        ("serie", ds.serie.map { .int(Int64($0)) } ?? .null), ("exam", ds.exam.map { .int(Int64($0)) } ?? .null),
                        ("name", .string(ds.name)), ("type", .int(Int64(ds.type))), ("mime_type", ""),
                        ("total_size", .int(total)), ("thumbnails", []), ("version", 1), ("is_viewable", false), ("locked", false),
                        ("datafiles", .array(files.map(datafileJSON)))])
    }

    func datafileJSON(_ f: AgoraDatafile) -> JSON {
        .object([("id", .int(Int64(f.id))), ("type", 0), ("relative_path", .string(f.relativePath)),
                 ("original_filename", .string(f.originalFilename)), ("size", .int(f.body.size)), ("sha1", .string(sha1(f))),
                 ("is_anonymized", false), ("mime_type", "application/octet-stream"),
                 ("created_date", .string(AgoraData.iso(f.created))), ("modified_date", .string(AgoraData.iso(f.created)))])
    }

    func folderItemJSON(_ item: AgoraFolderItem, _ d: AgoraData) -> JSON? {
        let content: JSON
        switch item.contentType {
        case "folder": guard let f = d.folders[item.objectID] else { return nil }; content = folderJSON(f)
        case "exam": guard let e = d.exams[item.objectID] else { return nil }; content = examJSON(e)
        case "serie": guard let s = d.series[item.objectID] else { return nil }; content = seriesJSON(s, d)
        case "dataset": guard let ds = d.datasets[item.objectID] else { return nil }; content = datasetJSON(ds, d)
        default: return nil
        }
        return .object([("id", .int(Int64(item.id))), ("folder", .int(Int64(item.folder))), ("object_id", .int(Int64(item.objectID))),
                        ("content_type", .string(item.contentType)), ("modified_date", .string(AgoraData.iso(AgoraData.epoch))),
                        ("is_link", .bool(item.isLink)), ("is_temporary", false), ("content_object", content)])
    }

    /// Lowercase hex SHA-1 of a datafile's bytes, computed once per datafile.
    func sha1(_ f: AgoraDatafile) -> String {
        if let hit = sha1Cache.withLock({ $0[f.id] }) { return hit }
        var hasher = Digester(.sha1)
        var offset: Int64 = 0
        while offset < f.body.size {
            let chunk = f.body.chunk(offset: offset, length: 1 << 20)
            hasher.update(chunk.readableBytesView)
            offset += Int64(chunk.readableBytes)
        }
        let digest = hasher.hexDigest()
        sha1Cache.withLock { $0[f.id] = digest }
        return digest
    }

    /// A consistent copy of the state (dictionaries are copy-on-write, so this is cheap).
    var snapshot: AgoraData { data.withLock { $0 } }

    // MARK: projects

    func projects(_ req: SandboxRequest, _ rest: [String]) async throws -> Response {
        let d = snapshot
        if rest.isEmpty {
            req.route("/api/v2/project/", .listing)
            if req.method == .post {
                let body = await bodyFields(req)
                guard let name = body["name"] as? String, !name.isEmpty else { return badRequest("name is required") }
                let p = data.withLock { d -> AgoraProject in
                    let id = d.addProject(name: name, description: body["description"] as? String ?? "", isMyAgora: false)
                    return d.projects[id]!
                }
                return Reply.json(.created, projectJSON(p, snapshot))
            }
            let list = d.projects.values.sorted { $0.id < $1.id }.filter { Self.passes(req, name: $0.name) }
            return page(req, list.map { projectJSON($0, d) })
        }
        let project: AgoraProject?
        if rest[0] == "myagora" { project = d.projects.values.first { $0.isMyAgora } } else { project = Int(rest[0]).flatMap { d.projects[$0] } }
        guard let p = project else { req.route("/api/v2/project/{id}/"); return notFound() }
        switch rest.count == 1 ? nil : rest[1] {
        case nil:
            req.route("/api/v2/project/{id}/")
            if req.method == .put {
                let body = await bodyFields(req)
                let updated = data.withLock { d -> AgoraProject in
                    if let name = body["name"] as? String { d.projects[p.id]?.name = name }
                    return d.projects[p.id]!
                }
                return Reply.json(.ok, projectJSON(updated, snapshot))
            }
            return Reply.json(.ok, projectJSON(p, d))
        case "exam":
            req.route("/api/v2/project/{id}/exam/", .listing)
            return page(req, d.exams(in: p.id).filter { Self.passes(req, name: $0.name) }.map(examJSON))
        case "task":
            req.route("/api/v2/project/{id}/task/", .listing)
            return page(req, d.tasks.values.filter { $0.project == p.id }.sorted { $0.id < $1.id }.map(taskJSON))
        case "taskdefinition_yaml", "host":
            req.route("/api/v2/project/{id}/\(rest[1])/", .listing)
            return page(req, [])
        case "tag-definition":
            req.route("/api/v2/project/{id}/tag-definition/", .listing)
            return page(req, d.tagDefinitions.values.filter { $0.project == p.id }.sorted { $0.id < $1.id }.map(tagJSON))
        case "tag-instance":
            req.route("/api/v2/project/{id}/tag-instance/", .listing)
            let defs = Set(d.tagDefinitions.values.filter { $0.project == p.id }.map(\.id))
            return page(req, d.tagInstances.values.filter { defs.contains($0.tagDefinition) }.sorted { $0.id < $1.id }.map(tagInstanceJSON))
        default:
            req.route("/api/v2/project/{id}/(unknown)")
            return notFound()
        }
    }

    // MARK: folders

    func folders(_ req: SandboxRequest, _ version: String, _ rest: [String]) async throws -> Response {
        let d = snapshot
        guard let id = rest.first.flatMap(Int.init), let folder = d.folders[id] else {
            req.route("/api/\(version)/folder/{id}/")
            return notFound()
        }
        switch rest.count == 1 ? nil : rest[1] {
        case nil:
            req.route("/api/\(version)/folder/{id}/")
            if req.method == .delete {
                data.withLock { d in
                    d.folders[id] = nil
                    d.folderItems = d.folderItems.filter { !($0.value.contentType == "folder" && $0.value.objectID == id) && $0.value.folder != id }
                }
                return Response(status: .noContent)
            }
            return Reply.json(.ok, folderJSON(folder))
        case "items":
            // A bare array: gtagora-connector iterates this reply directly.
            req.route("/api/v1/folder/{id}/items/", .listing)
            let items = d.folderItems.values.filter { $0.folder == id }.sorted { $0.id < $1.id }.compactMap { folderItemJSON($0, d) }
            return Reply.json(.ok, .array(items))
        case "breadcrumb":
            req.route("/api/v1/folder/{id}/breadcrumb/", .listing)
            var chain: [AgoraFolder] = []
            var cursor: AgoraFolder? = folder
            while let f = cursor { chain.insert(f, at: 0); cursor = f.parent.flatMap { d.folders[$0] } }
            return Reply.json(.ok, .array(chain.map { .object([("object_id", .int(Int64($0.id))), ("name", .string($0.name)),
                                                                 ("content_type", "folder")]) }))
        case "new":
            req.route("/api/v1/folder/{id}/new/")
            guard req.method == .post else { return methodNotAllowed() }
            let body = await bodyFields(req)
            guard let name = body["name"] as? String, !name.isEmpty, !name.contains("/") else { return badRequest("a folder name is required") }
            let created: AgoraFolderItem? = data.withLock { d in
                let taken = d.folderItems.values.contains { $0.folder == id && $0.contentType == "folder" && d.folders[$0.objectID]?.name == name }
                if taken { return nil }
                let fid = d.addFolder(name: name, project: folder.project, parent: id)
                return d.folderItems.values.first { $0.contentType == "folder" && $0.objectID == fid }
            }
            guard let created, let json = folderItemJSON(created, snapshot) else {
                return badRequest("A folder with the name '\(name)' already exists")
            }
            return Reply.json(.created, json)
        case "tags":
            req.route("/api/v2/folder/{id}/tags/", .listing)
            return tagsOf(req, "folder", id, d)
        default:
            req.route("/api/\(version)/folder/{id}/(unknown)")
            return notFound()
        }
    }

    // MARK: exams, series, datasets, datafiles

    func exams(_ req: SandboxRequest, _ version: String, _ rest: [String]) async throws -> Response {
        let d = snapshot
        if rest.isEmpty {
            req.route("/api/v1/exam/", .listing)
            return page(req, d.exams.values.sorted { $0.id < $1.id }.filter { Self.passes(req, name: $0.name) }.map(examJSON))
        }
        guard let id = Int(rest[0]), let exam = d.exams[id] else { req.route("/api/\(version)/exam/{id}/"); return notFound() }
        switch rest.count == 1 ? nil : rest[1] {
        case nil:
            req.route("/api/\(version)/exam/{id}/")
            return Reply.json(.ok, examJSON(exam))
        case "series":
            req.route("/api/v1/exam/{id}/series/", .listing)
            let list = d.series.values.filter { $0.exam == id }.sorted { $0.id < $1.id }.filter { Self.passes(req, name: $0.name) }
            return page(req, list.map { seriesJSON($0, d) })
        case "files":
            // Every dataset of the exam, its series' included.
            req.route("/api/v1/exam/{id}/files/", .listing)
            let seriesIDs = Set(d.series.values.filter { $0.exam == id }.map(\.id))
            let list = d.datasets.values.filter { $0.exam == id || ($0.serie.map(seriesIDs.contains) ?? false) }
            return page(req, list.sorted { $0.id < $1.id }.filter { Self.passes(req, name: $0.name, type: $0.type) }.map { datasetJSON($0, d) })
        case "datasets":
            req.route("/api/v2/exam/{id}/datasets/", .listing)
            let list = d.datasets.values.filter { $0.exam == id && $0.serie == nil }.sorted { $0.id < $1.id }
            return page(req, list.filter { Self.passes(req, name: $0.name, type: $0.type) }.map { datasetJSON($0, d) })
        case "tags":
            req.route("/api/v2/exam/{id}/tags/", .listing)
            return tagsOf(req, "exam", id, d)
        default:
            req.route("/api/\(version)/exam/{id}/(unknown)")
            return notFound()
        }
    }

    func series(_ req: SandboxRequest, _ version: String, _ rest: [String]) async throws -> Response {
        let d = snapshot
        if rest.isEmpty {
            req.route("/api/v1/serie/", .listing)
            return page(req, d.series.values.sorted { $0.id < $1.id }.filter { Self.passes(req, name: $0.name) }.map { seriesJSON($0, d) })
        }
        guard let id = Int(rest[0]), let s = d.series[id] else { req.route("/api/\(version)/serie/{id}/"); return notFound() }
        switch rest.count == 1 ? nil : rest[1] {
        case nil:
            req.route("/api/\(version)/serie/{id}/")
            return Reply.json(.ok, seriesJSON(s, d))
        case "datasets":
            req.route("/api/v1/serie/{id}/datasets/", .listing)
            let list = d.datasets.values.filter { $0.serie == id }.sorted { $0.id < $1.id }
            return page(req, list.filter { Self.passes(req, name: $0.name, type: $0.type) }.map { datasetJSON($0, d) })
        case "tags":
            req.route("/api/v2/series/{id}/tags/", .listing)
            return tagsOf(req, "serie", id, d)
        default:
            req.route("/api/\(version)/serie/{id}/(unknown)")
            return notFound()
        }
    }

    func datasets(_ req: SandboxRequest, _ version: String, _ rest: [String]) async throws -> Response {
        let d = snapshot
        guard let id = rest.first.flatMap(Int.init), let ds = d.datasets[id] else {
            req.route("/api/\(version)/dataset/{id}/")
            return notFound()
        }
        switch rest.count == 1 ? nil : rest[1] {
        case nil:
            req.route("/api/\(version)/dataset/{id}/")
            if req.method == .delete {
                data.withLock { d in
                    for f in d.datasets[id]?.datafiles ?? [] { d.datafiles[f] = nil }
                    d.datasets[id] = nil
                    d.folderItems = d.folderItems.filter { !($0.value.contentType == "dataset" && $0.value.objectID == id) }
                }
                return Response(status: .noContent)
            }
            return Reply.json(.ok, datasetJSON(ds, d))
        case "tags":
            req.route("/api/v2/dataset/{id}/tags/", .listing)
            return tagsOf(req, "dataset", id, d)
        case "folders":
            req.route("/api/v1/dataset/{id}/folders/", .listing)
            let holders = d.folderItems.values.filter { $0.contentType == "dataset" && $0.objectID == id }.compactMap { d.folders[$0.folder] }
            return page(req, holders.map(folderJSON))
        default:
            req.route("/api/\(version)/dataset/{id}/(unknown)")
            return notFound()
        }
    }

    func datafiles(_ req: SandboxRequest, _ rest: [String]) -> Response {
        guard let id = rest.first.flatMap(Int.init), let file = data.withLock({ $0.datafiles[id] }) else {
            req.route("/api/v1/datafile/{id}/")
            return notFound()
        }
        if rest.count >= 2, rest[1] == "download" {
            req.route("/api/v1/datafile/{id}/download/", .download)
            let name = file.originalFilename.replacingOccurrences(of: "\"", with: "")
            return FileServer.serve(req, ServedFile(body: file.body, contentType: "application/octet-stream",
                                                    contentDisposition: "attachment; filename=\"\(name)\"",
                                                    etag: "\"\(sha1(file))\"", lastModified: file.created))
        }
        req.route("/api/v1/datafile/{id}/")
        return Reply.json(.ok, datafileJSON(file))
    }

    func patients(_ req: SandboxRequest, _ rest: [String]) -> Response {
        let d = snapshot
        func json(_ p: AgoraPatient) -> JSON {
            .object([("id", .int(Int64(p.id))), ("permissions", .object([("write", true), ("read", true)])),
                     ("most_recent_exam_date", .string(AgoraData.iso(AgoraData.epoch))), ("created_date", .string(AgoraData.iso(AgoraData.epoch))),
                     ("modified_date", .string(AgoraData.iso(AgoraData.epoch))), ("name", .string(p.name)), ("patient_id", .string(p.patientID)),
                     ("birth_date", .string(p.birthDate)), ("sex", .string(p.sex)), ("weight", .null), ("anonymous", false), ("creator", 1)])
        }
        if rest.isEmpty {
            req.route("/api/v1/patient/", .listing)
            return page(req, d.patients.values.sorted { $0.id < $1.id }.map(json))
        }
        guard let id = Int(rest[0]), let p = d.patients[id] else { req.route("/api/v1/patient/{id}/"); return notFound() }
        if rest.count >= 2, rest[1] == "exams" {
            req.route("/api/v1/patient/{id}/exams/", .listing)
            return page(req, d.exams.values.filter { $0.patient == id }.sorted { $0.id < $1.id }.map(examJSON))
        }
        req.route("/api/v1/patient/{id}/")
        return Reply.json(.ok, json(p))
    }

    // MARK: runtime changes (`POST /_sandbox/items`)

    /// Paths: `exam/<name>` (add to Wrist Study / remove), `datafile/<id>` (modify / remove),
    /// `tasks/<name>` (modify with content `{"duration": seconds, "fails": bool}`).
    public func mutate(_ m: SandboxMutation) throws -> String {
        let parts = m.path.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw SandboxError("Agora item path is exam/<name>, datafile/<id> or tasks/<name>: \(m.path)") }
        switch (parts[0], m.op) {
        case ("exam", .add):
            return data.withLock { d in
                let project = d.projects.values.first { $0.name == "Wrist Study" }!.id
                d.addExam(project: project, name: parts[1], index: d.exams.count)
                return "exam/\(parts[1])"
            }
        case ("exam", .remove):
            return try data.withLock { d in
                guard let exam = d.exams.values.first(where: { $0.name == parts[1] }) else { throw SandboxError("no exam \(parts[1])") }
                d.exams[exam.id] = nil
                d.folderItems = d.folderItems.filter { !($0.value.contentType == "exam" && $0.value.objectID == exam.id) }
                return "exam/\(parts[1])"
            }
        case ("datafile", _):
            guard let id = Int(parts[1]) else { throw SandboxError("datafile/<id> needs a number") }
            sha1Cache.withLock { $0[id] = nil }
            return try data.withLock { d in
                guard let file = d.datafiles[id] else { throw SandboxError("no datafile \(id)") }
                switch m.op {
                case .remove:
                    d.datafiles[id] = nil
                    d.datasets[file.dataset]?.datafiles.removeAll { $0 == id }
                case .modify, .add:
                    let key = d.seed ^ stableHash(m.path + "#\(Date().timeIntervalSince1970)")
                    d.datafiles[id]?.body = m.content.map { .stored(ByteBuffer(string: $0)) }
                        ?? .synthetic(key: key, size: m.size ?? d.sizes.size(for: key))
                }
                return "datafile/\(id)"
            }
        case ("tasks", .modify):
            let settings = (m.content.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } as? [String: Any]) ?? [:]
            return try data.withLock { d in
                let matching = d.tasks.values.filter { $0.name == parts[1] }
                guard !matching.isEmpty else { throw SandboxError("no task \(parts[1])") }
                for t in matching {
                    if let s = settings["duration"] as? NSNumber { d.tasks[t.id]?.duration = s.doubleValue }
                    if let f = settings["fails"] as? Bool { d.tasks[t.id]?.fails = f }
                }
                return "tasks/\(parts[1])"
            }
        default:
            throw SandboxError("unsupported change \(m.op.rawValue) \(m.path)")
        }
    }
}
