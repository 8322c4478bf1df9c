import FlowConnector
import FlowModel

/// Listing: `GET /candidates` once, then per candidate its visits, then per visit its metadata
/// and image list, all concurrently (the session bounds requests in flight). LORIS has no
/// server-side filters, so every matcher is applied here, as early as its level allows.
extension LORISConnector {
    typealias Fields = [String: String]

    public func list(_ selection: Selection) async throws -> [RemoteItem] {
        let candidates = try await listCandidates(selection)
        return try await listEach(candidates) { candidate in
            let visits = try await listVisits(candidate, selection)
            return try await listEach(visits) { visit in
                try await listImages(visit, selection)
            }
        }
    }

    func listCandidates(_ selection: Selection) async throws -> [Fields] {
        try Self.candidates(in: try await getJSON("/candidates")).filter { selection.accepts($0, levels: ["project", "candidates"]) }
    }

    /// The candidates of a `GET /candidates` reply as fields (`CandID` as a string or a number).
    static func candidates(in reply: JSONValue) throws -> [Fields] {
        guard let rows = reply["Candidates"]?.array else {
            throw ConnectorError.badReply("/candidates: no `Candidates` array in the reply")
        }
        return try listingRows(rows, at: "/candidates") { row in
            guard let candID = row["CandID"]?.text, !candID.isEmpty else {
                throw ConnectorError.badReply("a candidate has no CandID")
            }
            var fields: Fields = ["candidate.CandID": candID]
            for key in ["PSCID", "Site", "Sex", "Project", "EDC", "DoB"] { fields["candidate.\(key)"] = row[key]?.text ?? "" }
            fields["project.name"] = fields["candidate.Project"]
            return fields
        }
    }

    func listVisits(_ candidate: Fields, _ selection: Selection) async throws -> [Fields] {
        let candID = candidate["candidate.CandID"]!
        let path = "/candidates/\(URLText.segment(candID))"
        let reply = try await getJSON(path)
        guard let visits = reply["Visits"]?.array else { throw ConnectorError.badReply("\(path): no `Visits` array in the reply") }
        let labelFilters = selection.filters(on: "visits").filter { $0.field == "visit.label" }
        return try listingRows(visits, at: path) { value in
            guard let label = value.text, !label.isEmpty else { return nil }
            var fields = candidate
            fields["visit.label"] = label
            return labelFilters.allSatisfy { $0.matcher.matches(label) } ? fields : nil
        }
    }

    func listImages(_ visit: Fields, _ selection: Selection) async throws -> [RemoteItem] {
        let candID = visit["candidate.CandID"]!, label = visit["visit.label"]!
        let path = Self.visitPath(candID, label)
        // The visit's metadata and its image list are independent: ask for both at once, unless
        // a filter on the visit may make the image list unnecessary.
        let filtersNeedMeta = selection.filters(on: "visits").contains { $0.field != "visit.label" }
        var fields = visit
        let files: [JSONValue]
        let meta: (body: [UInt8], json: JSONValue)
        if filtersNeedMeta {
            meta = try await getReply(path)
            fields.merge(try Self.visitFields(meta.json, path: path)) { $1 }
            guard selection.accepts(fields, levels: ["visits"]) else { return [] }
            files = try await imageRows(path)
        } else {
            async let reply = getReply(path)
            async let rows = imageRows(path)
            (meta, files) = try await (reply, rows)
            fields.merge(try Self.visitFields(meta.json, path: path)) { $1 }
        }
        let items = try listingRows(files, at: path + "/images") { file in
            let item = try self.item(file, visit: fields, listing: path)
            return selection.accepts(item.allFields) ? item : nil
        }
        // Only visits with items get a `visit-metadata` extra.
        if !items.isEmpty { visitReplies.keep(meta.body, for: path) }
        return items
    }

    /// One row of a visit's `Files` as an item. The file name is passed through as a field value
    /// even when hostile (`../x`, `a/b`): layouts make paths safe; in the URL it is one escaped segment.
    func item(_ file: JSONValue, visit fields: Fields, listing path: String) throws -> RemoteItem {
        guard let name = file["Filename"]?.text, !name.isEmpty else {
            throw ConnectorError.badReply("a file has no Filename")
        }
        var itemFields = fields
        itemFields["file.name"] = name
        itemFields["file.OutputType"] = file["OutputType"]?.text ?? ""
        itemFields["file.AcquisitionType"] = file["AcquisitionType"]?.text ?? ""
        return RemoteItem(source: spec.name, id: "\(fields["candidate.CandID"] ?? "")/\(fields["visit.label"] ?? "")/\(name)",
                          url: url(path + "/images/" + URLText.segment(name)), fields: itemFields)
    }

    func imageRows(_ path: String) async throws -> [JSONValue] {
        let reply = try await getJSON(path + "/images")
        guard let files = reply["Files"]?.array else { throw ConnectorError.badReply("\(path)/images: no `Files` array in the reply") }
        return files
    }

    /// `visit.Site`, `visit.Stage`, `visit.Status` from `GET /candidates/{id}/{visit}`.
    /// `Stages` is `[]` before any stage starts; the latest stage present is the visit's stage.
    static func visitFields(_ reply: JSONValue, path: String) throws -> Fields {
        guard let meta = reply["Meta"]?.object else { throw ConnectorError.badReply("\(path): no `Meta` object in the reply") }
        var fields: Fields = ["visit.Site": meta["Site"]?.text ?? "", "visit.Stage": "", "visit.Status": ""]
        if let stages = reply["Stages"]?.object {
            for stage in ["Approval", "Visit", "Screening"] {
                guard let s = stages[stage] else { continue }
                fields["visit.Stage"] = stage
                fields["visit.Status"] = s["Status"]?.text ?? ""
                break
            }
        }
        return fields
    }
}
