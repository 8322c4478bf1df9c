import Foundation
import FlowConnector
import FlowHTTP
import FlowModel

/// Tags and task runs.
extension AgoraConnector {
    /// The Agora object an item stands for: its dataset (Agora tags and task inputs are objects,
    /// not files), else its series, exam or folder.
    func object(of item: RemoteItem) throws -> (type: String, id: Int) {
        guard let object = PlatformCatalog.agora.taggedObject(of: item), let id = Int(object.id) else {
            throw ConnectorError.unsupported("\(item.id) is not an Agora dataset, series, exam or folder")
        }
        return (object.type, id)
    }

    // MARK: tags

    /// Tags the item's dataset with each tag (a project tag, created when missing). Tags already
    /// set are left alone, so a re-run changes nothing.
    public func tag(_ item: RemoteItem, with tags: [String]) async throws {
        let target = try object(of: item)
        guard let project = item.fields["project.id"] else {
            throw ConnectorError.unsupported("\(item.id) carries no project.id: cannot choose the project of its tags")
        }
        let base = target.type == "series" ? "/api/v2/series/" : "/api/v2/\(target.type)/"
        let tagsURL = "\(base)\(target.id)/tags/"
        let present = Set(try await session.agoraList(tagsURL).compactMap { $0["label"]?.text })
        for label in tags where !label.isEmpty && !present.contains(label) {
            let definition = try await tagDefinition(label, project: project)
            // gtagora-connector posts tag instances form-encoded; v1 names a series `serie`.
            let type = target.type == "series" ? "serie" : target.type
            let form = "tag_definition=\(definition)&tagged_object_content_type=\(type)&tagged_object_id=\(target.id)"
            let response = try await session.send(HTTPRequest(method: "POST", url: session.url("/api/v2/tag-instance/"),
                                                              headers: ["Content-Type": "application/x-www-form-urlencoded"],
                                                              body: .bytes(Array(form.utf8))), accept: [400])
            if response.status == 400 {
                // Another task tagged the same dataset meanwhile (unique instance): fine if the tag is there now.
                let now = Set(try await session.agoraList(tagsURL).compactMap { $0["label"]?.text })
                guard now.contains(label) else {
                    throw ConnectorError.status(400, url: session.url("/api/v2/tag-instance/"),
                                                message: "", retryAfter: nil)
                }
            }
        }
    }

    /// The id of the project's tag `label`, created once (concurrent callers share it).
    func tagDefinition(_ label: String, project: String) async throws -> Int {
        try await state.tags.value("\(project)|\(label)") { [self] in
            let existing = try await session.agoraList("/api/v2/project/\(project)/tag-definition/")
            if let id = existing.first(where: { $0["label"]?.text == label })?["id"]?.int { return id }
            let body = "{\"label\":\(Self.jsonString(label)),\"user\":null,\"project\":\(project),\"group\":null,\"color\":null,\"visibility\":2,\"scope\":1}"
            let response = try await session.send(HTTPRequest(method: "POST", url: session.url("/api/v2/tag-definition/"),
                                                              headers: ["Content-Type": "application/json"], body: .bytes(Array(body.utf8))))
            guard response.status == 201, let id = try SourceSession.decode(JSONValue.self, response.body, from: "/api/v2/tag-definition/")["id"]?.int else {
                throw ConnectorError.badReply("/api/v2/tag-definition/ answered \(response.status) without a tag id")
            }
            return id
        }
    }

    // MARK: tasks

    /// Runs task `taskName` (its name, or its id) with the item's dataset (or series/exam/folder,
    /// as the task input's type says) as input `inputName` (default: the first object input).
    /// Items of the same dataset share one run: a task runs once per Agora object, and its
    /// outputs are reported to the item that started it.
    public func startRun(_ taskName: String, input: RemoteItem, inputName: String?) async throws -> RemoteRun {
        let task = try await taskDefinition(taskName, project: input.fields["project.id"])
        guard let taskID = task["id"]?.int else { throw ConnectorError.badReply("task \(taskName) has no id") }
        let inputs = task["inputs"]?.array ?? []
        let objectTypes = [1: "exam", 2: "series", 3: "dataset", 4: "file", 9: "folder"]
        let chosen: JSONValue?
        if let inputName {
            chosen = inputs.first { $0["key"]?.text == inputName }
        } else {
            chosen = inputs.first { $0["type"]?.int.map { objectTypes[$0] != nil } ?? false }
        }
        guard let chosen, let key = chosen["key"]?.text, let typeName = chosen["type"]?.int.flatMap({ objectTypes[$0] }) else {
            let keys = inputs.compactMap { $0["key"]?.text }.joined(separator: ", ")
            throw ConnectorError.unsupported("task \"\(taskName)\" has no object input \(inputName.map { "`\($0)`" } ?? "") (inputs: \(keys.isEmpty ? "none" : keys))")
        }
        let field = ["exam": "exam.id", "series": "series.id", "dataset": "dataset.id", "file": "file.id", "folder": "folder.id"][typeName]!
        guard let objectID = input.fields[field].flatMap(Int.init) else {
            throw ConnectorError.unsupported("task input `\(key)` takes a \(typeName), and \(input.id) has no \(field)")
        }
        let run = try await state.runs.value("\(taskID)|\(key)|\(typeName)/\(objectID)") { [self] in
            let body = "{\"target\":null,\"inputs\":{\(Self.jsonString(key)):{\"object_id\":\(objectID),\"object_type\":\"\(typeName)\"}}}"
            let url = session.url("/api/v1/taskdefinition/\(taskID)/run/")
            let response = try await session.send(HTTPRequest(method: "POST", url: url, headers: ["Content-Type": "application/json"],
                                                              body: .bytes(Array(body.utf8))))
            guard response.status == 200, let timeline = try SourceSession.decode(JSONValue.self, response.body, from: url)["id"]?.int else {
                throw ConnectorError.badReply("running task \(taskName): HTTP \(response.status) without a timeline item")
            }
            return RemoteRun(id: String(timeline), url: session.url("/api/v2/timeline/\(timeline)/"), input: input)
        }
        if run.input.id == input.id { return run }
        // A sibling (another file of the same dataset) waits for the same run but reports no
        // outputs, so each output is downloaded once. The mark survives in the journal.
        return RemoteRun(id: run.id, url: run.url + Self.sharedMark, input: input)
    }

    /// Marks the URL of a run started by another item (a fragment: never sent to the server).
    static let sharedMark = "#shared"

    /// The task definition called `name` (preferring the input's project), or with id `name`.
    func taskDefinition(_ name: String, project: String?) async throws -> JSONValue {
        try await state.tasks.value("\(project ?? "")|\(name)") { [self] in
            let matches = try await session.agoraList("/api/v1/taskdefinition/", query: [("name", name)]).filter { $0["name"]?.text == name }
            if let best = matches.first(where: { $0["project"]?.text == project }) ?? matches.first { return best }
            if let id = Int(name) { return try await session.agoraJSON("/api/v1/taskdefinition/\(id)/") }
            throw ConnectorError.unsupported("Agora has no task named \"\(name)\" visible to this API key")
        }
    }

    /// Reads the run's timeline item: state 2 -> the output datasets' files, 3 -> the error.
    public func poll(_ run: RemoteRun) async throws -> RunStatus {
        let shared = run.url.hasSuffix(Self.sharedMark)
        let url = shared ? String(run.url.dropLast(Self.sharedMark.count)) : run.url
        let response = try await session.send(HTTPRequest(url: url))
        let item = try SourceSession.decode(JSONValue.self, response.body, from: url)
        let data = item["data"]
        switch data?["state"]?.int {
        case 2:
            if shared { return .succeeded(outputs: []) }
            let related = data?["related_objects"]?.array ?? []
            let outputs = related.filter { ($0["object_type"]?.text ?? $0["content_type"]?.text) == "dataset" }
            return .succeeded(outputs: try await concurrentFlatMap(outputs) { object in
                try await outputItems(object, run: run)
            })
        case 3:
            let message = item["error"]?.text ?? data?["error"]?["message"]?.text ?? data?["error"]?.text ?? "task failed"
            return .failed(message)
        case 4: return .failed("the task is being cancelled")
        case 5: return .failed("the task was cancelled")
        case 0: return .running("idle")
        case 1: return .running("started")
        case 6: return .running("queued")
        case let state?: return .running("state \(state) (not one flowctl knows)")
        case nil: return .running("no state in the timeline item")
        }
    }

    /// The files of one output dataset, with `output.name`, `job.id` and the input's fields.
    func outputItems(_ object: JSONValue, run: RemoteRun) async throws -> [RemoteItem] {
        guard let id = object["id"]?.int else { return [] }
        let dataset = try await session.agoraJSON("/api/v1/dataset/\(id)/")
        var context: Fields = [:]
        for (key, value) in run.input.fields where key.hasPrefix("project.") { context[key] = value }
        context["job.id"] = run.id
        context["output.name"] = object["output"]?.text ?? dataset["name"]?.text ?? ""
        context["input.id"] = run.input.id
        context["input.name"] = run.input.fields["dataset.name"] ?? run.input.fields["file.name"] ?? ""
        return try (dataset["datafiles"]?.array ?? []).map { file in
            var output = try item(datafile: file, dataset: dataset, context: context)
            output.id = "runs/\(run.id)/" + output.id
            return output
        }
    }
}
