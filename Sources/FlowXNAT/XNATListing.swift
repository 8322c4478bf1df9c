import FlowConnector
import FlowHTTP
import FlowModel

/// Listing: project -> subjects -> experiments -> scans -> resources -> files, each level's
/// children listed concurrently (the session bounds requests in flight). Literal matchers go to
/// the server as field filters (`type=DWI_ALFA1,rDWI_ALFA1`); every matcher is checked here too,
/// since XNAT's filters are case-insensitive SQL LIKEs.
extension XNATConnector {
    /// Fields gathered on the way down the hierarchy.
    typealias Fields = [String: String]

    public func list(_ selection: Selection) async throws -> [RemoteItem] {
        // Children of literally named parents are asked for alongside the parents' listings, so
        // `project: testenv` + `subjects: [SUBJ_003]` costs one round trip for three levels.
        let early = earlyListings(selection)
        defer { early.cancel() }
        let projects = try await listProjects(selection)
        return try await listEach(projects) { project in
            let subjects = try await listSubjects(project, selection, early: early)
            return try await listEach(subjects) { subject in
                let experiments = try await listExperiments(subject, selection, early: early)
                return try await listEach(experiments) { experiment in
                    let scans = try await listScans(experiment, selection)
                    return try await listEach(scans) { scan in
                        let earlyFiles = EarlyResults(keys: literals(selection, level: "resource", field: "resource.label")
                            .map { filesPath(scan, label: $0) }) { path in try await session.xnatRows(path, query: []) }
                        defer { earlyFiles.cancel() }
                        let resources = try await listResources(scan, selection)
                        return try await listEach(resources) { resource in
                            try await listFiles(resource, selection, early: earlyFiles)
                        }
                    }
                }
            }
        }
    }

    /// The values a level's field must take, when the selection gives them literally.
    func literals(_ selection: Selection, level: String, field: String) -> [String] {
        selection.filters(on: level).first { $0.field == field && $0.matcher.literalValues != nil }?.matcher.literalValues ?? []
    }

    /// The subject listings of literally named projects and, with one such project, the
    /// experiment listings of literally named subjects (XNAT addresses a subject by label under
    /// its project), keyed by the request they stand for.
    func earlyListings(_ selection: Selection) -> EarlyResults<[JSONValue]> {
        let projects = literals(selection, level: "project", field: "project.id")
        var requests: [String: (String, [(String, String)])] = [:]
        for project in projects {
            let subjects = subjectsRequest(projectID: project, selection)
            requests[Self.key(subjects)] = subjects
        }
        if projects.count == 1 {
            for label in literals(selection, level: "subjects", field: "subject.label") {
                let experiments = experimentsRequest(projectID: projects[0], subject: label, selection)
                requests[Self.key(experiments)] = experiments
            }
        }
        let started = requests
        return EarlyResults(keys: Array(started.keys)) { [session] key in
            let (path, query) = started[key]!
            return try await session.xnatRows(path, query: query)
        }
    }

    /// One listing request as a key of `EarlyResults`.
    static func key(_ request: (path: String, query: [(String, String)])) -> String {
        request.path + "?" + request.query.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// Server-side filter for the literal matchers on `field` of `level`.
    func serverFilter(_ selection: Selection, level: String, field: String, param: String) -> [(String, String)] {
        let literal = selection.filters(on: level).filter { $0.field == field }.compactMap { XNATReply.filterValue($0.matcher.literalValues) }
        // With two literal filters on one field, one is enough for the server; the client checks both.
        return literal.first.map { [(param, $0)] } ?? []
    }

    func listProjects(_ selection: Selection) async throws -> [Fields] {
        let rows = try await session.xnatRows("/data/projects", query: [])
        return try listingRows(rows, at: "/data/projects") { row in
            guard let id = row["ID"]?.text, !id.isEmpty else { return nil }
            let fields = ["project.id": id, "project.name": row["name"]?.text ?? ""]
            return selection.accepts(fields, levels: ["project"]) ? fields : nil
        }
    }

    func subjectsRequest(projectID: String, _ selection: Selection) -> (path: String, query: [(String, String)]) {
        ("/data/projects/\(URLText.segment(projectID))/subjects",
         serverFilter(selection, level: "subjects", field: "subject.label", param: "label"))
    }

    func listSubjects(_ project: Fields, _ selection: Selection, early: EarlyResults<[JSONValue]> = .none) async throws -> [Fields] {
        let request = subjectsRequest(projectID: project["project.id"]!, selection)
        let path = request.path
        let rows = try await early.value(for: Self.key(request)) { try await session.xnatRows(path, query: request.query) }
        return try listingRows(rows, at: path) { row in
            guard let id = row["ID"]?.text, !id.isEmpty else { throw ConnectorError.badReply("a subject row has no ID") }
            var fields = project
            fields["subject.id"] = id
            fields["subject.label"] = row["label"]?.text ?? ""
            return selection.accepts(fields, levels: ["subjects"]) ? fields : nil
        }
    }

    /// `subject` is the subject's ID, or its label (which XNAT resolves under the project).
    func experimentsRequest(projectID: String, subject: String, _ selection: Selection) -> (path: String, query: [(String, String)]) {
        ("/data/projects/\(URLText.segment(projectID))/subjects/\(URLText.segment(subject))/experiments",
         serverFilter(selection, level: "experiments", field: "experiment.label", param: "label")
            + serverFilter(selection, level: "experiments", field: "experiment.xsi_type", param: "xsiType"))
    }

    func listExperiments(_ subject: Fields, _ selection: Selection, early: EarlyResults<[JSONValue]> = .none) async throws -> [Fields] {
        let request = experimentsRequest(projectID: subject["project.id"]!, subject: subject["subject.id"]!, selection)
        let path = request.path
        // Asked for early by label when the selection named the subject.
        let byLabel = experimentsRequest(projectID: subject["project.id"]!, subject: subject["subject.label"] ?? "", selection)
        let rows = try await early.value(for: Self.key(byLabel)) { try await session.xnatRows(path, query: request.query) }
        return try listingRows(rows, at: path) { row in
            guard let id = row["ID"]?.text, !id.isEmpty else { throw ConnectorError.badReply("an experiment row has no ID") }
            let xsiType = row["xsiType"]?.text ?? ""
            var fields = subject
            fields["experiment.id"] = id
            fields["experiment.label"] = row["label"]?.text ?? ""
            fields["experiment.date"] = row["date"]?.text ?? ""
            fields["experiment.xsi_type"] = xsiType
            fields["experiment.modality"] = row["modality"]?.text.flatMap { $0.isEmpty ? nil : $0 } ?? Self.modality(of: xsiType)
            return selection.accepts(fields, levels: ["experiments"]) ? fields : nil
        }
    }

    /// `MR` for `xnat:mrSessionData`, `PET` for `xnat:petSessionData`, ...
    static func modality(of xsiType: String) -> String {
        var name = Substring(xsiType)
        if let colon = name.firstIndex(of: ":") { name = name[name.index(after: colon)...] }
        guard name.hasSuffix("SessionData") else { return "" }
        return name.dropLast("SessionData".count).uppercased()
    }

    func listScans(_ experiment: Fields, _ selection: Selection) async throws -> [Fields] {
        let path = "/data/experiments/\(URLText.segment(experiment["experiment.id"]!))/scans"
        let rows = try await session.xnatRows(path, query: serverFilter(selection, level: "scans", field: "scan.type", param: "type"))
        return try listingRows(rows, at: path) { row in
            guard let id = row["ID"]?.text, !id.isEmpty else { throw ConnectorError.badReply("a scan row has no ID") }
            var fields = experiment
            fields["scan.id"] = id
            fields["scan.type"] = row["type"]?.text ?? ""
            fields["scan.quality"] = row["quality"]?.text ?? ""
            fields["scan.series_description"] = row["series_description"]?.text ?? ""
            fields["scan.xsi_type"] = row["xsiType"]?.text ?? ""
            fields["scan.note"] = row["note"]?.text ?? ""
            return selection.accepts(fields, levels: ["scans"]) ? fields : nil
        }
    }

    func listResources(_ scan: Fields, _ selection: Selection) async throws -> [Fields] {
        let path = scanPath(scan) + "/resources"
        let rows = try await session.xnatRows(path, query: [])
        return try listingRows(rows, at: path) { row in
            guard let label = row["label"]?.text, !label.isEmpty else { return nil }
            var fields = scan
            fields["resource.label"] = label
            fields["resource.format"] = row["format"]?.text ?? ""
            fields["resource.content"] = row["content"]?.text ?? ""
            return selection.accepts(fields, levels: ["resource"]) ? fields : nil
        }
    }

    func scanPath(_ scan: Fields) -> String {
        "/data/experiments/\(URLText.segment(scan["experiment.id"]!))/scans/\(URLText.segment(scan["scan.id"]!))"
    }

    func filesPath(_ scan: Fields, label: String) -> String {
        scanPath(scan) + "/resources/\(URLText.segment(label))/files"
    }

    func listFiles(_ resource: Fields, _ selection: Selection, early: EarlyResults<[JSONValue]> = .none) async throws -> [RemoteItem] {
        let path = filesPath(resource, label: resource["resource.label"]!)
        let rows = try await early.value(for: path) { try await session.xnatRows(path, query: []) }
        return try listingRows(rows, at: path) { row in
            guard let item = try fileItem(row, resource: resource, listing: path) else { return nil }
            return selection.accepts(item.allFields) ? item : nil
        }
    }

    /// One file row as an item. Names are passed through as field values, never used as paths here.
    func fileItem(_ row: JSONValue, resource: Fields, listing: String) throws -> RemoteItem? {
        // A bad row is named by whatever it says of itself, so the report points at it.
        let named = row["Name"]?.text.map { " (Name \(ErrorText.quoted($0)))" } ?? ""
        guard let uri = row["URI"]?.text, !uri.isEmpty else { throw ConnectorError.badReply("a file row\(named) has no URI") }
        // A path on this server: XNAT's URIs are `/data/...`; a full URL would send us elsewhere.
        guard uri.hasPrefix("/"), !uri.hasPrefix("//") else {
            throw ConnectorError.badReply("file URI \(ErrorText.quoted(uri)) is not a path on this server")
        }
        guard let range = uri.range(of: "/files/") else { throw ConnectorError.badReply("file URI \(ErrorText.quoted(uri)) has no /files/ part") }
        let relative = String(uri[range.upperBound...])
        let sizeText = row["Size"]?.text ?? ""
        guard let size = Int64(sizeText), size >= 0 else {
            throw ConnectorError.badReply("file \(ErrorText.quoted(relative)) has size \(ErrorText.quoted(sizeText)), not a number of bytes")
        }
        let digest = (row["digest"]?.text ?? "").lowercased()
        var fields = resource
        fields["file.name"] = row["Name"]?.text ?? String(relative.split(separator: "/").last ?? "")
        fields["file.path"] = relative
        fields["file.size"] = String(size)
        fields["file.format"] = row["file_format"]?.text ?? ""
        fields["file.content"] = row["file_content"]?.text ?? ""
        fields["file.tags"] = row["file_tags"]?.text ?? ""
        fields["file.digest"] = digest
        let scanPart = resource["scan.id"].map { "/scans/\($0)" } ?? ""
        let id = "\(resource["experiment.id"] ?? "")\(scanPart)/resources/\(resource["resource.label"] ?? "")/files/\(relative)"
        let isMD5 = digest.count == 32 && digest.allSatisfy(\.isHexDigit)
        return RemoteItem(source: spec.name, id: id, url: URLText.join(spec.url, XNATReply.encodePath(uri)), size: size,
                          checksums: isMD5 ? [Checksum(.md5, digest)] : [], fields: fields)
    }
}
