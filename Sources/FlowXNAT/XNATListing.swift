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
                    try await listSession(experiment, selection, early: early)
                }
            }
        }
    }

    /// A session's scans and their files. When the selection takes every resource, the files of
    /// all its scans come from one listing (`scans/ALL/files`, sent with the scan listing when
    /// every scan is taken too; else `scans/{ids}/files`, sent with the resource listings), not
    /// one per resource after the resource listings: 2 round trips fewer (3 when the subject
    /// and the session are named: their scan and files listings go out with the project's,
    /// by labels, see `earlyListings`). Each resource takes
    /// its rows by `cat_ID`; where that listing fails or does not add up (`ScanFileRows`), the
    /// resource is listed on its own as before, so the items are the same either way.
    func listSession(_ experiment: Fields, _ selection: Selection, early: EarlyResults<[JSONValue]> = .none) async throws -> [RemoteItem] {
        let byScan = Self.takesAll(selection, level: "resource")
        let allFiles = byScan && Self.takesAll(selection, level: "scans")
            ? ScanFileRows.start(session, scanFilesPath(experiment, selector: "ALL"), early: early,
                                 earlyKey: Self.key((sessionByLabel(experiment) + "/scans/ALL/files", [])),
                                 uriPrefix: "/data/experiments/\(URLText.segment(experiment["experiment.id"]!))/")
            : nil
        defer { allFiles?.cancel() }
        let scans = try await listScans(experiment, selection, early: early)
        guard byScan, !scans.isEmpty else {
            return try await listEach(scans) { scan in
                let earlyFiles = EarlyResults(keys: literals(selection, level: "resource", field: "resource.label")
                    .map { filesPath(scan, label: $0) }) { path in try await session.xnatRows(path, query: []) }
                defer { earlyFiles.cancel() }
                let resources = try await listResources(scan, selection)
                return try await listEach(resources) { resource in
                    try await listFiles(resource.fields, selection, early: earlyFiles)
                }
            }
        }
        let files = allFiles ?? ScanFileRows.start(session, scanFilesPath(experiment, selector: XNATReply.selector(scans.map { $0["scan.id"]! })))
        defer { files.cancel() }
        return try await listEach(scans) { scan in
            let resources = try await listResources(scan, selection)
            let rows = await files.rows
            return try await listEach(resources) { resource in
                if let mine = rows?.rows(of: resource) {
                    return try fileItems(mine, resource: resource.fields, selection, listing: filesPath(resource.fields, label: resource.fields["resource.label"]!))
                }
                return try await listFiles(resource.fields, selection)
            }
        }
    }

    /// Whether every filter of `level` takes any value (`"*"`), or there is none.
    static func takesAll(_ selection: Selection, level: String) -> Bool {
        selection.filters(on: level).allSatisfy { filter in
            if case .glob(let glob) = filter.matcher { return glob.pattern == "*" }
            return false
        }
    }

    /// The values a level's field must take, when the selection gives them literally.
    func literals(_ selection: Selection, level: String, field: String) -> [String] {
        selection.filters(on: level).first { $0.field == field && $0.matcher.literalValues != nil }?.matcher.literalValues ?? []
    }

    /// The subject listings of literally named projects and, with one such project, the
    /// experiment listings of literally named subjects (XNAT addresses a subject by label under
    /// its project) and, with literally named sessions too, their scan listings (and files
    /// listings, see `listSession`) by labels, keyed by the request they stand for.
    func earlyListings(_ selection: Selection) -> EarlyResults<[JSONValue]> {
        let projects = literals(selection, level: "project", field: "project.id")
        var requests: [String: (String, [(String, String)])] = [:]
        for project in projects {
            let subjects = subjectsRequest(projectID: project, selection)
            requests[Self.key(subjects)] = subjects
        }
        if projects.count == 1 {
            let sessions = literals(selection, level: "experiments", field: "experiment.label")
            let everyFile = Self.takesAll(selection, level: "resource") && Self.takesAll(selection, level: "scans")
            for label in literals(selection, level: "subjects", field: "subject.label") {
                let experiments = experimentsRequest(projectID: projects[0], subject: label, selection)
                requests[Self.key(experiments)] = experiments
                for name in sessions {
                    let path = sessionByLabel(["project.id": projects[0], "subject.label": label, "experiment.label": name])
                    let scans = scansRequest(sessionPath: path, selection)
                    requests[Self.key(scans)] = scans
                    if everyFile { requests[Self.key((path + "/scans/ALL/files", []))] = (path + "/scans/ALL/files", []) }
                }
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

    /// A session by its labels under its project and subject (as XNAT resolves it).
    func sessionByLabel(_ experiment: Fields) -> String {
        "/data/projects/\(URLText.segment(experiment["project.id"] ?? ""))/subjects/\(URLText.segment(experiment["subject.label"] ?? ""))"
            + "/experiments/\(URLText.segment(experiment["experiment.label"] ?? ""))"
    }

    func scansRequest(sessionPath: String, _ selection: Selection) -> (path: String, query: [(String, String)]) {
        (sessionPath + "/scans", serverFilter(selection, level: "scans", field: "scan.type", param: "type"))
    }

    func listScans(_ experiment: Fields, _ selection: Selection, early: EarlyResults<[JSONValue]> = .none) async throws -> [Fields] {
        let request = scansRequest(sessionPath: "/data/experiments/\(URLText.segment(experiment["experiment.id"]!))", selection)
        let path = request.path
        // Asked for early by labels when the selection named the subject and the session.
        let byLabel = scansRequest(sessionPath: sessionByLabel(experiment), selection)
        let rows = try await early.value(for: Self.key(byLabel)) { try await session.xnatRows(path, query: request.query) }
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

    /// A listed resource: its item fields, and what ties it to the rows of a scan files listing.
    struct Resource: Sendable {
        var fields: Fields
        /// `xnat_abstractresource_id`, which file rows give as `cat_ID`.
        var id: String
        /// `file_count`, when the server gives it.
        var fileCount: Int?
    }

    func listResources(_ scan: Fields, _ selection: Selection) async throws -> [Resource] {
        let path = scanPath(scan) + "/resources"
        let rows = try await session.xnatRows(path, query: [])
        return try listingRows(rows, at: path) { row in
            guard let label = row["label"]?.text, !label.isEmpty else { return nil }
            var fields = scan
            fields["resource.label"] = label
            fields["resource.format"] = row["format"]?.text ?? ""
            fields["resource.content"] = row["content"]?.text ?? ""
            guard selection.accepts(fields, levels: ["resource"]) else { return nil }
            return Resource(fields: fields, id: row["xnat_abstractresource_id"]?.text ?? "",
                            fileCount: row["file_count"]?.text.flatMap { Int($0) })
        }
    }

    func scanPath(_ scan: Fields) -> String {
        "/data/experiments/\(URLText.segment(scan["experiment.id"]!))/scans/\(URLText.segment(scan["scan.id"]!))"
    }

    func filesPath(_ scan: Fields, label: String) -> String {
        scanPath(scan) + "/resources/\(URLText.segment(label))/files"
    }

    /// The files of every resource of some scans (`selector`: `ALL`, or ids with commas).
    func scanFilesPath(_ experiment: Fields, selector: String) -> String {
        "/data/experiments/\(URLText.segment(experiment["experiment.id"]!))/scans/\(selector)/files"
    }

    func listFiles(_ resource: Fields, _ selection: Selection, early: EarlyResults<[JSONValue]> = .none) async throws -> [RemoteItem] {
        let path = filesPath(resource, label: resource["resource.label"]!)
        let rows = try await early.value(for: path) { try await session.xnatRows(path, query: []) }
        return try fileItems(rows, resource: resource, selection, listing: path)
    }

    /// The selected items of a resource's file rows; problems are placed at `listing`, the
    /// resource's own files listing, whichever request brought the rows.
    func fileItems(_ rows: [JSONValue], resource: Fields, _ selection: Selection, listing path: String) throws -> [RemoteItem] {
        try listingRows(rows, at: path) { row in
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

/// The rows of one scan files listing (`.../scans/{ALL|ids}/files`), grouped by the resource
/// they belong to (`cat_ID`), fetched once for every scan of a session.
final class ScanFileRows: Sendable {
    private let task: Task<ScanFileRows.Groups?, Never>

    private init(task: Task<ScanFileRows.Groups?, Never>) { self.task = task }

    /// Starts the listing at `path`, or takes the one `early` started for `earlyKey` (the same
    /// session by labels) when each of its rows' URI starts with `uriPrefix`, as `path`'s do. A
    /// listing that fails is no error here: its resources are then listed one by one, which
    /// reports whatever is wrong with them.
    static func start(_ session: SourceSession, _ path: String, early: EarlyResults<[JSONValue]> = .none,
                      earlyKey: String = "", uriPrefix: String = "") -> ScanFileRows {
        ScanFileRows(task: Task {
            if early.started(earlyKey), let rows = try? await early.value(for: earlyKey, otherwise: { [] }),
               rows.allSatisfy({ $0["URI"]?.text?.hasPrefix(uriPrefix) ?? false }) {
                return Groups(rows)
            }
            guard let rows = try? await session.xnatRows(path, query: []) else { return nil }
            return Groups(rows)
        })
    }

    /// The grouped rows, nil when the listing failed or a row names no resource.
    var rows: Groups? { get async { await task.value } }

    func cancel() { task.cancel() }

    struct Groups: Sendable {
        private var byResource: [String: [JSONValue]] = [:]

        /// Nil when a row has no `cat_ID`: it could belong to any resource.
        init?(_ rows: [JSONValue]) {
            for row in rows {
                guard let id = row["cat_ID"]?.text, !id.isEmpty else { return nil }
                byResource[id, default: []].append(row)
            }
        }

        /// The rows of `resource`, in the listing's order; nil when they cannot be trusted to be
        /// all of them: the resource has no id, a row's `collection` is another label, their
        /// number is not the resource's `file_count`, or there are none and no count says so.
        func rows(of resource: XNATConnector.Resource) -> [JSONValue]? {
            guard !resource.id.isEmpty else { return nil }
            let mine = byResource[resource.id] ?? []
            let label = resource.fields["resource.label"]
            guard mine.allSatisfy({ $0["collection"]?.text.map { $0 == label } ?? true }) else { return nil }
            if let count = resource.fileCount { return count == mine.count ? mine : nil }
            return mine.isEmpty ? nil : mine
        }
    }
}
