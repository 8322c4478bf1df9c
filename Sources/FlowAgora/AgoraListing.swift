import FlowConnector
import FlowHTTP
import FlowModel

/// Listing: projects -> exams (or a folder's contents) -> series -> datasets -> datafiles, each
/// level's children listed concurrently (the session bounds requests in flight). Literal matchers
/// on `name` and dataset `type` go to the server as `name=` / `type=` filters, one request per
/// value; every matcher is checked here too.
extension AgoraConnector {
    typealias Fields = [String: String]

    public func list(_ selection: Selection) async throws -> [RemoteItem] {
        let projects = try await listProjects(selection)
        return try await listEach(projects) { project in
            if selection.filters(on: "folder").isEmpty {
                let exams = try await listExams(project, selection)
                return try await listEach(exams) { exam in try await listExamFiles(exam, selection) }
            }
            let folders = try await listFolders(project, selection)
            return try await listEach(folders) { folder in try await listFolderContents(folder, selection) }
        }
    }

    /// The exact values to send as a server filter for `field`, or nil when the matcher is not literal.
    func literals(_ selection: Selection, level: String, field: String) -> [String]? {
        selection.filters(on: level).first { $0.field == field }?.matcher.literalValues
    }

    /// A list with an optional server filter: one request per literal value, merged by id.
    func filteredList(_ path: String, param: String, values: [String]?) async throws -> [JSONValue] {
        guard let values, !values.isEmpty else { return try await session.agoraList(path) }
        let lists = try await concurrentFlatMap(values) { value in try await session.agoraList(path, query: [(param, value)]) }
        var seen = Set<Int>()
        return lists.filter { item in item["id"]?.int.map { seen.insert($0).inserted } ?? true }
    }

    func listProjects(_ selection: Selection) async throws -> [Fields] {
        let rows = try await filteredList("/api/v2/project/", param: "name",
                                          values: literals(selection, level: "project", field: "project.name"))
        return rows.compactMap { row in
            guard let id = row["id"]?.int else { return nil }
            var fields: Fields = ["project.id": String(id), "project.name": row["name"]?.text ?? ""]
            if let root = row["root_folder"]?.int { fields["project.root_folder"] = String(root) }
            return selection.accepts(fields, levels: ["project"]) ? fields : nil
        }
    }

    func listExams(_ project: Fields, _ selection: Selection) async throws -> [Fields] {
        let rows = try await filteredList("/api/v2/project/\(project["project.id"]!)/exam/", param: "name",
                                          values: literals(selection, level: "exams", field: "exam.name"))
        return rows.compactMap { examFields($0, project, selection) }
    }

    func examFields(_ row: JSONValue, _ parent: Fields, _ selection: Selection) -> Fields? {
        guard let id = row["id"]?.int else { return nil }
        var fields = parent
        fields["exam.id"] = String(id)
        fields["exam.name"] = row["name"]?.text ?? ""
        fields["exam.patient"] = row["patient"]?.text ?? ""
        fields["exam.scanner"] = row["scanner_name"]?.text ?? ""
        fields["exam.date"] = String((row["start_time"]?.text ?? "").prefix(10))
        return selection.accepts(fields, levels: ["exams"]) ? fields : nil
    }

    /// Series of an exam, their datasets, and the exam's own datasets (when no series filter is set).
    func listExamFiles(_ exam: Fields, _ selection: Selection) async throws -> [RemoteItem] {
        let examID = exam["exam.id"]!
        let rows = try await filteredList("/api/v1/exam/\(examID)/series/", param: "name",
                                          values: literals(selection, level: "series", field: "series.name"))
        let series: [Fields] = rows.compactMap { row in
            guard let id = row["id"]?.int else { return nil }
            var fields = exam
            fields["series.id"] = String(id)
            fields["series.name"] = row["name"]?.text ?? ""
            fields["series.number"] = row["acquisition_number"]?.text ?? ""
            return selection.accepts(fields, levels: ["series"]) ? fields : nil
        }
        let types = datasetTypeFilter(selection)
        var items = try await listEach(series) { s in
            let datasets = try await filteredList("/api/v1/serie/\(s["series.id"]!)/datasets/", param: "type", values: types)
            return try await datasetItems(datasets, s, selection)
        }
        if selection.filters(on: "series").isEmpty {
            let own = try await filteredList("/api/v2/exam/\(examID)/datasets/", param: "type", values: types)
            items += try await datasetItems(own, exam, selection)
        }
        return items
    }

    /// `type=` values: the numbers of the literal type names (nil when any name is unknown).
    func datasetTypeFilter(_ selection: Selection) -> [String]? {
        guard let names = literals(selection, level: "datasets", field: "dataset.type") else { return nil }
        let numbers = names.map { AgoraTypes.number(of: $0) }
        return numbers.contains(nil) ? nil : numbers.map { String($0!) }
    }

    /// Items of the datafiles of some datasets; a dataset listed without its datafiles (v2) is read through v1.
    func datasetItems(_ datasets: [JSONValue], _ context: Fields, _ selection: Selection) async throws -> [RemoteItem] {
        try await listEach(datasets) { row in
            guard let id = row["id"]?.int else { throw ConnectorError.badReply("a dataset has no id") }
            var probe = context
            probe["dataset.id"] = String(id)
            probe["dataset.name"] = row["name"]?.text ?? ""
            probe["dataset.type"] = row["type"]?.int.map(AgoraTypes.name(of:)) ?? ""
            guard selection.accepts(probe, levels: ["datasets"]) else { return [] }
            let dataset = row["datafiles"]?.array != nil ? row : try await session.agoraJSON("/api/v1/dataset/\(id)/")
            return try listingRows(dataset["datafiles"]?.array ?? [], at: "dataset \(id)") { file in
                let item = try self.item(datafile: file, dataset: dataset, context: context)
                return selection.accepts(item.allFields) ? item : nil
            }
        }
    }

    // MARK: folders

    /// Folders of a project whose path (`/`, `/Raw`, `/Raw/2024`) passes the folder filters.
    /// Literal paths are walked to directly; other matchers walk the whole folder tree.
    func listFolders(_ project: Fields, _ selection: Selection) async throws -> [Fields] {
        guard let root = project["project.root_folder"].flatMap(Int.init) else {
            throw ConnectorError.badReply("project \(project["project.name"] ?? "?") has no root_folder")
        }
        var found: [(String, Int)] = []
        if let paths = literals(selection, level: "folder", field: "folder.path") {
            for path in paths {
                if let id = try await findFolder(root: root, path: path) { found.append((Self.normalized(path), id)) }
            }
        } else {
            var queue: [(String, Int, Int)] = [("/", root, 0)]
            while !queue.isEmpty {
                let (path, id, depth) = queue.removeFirst()
                found.append((path, id))
                guard depth < 32 else { continue }
                for (name, child) in try await subfolders(id) {
                    queue.append(((path == "/" ? "" : path) + "/" + name, child, depth + 1))
                }
            }
        }
        return found.compactMap { path, id in
            var fields = project
            fields["folder.path"] = path
            fields["folder.id"] = String(id)
            return selection.accepts(fields, levels: ["folder"]) ? fields : nil
        }
    }

    /// `/Results/` and `Results` both mean `/Results`.
    static func normalized(_ path: String) -> String {
        "/" + path.split(separator: "/").joined(separator: "/")
    }

    /// Sub-folders of a folder by name (`GET /api/v1/folder/{id}/items/`).
    func subfolders(_ folder: Int) async throws -> [(String, Int)] {
        try await session.agoraList("/api/v1/folder/\(folder)/items/").compactMap { item in
            guard item["content_type"]?.text == "folder", let id = item["object_id"]?.int ?? item["content_object"]?["id"]?.int else { return nil }
            return (item["content_object"]?["name"]?.text ?? "", id)
        }
    }

    /// The id of the folder at `path` under `root`, or nil.
    func findFolder(root: Int, path: String) async throws -> Int? {
        var current = root
        for part in path.split(separator: "/") {
            guard let next = try await subfolders(current).first(where: { $0.0 == part })?.1 else { return nil }
            current = next
        }
        return current
    }

    /// What a folder holds: exams (then their series and datasets), series and datasets filed there.
    func listFolderContents(_ folder: Fields, _ selection: Selection) async throws -> [RemoteItem] {
        let items = try await session.agoraList("/api/v1/folder/\(folder["folder.id"]!)/items/")
        var datasets: [JSONValue] = []
        var exams: [Fields] = []
        for item in items {
            guard let object = item["content_object"] else { continue }
            switch item["content_type"]?.text {
            case "exam": if let e = examFields(object, folder, selection) { exams.append(e) }
            case "dataset": datasets.append(object)
            default: break  // sub-folders have their own paths; loose series are rare and skipped
            }
        }
        var result = try await datasetItems(datasets, folder, selection)
        result += try await listEach(exams) { exam in try await listExamFiles(exam, selection) }
        return result
    }
}
