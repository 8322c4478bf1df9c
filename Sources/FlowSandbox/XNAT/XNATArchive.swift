import Foundation
import Hummingbird
import NIOCore

/// A parsed `/data/...` archive path: which object levels were named, and what is asked for.
struct XNATPath {
    var project: String?
    var subject: String?
    var experiment: String?
    var scans: String?
    var resource: String?
    /// Path inside a resource after `files/` (nil: no `files` segment; empty: the listing).
    var file: String?
    /// The last collection named (`projects`, `subjects`, `experiments`, `scans`, `resources`, `files`).
    var collection = ""
    /// True when the path ends with an item (e.g. `/projects/P`) rather than a collection.
    var isItem = false
    var template = "/data"

    init?(_ parts: [String]) {
        var i = 0
        while i < parts.count {
            let name = parts[i]
            let value: String? = i + 1 < parts.count ? parts[i + 1] : nil
            collection = name
            switch name {
            case "projects": project = value; template += "/projects" + (value == nil ? "" : "/{project}")
            case "subjects": subject = value; template += "/subjects" + (value == nil ? "" : "/{subject}")
            case "experiments": experiment = value; template += "/experiments" + (value == nil ? "" : "/{experiment}")
            case "scans": scans = value; template += "/scans" + (value == nil ? "" : "/{scan}")
            case "resources": resource = value; template += "/resources" + (value == nil ? "" : "/{resource}")
            case "files":
                file = parts[(i + 1)...].joined(separator: "/")
                template += "/files" + (file!.isEmpty ? "" : "/{path}")
                isItem = !file!.isEmpty
                return
            default: return nil
            }
            isItem = value != nil
            i += 2
        }
    }
}

extension XNATEmulator {
    /// Everything under `/data/` that is an archive object.
    func archive(_ req: SandboxRequest, _ parts: [String]) async throws -> Response {
        guard let path = XNATPath(parts) else {
            req.route("/data/(unknown)")
            return XNATEmulator.error(.notFound, "The server has not found anything matching the request URI")
        }
        let isArchive = ["zip", "tar", "tar.gz"].contains(req.query["format"]?.lowercased() ?? "")
        let kind: RouteKind = path.file.map { $0.isEmpty ? (isArchive ? .download : .listing) : .download }
            ?? (path.isItem ? .other : .listing)
        req.route(path.template, req.method == .put || req.method == .post ? .upload : kind)

        // Resolve the object chain (404 on the first unknown level, as XNATTemplate does).
        let resolved: Result<Resolved, XNATFailure> = data.withLock { d in resolve(path, in: d) }
        let r: Resolved
        switch resolved {
        case .failure(let f): return XNATEmulator.error(f.status, f.message)
        case .success(let v): r = v
        }

        if path.file != nil || path.collection == "resources" {
            return try await resources(req, path, r)
        }
        guard req.method == .get || req.method == .head else {
            return XNATEmulator.error(.methodNotAllowed, "The method specified in the request is not allowed for the resource identified by the request URI")
        }
        return data.withLock { d in listingOrItem(req, path, r, d) }
    }

    struct Resolved {
        var project: XNATProject?
        var subject: XNATSubject?
        var experiment: XNATExperiment?
        var scans: [XNATScan]?
    }

    struct XNATFailure: Error { var status: HTTPResponse.Status; var message: String }

    func resolve(_ p: XNATPath, in d: XNATData) -> Result<Resolved, XNATFailure> {
        var r = Resolved()
        if let pid = p.project {
            guard let proj = d.project(pid) else { return .failure(.init(status: .notFound, message: "Unable to identify project with ID \(pid)")) }
            r.project = proj
        }
        if let s = p.subject {
            guard let subj = d.subject(s, project: r.project?.id) else { return .failure(.init(status: .notFound, message: "Unable to identify subject \(s)")) }
            r.subject = subj
        }
        if let e = p.experiment {
            guard let exp = d.experiment(e, project: r.project?.id, subject: r.subject?.id) else {
                return .failure(.init(status: .notFound, message: "Unable to identify experiment \(e)"))
            }
            r.experiment = exp
        }
        if let sel = p.scans {
            guard let exp = r.experiment else { return .failure(.init(status: .notFound, message: "Scans need an experiment")) }
            let wanted = sel.split(separator: ",").map { $0.replacingOccurrences(of: "[COMMA]", with: ",").replacingOccurrences(of: "[SLASH]", with: "/") }
            let matched = exp.scans.filter { scan in
                wanted.contains { w in w == "ALL" || w == "*" || w == scan.id || w == scan.type || (w == "NULL" && scan.type.isEmpty) }
            }
            if matched.isEmpty { return .failure(.init(status: .notFound, message: "Unable to identify scan \(sel)")) }
            r.scans = matched
        }
        return .success(r)
    }

    // MARK: listings and items

    func listingOrItem(_ req: SandboxRequest, _ p: XNATPath, _ r: Resolved, _ d: XNATData) -> Response {
        switch (p.collection, p.isItem) {
        case ("projects", false):
            return XNATTable(rows: d.projects.map(projectRow), defaultColumns: ["ID", "secondary_ID", "name", "description", "pi_firstname", "pi_lastname", "URI"]).render(req)
        case ("projects", true):
            let pr = r.project!
            return item(req, "xnat:projectData", [("ID", pr.id), ("secondary_ID", pr.id), ("name", pr.name), ("description", pr.description)])
        case ("subjects", false):
            let rows = d.subjectsOf(project: r.project?.id).map(subjectRow)
            return XNATTable(rows: rows, defaultColumns: ["ID", "project", "label", "insert_date", "insert_user", "URI"], paging: true).render(req)
        case ("subjects", true):
            let s = r.subject!
            return item(req, "xnat:subjectData", [("ID", s.id), ("project", s.project), ("label", s.label)])
        case ("experiments", false):
            let rows = d.experimentsOf(project: r.project?.id, subject: r.subject?.id).map { experimentRow($0, d) }
            return XNATTable(rows: rows, defaultColumns: ["ID", "project", "date", "xsiType", "label", "insert_date", "URI"],
                             title: "Matching experiments", paging: true).render(req)
        case ("experiments", true):
            let e = r.experiment!
            return item(req, "xnat:mrSessionData", [("ID", e.id), ("project", e.project), ("label", e.label), ("date", e.date),
                                                   ("subject_ID", e.subjectID), ("modality", "MR")])
        case ("scans", false):
            let e = r.experiment!
            let rows = e.scans.map { scanRow($0, e) }
            return XNATTable(rows: rows, defaultColumns: ["xnat_imagescandata_id", "ID", "type", "quality", "xsiType", "note", "series_description", "URI"]).render(req)
        case ("scans", true):
            let s = r.scans!.first!
            return item(req, "xnat:mrScanData", [("ID", s.id), ("type", s.type), ("quality", s.quality), ("series_description", s.seriesDescription),
                                                ("image_session_ID", r.experiment!.id), ("xnat_imagescandata_id", String(s.dataID))])
        default:
            return XNATEmulator.error(.notFound, "The server has not found anything matching the request URI")
        }
    }

    /// A single object as XNAT's JSON item form: `{"items":[{"children":[],"meta":{...},"data_fields":{...}}]}`.
    func item(_ req: SandboxRequest, _ xsiType: String, _ fields: [(String, String)]) -> Response {
        let value: JSON = .object([("items", .array([.object([
            ("children", .array([])),
            ("meta", .object([("create_event_id", 1), ("xsi:type", .string(xsiType)), ("isHistory", false), ("start_date", "Mon Jan 01 00:00:00 UTC 2024")])),
            ("data_fields", .object(fields.map { ($0.0, .string($0.1)) })),
        ])]))])
        return Reply.json(.ok, value)
    }

    func projectRow(_ p: XNATProject) -> XNATRow {
        [("ID", p.id), ("secondary_ID", p.id), ("name", p.name), ("description", p.description), ("pi_firstname", ""), ("pi_lastname", ""),
         ("URI", "/data/projects/\(p.id)")]
    }

    func subjectRow(_ s: XNATSubject) -> XNATRow {
        [("ID", s.id), ("project", s.project), ("label", s.label), ("insert_date", s.insertDate), ("insert_user", XNATEmulator.username),
         ("URI", "/data/subjects/\(s.id)")]
    }

    func experimentRow(_ e: XNATExperiment, _ d: XNATData) -> XNATRow {
        [("ID", e.id), ("project", e.project), ("date", e.date), ("xsiType", "xnat:mrSessionData"), ("label", e.label),
         ("insert_date", e.insertDate), ("subject_ID", e.subjectID), ("subject_label", d.subjects[e.subjectID]?.label ?? ""),
         ("modality", "MR"), ("URI", "/data/experiments/\(e.id)")]
    }

    func scanRow(_ s: XNATScan, _ e: XNATExperiment) -> XNATRow {
        [("xnat_imagescandata_id", String(s.dataID)), ("ID", s.id), ("type", s.type), ("quality", s.quality), ("xsiType", "xnat:mrScanData"),
         ("note", s.note), ("series_description", s.seriesDescription), ("URI", "/data/experiments/\(e.id)/scans/\(s.id)")]
    }

    /// Owners a path addresses (several when a scan selector matches several scans).
    func owners(_ r: Resolved) -> [XNATOwner] {
        if let e = r.experiment {
            if let scans = r.scans { return scans.map { .scan(experiment: e.id, scan: $0.id) } }
            return [.experiment(e.id)]
        }
        if let s = r.subject { return [.subject(s.id)] }
        if let p = r.project { return [.project(p.id)] }
        return []
    }

    /// URI prefix of an owner as XNAT prints it in file listings.
    func ownerURI(_ o: XNATOwner) -> String {
        switch o {
        case .project(let p): return "/data/projects/\(p)"
        case .subject(let s): return "/data/subjects/\(s)"
        case .experiment(let e): return "/data/experiments/\(e)"
        case .scan(let e, let s): return "/data/experiments/\(e)/scans/\(s)"
        }
    }
}
