import Foundation
import Hummingbird
import NIOCore

extension LORISEmulator {
    static let p = "/api/{version}"

    func candidateRow(_ c: LORISCandidate, _ f: Flavor) -> JSON {
        if f.legacy {
            return .object([("CandID", .string(c.candID)), ("PSCID", .string(c.pscid)), ("Site", .string(LORISData.siteAlias)), ("EDC", .null),
                            ("DoB", .string(c.dob)), ("Sex", .string(c.sex)), ("Project", .string(LORISData.project))])
        }
        return .object([("CandID", .string(c.candID)), ("Project", .string(LORISData.project)), ("PSCID", .string(c.pscid)),
                         ("Site", .string(LORISData.siteName)), ("EDC", .null), ("DoB", .string(c.dob)), ("Sex", .string(c.sex))])
    }

    func candidates(_ req: SandboxRequest, _ rest: [String], _ f: Flavor) -> Response {
        let p = LORISEmulator.p
        let get = req.method == .get || req.method == .head
        if rest.isEmpty {
            req.route(p + "/candidates", .listing)
            guard get else { return notAllowed(f, "GET") }
            let rows = data.withLock { d in d.candidates.map { candidateRow($0, f) } }
            return json(.ok, .object([("Candidates", .array(rows))]), f, req: req)
        }
        // Look the candidate up (v0.0.4-dev falls back to PSCID).
        let key = rest[0]
        let found: LORISCandidate? = data.withLock { d in
            if let i = d.index[key] { return d.candidates[i] }
            if f.v4 { return d.candidates.first { $0.pscid == key } }
            return nil
        }
        guard let c = found else {
            req.route(p + "/candidates/{candid}")
            let validFormat = key.range(of: "^[0-9]{6,10}$", options: .regularExpression) != nil
            if f.legacy {
                return validFormat ? json(.notFound, .object([("error", "Unknown CandID")]), f) : json(.badRequest, .object([("error", "Invalid CandID format")]), f)
            }
            return json(.notFound, .object([("error", "Candidate not found")]), f)
        }
        if rest.count == 1 {
            req.route(p + "/candidates/{candid}", .listing)
            guard get else { return notAllowed(f, "GET") }
            let meta = JSON.object([("CandID", .string(c.candID)), ("Project", .string(LORISData.project)), ("PSCID", .string(c.pscid)),
                                    ("Site", .string(f.legacy ? LORISData.siteAlias : LORISData.siteName)), ("EDC", .null),
                                    ("DoB", .string(c.dob)), ("Sex", .string(c.sex))])
            return json(.ok, .object([("Meta", meta), ("Visits", .array(c.visits.map { .string($0.label) }))]), f, req: req)
        }
        guard let visit = c.visits.first(where: { $0.label == rest[1] }) else {
            req.route(p + "/candidates/{candid}/{visit}")
            return json(.notFound, .object([("error", .string(f.legacy ? "Invalid visit \(rest[1])" : "Visit not found"))]), f)
        }
        if rest.count == 2 {
            req.route(p + "/candidates/{candid}/{visit}", .listing)
            guard get else { return notAllowed(f, "GET") }
            var meta: [(String, JSON)] = [("CandID", .string(c.candID)), ("Visit", .string(visit.label)),
                                          ("Site", .string(f.legacy ? LORISData.siteAlias : LORISData.siteName)),
                                          (f.v4 ? "Cohort" : "Battery", "Experimental")]
            if !f.legacy { meta.append(("Project", .string(LORISData.project))) }
            let stage: JSON = .object([("Date", .string(visit.date)), ("Status", "Pass")])
            // Current code writes the approval stage under "Screening" (a LORIS bug kept for fidelity).
            let stages: JSON = .object([("Visit", stage), (f.legacy ? "Approval" : "Screening", stage)])
            return json(.ok, .object([("Meta", .object(meta)), ("Stages", stages)]), f, req: req)
        }
        if rest.count == 4, rest[2] == "qc", rest[3] == "imaging" {
            req.route(p + "/candidates/{candid}/{visit}/qc/imaging", .listing)
            return json(.ok, .object([("Meta", .object([("CandID", .string(c.candID)), ("Visit", .string(visit.label))])),
                                      ("SessionQC", "Pass"), ("Pending", false)]), f, req: req)
        }
        guard rest[2] == "images" else {
            req.route(p + "/candidates/{candid}/{visit}/(unknown)")
            return json(.notFound, .object([("error", "not found")]), f)
        }
        if rest.count == 3 {
            req.route(p + "/candidates/{candid}/{visit}/images", .listing)
            guard get else { return notAllowed(f, "GET") }
            let files: [JSON] = visit.images.map { im in
                var o: [(String, JSON)] = [("OutputType", "native"), ("Filename", .string(im.filename)), ("AcquisitionType", .string(im.scanType))]
                if f.v4 { o.append(("IsPhantom", false)) }
                return .object(o)
            }
            return json(.ok, .object([("Meta", .object([("CandID", .string(c.candID)), ("Visit", .string(visit.label))])), ("Files", .array(files))]), f, req: req)
        }
        let filename = rest[3]
        guard let image = visit.images.first(where: { $0.filename == filename }) else {
            req.route(p + "/candidates/{candid}/{visit}/images/{filename}")
            return json(.notFound, .object([("error", .string(f.legacy ? "File not found" : "\(filename) not found."))]), f)
        }
        if rest.count == 4 {
            req.route(p + "/candidates/{candid}/{visit}/images/{filename}", .download)
            guard get else { return notAllowed(f, "GET") }
            return FileServer.serve(req, servedImage(image, f))
        }
        if rest.count == 5, rest[4] == "qc" {
            req.route(p + "/candidates/{candid}/{visit}/images/{filename}/qc", req.method == .put ? .upload : .listing)
            if req.method == .put { return notAllowed(f, "GET") }  // handled by the async route below
            let meta = JSON.object([("CandID", .string(c.candID)), ("Visit", .string(visit.label)), ("File", .string(image.filename))])
            let selected: JSON = f.legacy ? (image.selected.map { .string($0 ? image.scanType : "") } ?? .string(""))
                                          : (image.selected.map { .bool($0) } ?? .null)
            let caveat = JSON.object([("Severity", .null), ("Header", .null), ("Value", .null), ("ValidRange", .null), ("ValidRegex", .null)])
            return json(.ok, .object([("Meta", meta), (f.legacy ? "QC" : "QC", JSON.optional(image.qc)), ("Selected", selected), ("Caveats", [caveat])]), f, req: req)
        }
        req.route(p + "/candidates/{candid}/{visit}/images/{filename}/(unknown)")
        return json(.notFound, .object([("error", "not found")]), f)
    }

    /// Image bytes: MINC2 type, unquoted `Content-Disposition`; legacy scripts send no ETag.
    func servedImage(_ im: LORISImage, _ f: Flavor) -> ServedFile {
        let mtime = Int(im.inserted.timeIntervalSince1970)
        let etagSource = JSON.object([("filename", .string(im.filename)), ("size", .int(im.body.size)), ("mtime", .int(Int64(mtime)))]).serialized()
        var extra: HTTPFields = [:]
        if f.legacy { extra[.cacheControl] = "private" }
        return ServedFile(body: im.body, contentType: "application/x.minc2", contentDisposition: "attachment; filename=\(im.filename)",
                          etag: f.legacy ? nil : md5Hex(etagSource + im.body.validator), lastModified: im.inserted,
                          extraHeaders: extra, conditional: !f.legacy)
    }

    func md5Hex(_ s: String) -> String { FileBody.stored(ByteBuffer(string: s)).md5 }

    func notAllowed(_ f: Flavor, _ allow: String) -> Response {
        var r = json(.methodNotAllowed, .object([("error", "method not allowed")]), f)
        r.headers[.allow] = allow
        return r
    }

    func projects(_ req: SandboxRequest, _ rest: [String], _ f: Flavor) -> Response {
        let p = LORISEmulator.p
        if rest.isEmpty {
            req.route(p + "/projects", .listing)
            let settings = JSON.object([("useEDC", false), ("PSCID", .object([("Type", "prompt"), ("Regex", "/^MTL[0-9]{4}$/")]))])
            return json(.ok, .object([("Projects", .object([(LORISData.project, settings)]))]), f, req: req)
        }
        guard rest[0] == LORISData.project || rest[0] == "loris" else {
            req.route(p + "/projects/{project}")
            return json(.notFound, .object([("error", "not found")]), f)
        }
        let meta = JSON.object([("Project", .string(rest[0]))])
        let visits: JSON = .array(LORISData.visitLabels.map { .string($0) })
        switch rest.count == 1 ? "" : rest[1] {
        case "":
            req.route(p + "/projects/{project}", .listing)
            let ids = data.withLock { $0.candidates.map { JSON.string($0.candID) } }
            return json(.ok, .object([("Meta", meta), ("Visits", visits), ("Instruments", []), ("Candidates", .array(ids))]), f, req: req)
        case "candidates":
            req.route(p + "/projects/{project}/candidates", .listing)
            let ids = data.withLock { $0.candidates.map { JSON.string($0.candID) } }
            return json(.ok, .object([("Meta", meta), ("Candidates", .array(ids))]), f, req: req)
        case "visits":
            req.route(p + "/projects/{project}/visits", .listing)
            return json(.ok, .object([("Meta", meta), ("Visits", visits)]), f, req: req)
        case "images":
            req.route(p + "/projects/{project}/images", .listing)
            var since = Date(timeIntervalSince1970: 0)
            if let s = req.query["since"] {
                guard let d = LORISEmulator.parseDate(s) else {
                    return json(.badRequest, .object([("error", .string("DateTime::__construct(): Failed to parse time string (\(s))"))]), f)
                }
                since = d
            }
            let rows: [(Date, JSON)] = data.withLock { d in
                d.candidates.flatMap { c in c.visits.flatMap { v in v.images.filter { $0.inserted > since }.map { im in
                    var o: [(String, JSON)] = [("Candidate", .string(c.candID)), ("PSCID", .string(c.pscid)), ("Visit", .string(v.label)),
                                               ("Visit_date", .string(v.date)), ("Site", .string(LORISData.siteName))]
                    if f.legacy { o.append(("File", .string("assembly/\(c.candID)/\(v.label)/mri/native/\(im.filename)"))) }
                    o += [("InsertTime", .string(LORISEmulator.isoTime(im.inserted))), ("ScanType", .string(im.scanType)),
                          ("QC_status", JSON.optional(im.qc)), ("Selected", im.selected.map { .string($0 ? "true" : "false") } ?? .null),
                          ("Link", .string("/candidates/\(c.candID)/\(v.label)/images/\(im.filename)"))]
                    return (im.inserted, JSON.object(o))
                } } }
            }
            return json(.ok, .object([("Images", .array(rows.sorted { $0.0 < $1.0 }.map { $0.1 }))]), f, req: req)
        default:
            req.route(p + "/projects/{project}/(unknown)")
            return json(.notFound, .object([("error", "not found")]), f)
        }
    }

    static func isoTime(_ d: Date) -> String {
        var t = time_t(d.timeIntervalSince1970)
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d+00:00", Int(tm.tm_year) + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)
    }

    static func parseDate(_ s: String) -> Date? {
        for format in ["yyyy-MM-dd'T'HH:mm:ssXXXXX", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd"] {
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = TimeZone(identifier: "UTC")
            f.dateFormat = format
            if let d = f.date(from: s) { return d }
        }
        return nil
    }

    // MARK: runtime mutation

    /// Paths: `CANDID` (add: a new candidate with generated visits), `CANDID/VISIT/FILENAME`.
    public func mutate(_ m: SandboxMutation) throws -> String {
        let parts = m.path.split(separator: "/").map(String.init)
        return try data.withLock { d -> String in
            if parts.count == 1 {
                switch m.op {
                case .add:
                    guard d.index[parts[0]] == nil, parts[0].range(of: "^[0-9]{6,10}$", options: .regularExpression) != nil else {
                        throw SandboxError("candidate \(parts[0]) exists or is not 6-10 digits")
                    }
                    let visits = LORISData.visitLabels.prefix(4).enumerated().map { v, label in
                        LORISVisit(label: label, date: "2020-01-0\(v + 1)",
                                   images: LORISData.images(seed: d.seed, candID: parts[0], visit: label, count: 9, sizes: d.sizes, base: 900_000 + v))
                    }
                    d.candidates.append(LORISCandidate(candID: parts[0], pscid: "MTL\(parts[0].suffix(4))", sex: "Female", dob: "1950-01-01", visits: Array(visits)))
                case .remove:
                    guard d.index[parts[0]] != nil else { throw SandboxError("no candidate \(parts[0])") }
                    d.candidates.removeAll { $0.candID == parts[0] }
                case .modify: throw SandboxError("modify applies to files")
                }
                d.reindex()
                return parts[0]
            }
            guard parts.count == 3, let ci = d.index[parts[0]] else { throw SandboxError("LORIS item path is CANDID or CANDID/VISIT/FILENAME: \(m.path)") }
            guard let vi = d.candidates[ci].visits.firstIndex(where: { $0.label == parts[1] }) else { throw SandboxError("no visit \(parts[1])") }
            let existing = d.candidates[ci].visits[vi].images.firstIndex { $0.filename == parts[2] }
            let body: FileBody = m.content.map { .stored(ByteBuffer(string: $0)) } ?? {
                let key = d.seed ^ stableHash(m.path + "#\(Date().timeIntervalSince1970)")
                return .synthetic(key: key, size: m.size ?? d.sizes.size(for: key))
            }()
            switch m.op {
            case .add:
                if existing != nil { throw SandboxError("file exists: \(m.path)") }
                let type = parts[2].split(separator: "_").dropLast().last.map(String.init) ?? "t1w"
                d.candidates[ci].visits[vi].images.append(LORISImage(filename: parts[2], scanType: type, body: body, inserted: Date(), qc: nil, selected: nil))
            case .modify:
                guard let i = existing else { throw SandboxError("no file \(m.path)") }
                d.candidates[ci].visits[vi].images[i].body = body
                d.candidates[ci].visits[vi].images[i].inserted = Date()
            case .remove:
                guard let i = existing else { throw SandboxError("no file \(m.path)") }
                d.candidates[ci].visits[vi].images.remove(at: i)
            }
            return "/candidates/\(parts[0])/\(parts[1])/images/\(parts[2])"
        }
    }
}
