import Foundation
import Hummingbird
import NIOCore

/// Tags (definitions and instances) and tasks (definitions, runs, timeline items).
extension AgoraEmulator {
    // MARK: tags

    func tagJSON(_ t: AgoraTagDefinition) -> JSON {
        .object([("id", .int(Int64(t.id))), ("label", .string(t.label)), ("user", t.user.map { .int(Int64($0)) } ?? .null),
                 ("project", t.project.map { .int(Int64($0)) } ?? .null), ("group", .optional(t.group)), ("color", .optional(t.color)),
                 ("visibility", .int(Int64(t.visibility))), ("scope", .int(Int64(t.scope)))])
    }

    func tagInstanceJSON(_ t: AgoraTagInstance) -> JSON {
        .object([("id", .int(Int64(t.id))), ("tag_definition", .int(Int64(t.tagDefinition))),
                 ("tagged_object_content_type", .string(t.contentType)), ("tagged_object_id", .int(Int64(t.objectID)))])
    }

    /// `GET {v2}{id}/tags/`: the tag definitions set on one object.
    func tagsOf(_ req: SandboxRequest, _ contentType: String, _ id: Int, _ d: AgoraData) -> Response {
        let defs = d.tagInstances.values.filter { Self.sameType($0.contentType, contentType) && $0.objectID == id }
            .sorted { $0.id < $1.id }.compactMap { d.tagDefinitions[$0.tagDefinition] }
        return Reply.json(.ok, .array(defs.map(tagJSON)))
    }

    /// `serie` (v1) and `series` (v2, tasks) name the same kind.
    static func sameType(_ a: String, _ b: String) -> Bool {
        func norm(_ s: String) -> String { s == "series" ? "serie" : s }
        return norm(a) == norm(b)
    }

    func tagDefinitions(_ req: SandboxRequest, _ rest: [String]) async throws -> Response {
        if rest.isEmpty {
            req.route("/api/v2/tag-definition/", .listing)
            if req.method == .post {
                let body = await bodyFields(req)
                guard let label = body["label"] as? String, !label.isEmpty else { return badRequest("label is required") }
                let project = Self.int(body["project"]), user = Self.int(body["user"])
                guard project != nil || user != nil else { return badRequest("either user or project must be set") }
                if let project, snapshot.projects[project] == nil { return badRequest("Invalid pk \"\(project)\" - object does not exist.") }
                let tag = data.withLock { d -> AgoraTagDefinition in
                    let t = AgoraTagDefinition(id: d.newID("tag"), label: label, user: user, project: project,
                                               group: body["group"] as? String, color: body["color"] as? String,
                                               visibility: Self.int(body["visibility"]) ?? (project != nil ? 2 : 1),
                                               scope: Self.int(body["scope"]) ?? (project != nil ? 1 : 2))
                    d.tagDefinitions[t.id] = t
                    return t
                }
                return Reply.json(.created, tagJSON(tag))
            }
            let list = snapshot.tagDefinitions.values.sorted { $0.id < $1.id }
                .filter { tag in req.query["label"].map { tag.label == $0 } ?? true }
            return page(req, list.map(tagJSON))
        }
        req.route("/api/v2/tag-definition/{id}/")
        guard let id = Int(rest[0]), let tag = snapshot.tagDefinitions[id] else { return notFound() }
        return Reply.json(.ok, tagJSON(tag))
    }

    func tagInstances(_ req: SandboxRequest, _ rest: [String]) async throws -> Response {
        if rest.isEmpty {
            req.route("/api/v2/tag-instance/", .listing)
            if req.method == .post {
                // gtagora-connector posts this one form-encoded.
                let body = await bodyFields(req)
                guard let def = Self.int(body["tag_definition"]), let objectID = Self.int(body["tagged_object_id"]),
                      let type = body["tagged_object_content_type"] as? String else {
                    return badRequest("tag_definition, tagged_object_content_type and tagged_object_id are required")
                }
                let d = snapshot
                guard d.tagDefinitions[def] != nil else { return badRequest("Invalid pk \"\(def)\" - object does not exist.") }
                let exists: Bool
                switch type {
                case "exam": exists = d.exams[objectID] != nil
                case "serie", "series": exists = d.series[objectID] != nil
                case "dataset": exists = d.datasets[objectID] != nil
                case "folder": exists = d.folders[objectID] != nil
                case "patient": exists = d.patients[objectID] != nil
                default: return badRequest("unknown content type \(type)")
                }
                guard exists else { return badRequest("the \(type) \(objectID) does not exist") }
                let created: AgoraTagInstance? = data.withLock { d in
                    if d.tagInstances.values.contains(where: { $0.tagDefinition == def && Self.sameType($0.contentType, type) && $0.objectID == objectID }) {
                        return nil
                    }
                    let t = AgoraTagInstance(id: d.newID("taginstance"), tagDefinition: def, contentType: type, objectID: objectID)
                    d.tagInstances[t.id] = t
                    return t
                }
                guard let created else {
                    return Reply.json(.badRequest, .object([("non_field_errors", ["The fields tag_definition, tagged_object_content_type, tagged_object_id must make a unique set."])]))
                }
                return Reply.json(.created, tagInstanceJSON(created))
            }
            return page(req, snapshot.tagInstances.values.sorted { $0.id < $1.id }.map(tagInstanceJSON))
        }
        req.route("/api/v2/tag-instance/{id}/")
        guard let id = Int(rest[0]), let instance = snapshot.tagInstances[id] else { return notFound() }
        if req.method == .delete {
            data.withLock { $0.tagInstances[id] = nil }
            return Response(status: .noContent)
        }
        return Reply.json(.ok, tagInstanceJSON(instance))
    }

    // MARK: tasks

    static let inputTypeNames = [1: "exam", 2: "series", 3: "dataset", 4: "file", 5: "string", 6: "integer", 7: "float", 8: "select", 9: "folder"]

    func taskJSON(_ t: AgoraTask) -> JSON {
        let inputs = t.inputs.enumerated().map { n, i -> JSON in
            .object([("id", .int(Int64(t.id * 100 + n))), ("name", .string(i.name)), ("key", .string(i.key)), ("description", ""),
                     ("required", true), ("order", .int(Int64(n))), ("type", .int(Int64(i.type))),
                     ("data_set_type", i.dataSetType.map { .int(Int64($0)) } ?? .null), ("filename_regex", .null),
                     ("min", .null), ("max", .null), ("select_values", .null)])
        }
        let outputs = t.outputs.enumerated().map { n, o -> JSON in
            .object([("id", .int(Int64(t.id * 100 + 50 + n))), ("name", .string(o.name)), ("type", .int(Int64(o.type))),
                     ("data_set_type", .null), ("filename_regex", .null), ("order", .int(Int64(n)))])
        }
        return .object([("id", .int(Int64(t.id))), ("name", .string(t.name)), ("project", .int(Int64(t.project))),
                        ("inputs", .array(inputs)), ("outputs", .array(outputs)), ("members", []),
                        ("container_name", "gyrotools/recon:sandbox"), ("container_options", .object([("mount_volumes", [])])),
                        ("execute_template", "recon {{raw}}"), ("execute_version", 1), ("success_exit_code", 0),
                        ("parse_output_for_error", false), ("owner", 1), ("host", .null)])
    }

    func taskDefinitions(_ req: SandboxRequest, _ rest: [String]) async throws -> Response {
        let d = snapshot
        if rest.isEmpty {
            req.route("/api/v1/taskdefinition/", .listing)
            return page(req, d.tasks.values.sorted { $0.id < $1.id }.filter { Self.passes(req, name: $0.name) }.map(taskJSON))
        }
        guard let id = Int(rest[0]), let task = d.tasks[id] else { req.route("/api/v1/taskdefinition/{id}/"); return notFound() }
        if rest.count >= 2, rest[1] == "run" {
            req.route("/api/v1/taskdefinition/{id}/run/")
            guard req.method == .post else { return methodNotAllowed() }
            return await run(task, req)
        }
        req.route("/api/v1/taskdefinition/{id}/")
        return Reply.json(.ok, taskJSON(task))
    }

    /// Starts a run: checks every input (object inputs must exist and have the right type) and
    /// answers 200 with a timeline item in state 1.
    private func run(_ task: AgoraTask, _ req: SandboxRequest) async -> Response {
        let body = await bodyFields(req)
        let given = body["inputs"] as? [String: Any] ?? [:]
        let d = snapshot
        var inputs: [(key: String, type: String, id: Int)] = []
        for input in task.inputs {
            guard let value = given[input.key] else { return badRequest("The task input '\(input.key)' is missing") }
            let typeName = Self.inputTypeNames[input.type] ?? "none"
            guard input.type <= 4 || input.type == 9 else { continue }  // plain values need no lookup
            let objectID = Self.int((value as? [String: Any])?["object_id"]) ?? Self.int(value)
            guard let objectID else { return badRequest("The task input '\(input.key)' must be a \(typeName) or a \(typeName) ID") }
            let found: Bool
            switch typeName {
            case "exam": found = d.exams[objectID] != nil
            case "series": found = d.series[objectID] != nil
            case "dataset":
                found = d.datasets[objectID].map { ds in input.dataSetType == nil || ds.type == input.dataSetType } ?? false
            case "folder": found = d.folders[objectID] != nil
            default: found = d.datafiles[objectID] != nil
            }
            guard found else { return badRequest("The \(typeName) \(objectID) of input '\(input.key)' does not exist or has the wrong type") }
            inputs.append((input.key, typeName, objectID))
        }
        var target: (type: String, id: Int)?
        if let t = body["target"] as? [String: Any], let id = Self.int(t["object_id"]) {
            target = ((t["object_type"] as? String) ?? "folder", id)
        }
        let duration = task.duration ?? taskDuration
        let item = data.withLock { d -> AgoraTimelineItem in
            let item = AgoraTimelineItem(id: d.newID("timeline"), task: task.id, started: Date(), duration: duration,
                                         fails: task.fails, inputs: inputs, target: target, results: nil)
            d.timeline[item.id] = item
            return item
        }
        return Reply.json(.ok, timelineJSON(item, task: task, state: 1, d: snapshot))
    }

    /// `GET /api/v2/timeline/{id}/`: state 1 while running, then 2 (finished, results listed in
    /// `data.related_objects`) or 3 (error in `error` and `data.error.message`).
    func timeline(_ req: SandboxRequest, _ rest: [String]) -> Response {
        req.route("/api/v2/timeline/{id}/")
        guard let id = rest.first.flatMap(Int.init), var item = data.withLock({ $0.timeline[id] }) else {
            return notFound()
        }
        let d0 = snapshot
        guard let task = d0.tasks[item.task] else { return notFound() }
        if hostile, let forced = AgoraData.hostileTaskStates[task.name] {
            return Reply.json(.ok, timelineJSON(item, task: task, state: forced, d: d0))
        }
        let done = Date().timeIntervalSince(item.started) >= item.duration
        var state = 1
        if done && item.fails { state = 3 }
        if done && !item.fails {
            state = 2
            if item.results == nil { item = finish(id) }
        }
        return Reply.json(.ok, timelineJSON(item, task: task, state: state, d: snapshot))
    }

    /// Creates the run's output dataset once: one text file per object input, in the target
    /// folder when given, else next to the input dataset.
    private func finish(_ id: Int) -> AgoraTimelineItem {
        data.withLock { d in
            guard var item = d.timeline[id] else { return d.timeline[id]! }
            if item.results != nil { return item }
            var results: [Int] = []
            let task = d.tasks[item.task]
            for input in item.inputs where input.type == "dataset" {
                guard let source = d.datasets[input.id] else { continue }
                let name = source.name + "_recon"
                let text = "reconstruction of dataset \(source.id) (\(source.name)) by task \(task?.name ?? "?"), run \(item.id)\n"
                let ds = d.newID("dataset")
                let f = d.newID("datafile")
                d.datafiles[f] = AgoraDatafile(id: f, dataset: ds, relativePath: name + ".txt", originalFilename: name + ".txt",
                                               body: .stored(ByteBuffer(string: text)), created: Date())
                var dataset = AgoraDataset(id: ds, name: name, type: 100000, serie: nil, exam: nil, project: source.project, datafiles: [f])
                if let target = item.target, target.type == "folder", d.folders[target.id] != nil {
                    let fi = d.newID("item")
                    d.folderItems[fi] = AgoraFolderItem(id: fi, folder: target.id, contentType: "dataset", objectID: ds)
                } else {
                    dataset.serie = source.serie
                    dataset.exam = source.exam
                }
                d.datasets[ds] = dataset
                results.append(ds)
            }
            item.results = results
            d.timeline[id] = item
            return item
        }
    }

    func timelineJSON(_ item: AgoraTimelineItem, task: AgoraTask, state: Int, d: AgoraData) -> JSON {
        let message = "Task '\(task.name)' failed: exit code 1 (flowctl-sandbox synthetic failure)"
        let outputName = task.outputs.first?.name ?? "output"
        let related: [JSON] = (state == 2 ? item.results ?? [] : []).compactMap { id in
            guard let ds = d.datasets[id] else { return nil }
            return .object([("id", .int(Int64(id))), ("object_type", "dataset"), ("content_type", "dataset"),
                            ("name", .string(ds.name)), ("output", .string(outputName))])
        }
        let inputs = JSON.object(item.inputs.map { ($0.key, .object([("object_id", .int(Int64($0.id))), ("object_type", .string($0.type))])) })
        let error: JSON = state == 3 ? .string(message) : .null
        return .object([
            ("id", .int(Int64(item.id))), ("type", "task"), ("created_date", .string(AgoraData.iso(item.started))),
            ("modified_date", .string(AgoraData.iso(item.started))),
            ("data", .object([("state", .int(Int64(state))), ("task", .int(Int64(task.id))), ("task_name", .string(task.name)),
                              ("inputs", inputs), ("related_objects", .array(related)),
                              ("error", state == 3 ? .object([("message", .string(message))]) : .null)])),
            ("error", error),
        ])
    }
}
