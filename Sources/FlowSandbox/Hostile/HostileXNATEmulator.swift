import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

extension PlatformID {
    /// The hostile XNAT (Hostile/README.md): XNAT's REST shape, every reply an attack or a good file.
    public static let hostileXNAT = PlatformID("hostile-xnat")
    /// The elsewhere origin the hostile platforms redirect to; it records every request.
    public static let hostileElsewhere = PlatformID("hostile-elsewhere")
}

/// A hostile XNAT: the listing requests flowctl's XNAT connector makes, answered over the fixed
/// `HostileCatalogue` (project `hostile`), with good files beside one file or branch per attack.
public final class HostileXNATEmulator: PlatformEmulator {
    public static let id = PlatformID.hostileXNAT
    public static let defaultTLS = false
    public static let isHostile = true
    public static let companions = [PlatformID.hostileElsewhere]
    public static let username = "hostile"
    public static let password = "hostile-xnat-secret"

    public let catalogue = HostileCatalogue.standard
    let configuration: SandboxConfiguration
    /// JSESSION ids handed out (few: one per login).
    private let sessions = Mutex<Set<String>>([])
    /// GETs of each file so far, by slug (storms and cut-once bodies count them).
    private let attempts = Mutex<[String: Int]>([:])
    private let links = Mutex<HostileLinks?>(nil)
    /// The catalogue's JSON, digests included: hashed once, on first request.
    private let catalogueJSON = Mutex<JSON?>(nil)

    public init(context: PlatformContext) throws {
        configuration = context.configuration
    }

    public var credentials: SandboxCredentials {
        SandboxCredentials(username: HostileXNATEmulator.username, password: HostileXNATEmulator.password)
    }

    public func environment(endpoint: SandboxEndpoint) -> [(String, String)] {
        [("HOSTILE_XNAT_URL", endpoint.url), ("HOSTILE_XNAT_USER", HostileXNATEmulator.username),
         ("HOSTILE_XNAT_PASS", HostileXNATEmulator.password)]
    }

    public var dataSummary: [String: Int] {
        ["subjects": catalogue.subjects.count, "files": catalogue.files.count, "listingBranches": catalogue.listings.count]
    }

    public func mutate(_ mutation: SandboxMutation) throws -> String {
        throw SandboxError("the hostile catalogue is fixed; it cannot be mutated")
    }

    public func sandboxDidStart(endpoints: [PlatformID: SandboxEndpoint], peers: [PlatformID: any PlatformEmulator]) {
        guard let elsewhere = endpoints[.hostileElsewhere] else { return }
        links.withLock { $0 = HostileLinks(elsewhereOrigin: elsewhere.origin, elsewherePort: elsewhere.port,
                                           elsewhere: peers[.hostileElsewhere] as? HostileElsewhereEmulator) }
    }

    public func control(method: HTTPRequest.Method, path: [String], query: [String: String]) -> Response? {
        switch (method, path) {
        case (.get, ["hostile", "catalogue"]):
            if let cached = catalogueJSON.withLock({ $0 }) { return Reply.json(.ok, cached) }
            let json = catalogue.json()
            catalogueJSON.withLock { $0 = json }
            return Reply.json(.ok, json)
        case (.get, ["hostile", "elsewhere"]):
            return links.withLock { $0?.elsewhere }?.recordJSON() ?? Reply.json(.notFound, .object([("error", "no elsewhere origin")]))
        case (.delete, ["hostile", "elsewhere"]), (.post, ["hostile", "elsewhere", "reset"]):
            links.withLock { $0?.elsewhere }?.resetRecord()
            return Reply.json(.ok, .object([("reset", true)]))
        default:
            return nil
        }
    }

    /// Whether `text` carries one of this platform's credentials: the password, the basic
    /// token, or a session id it handed out.
    func carriesCredential(_ text: String) -> Bool {
        if text.contains(HostileXNATEmulator.password) || text.contains(HostileXNATEmulator.basicToken) { return true }
        return sessions.withLock { ids in ids.contains { text.contains($0) } }
    }

    static let basicToken = Data("\(username):\(password)".utf8).base64EncodedString()

    // MARK: dispatch

    public func handle(_ req: SandboxRequest) async throws -> Response {
        let seg = req.segments
        if seg.isEmpty {
            req.route("/")
            return Reply.text(.ok, "XNAT (flowctl-sandbox, hostile). REST API under /data.")
        }
        if seg == ["xapi", "siteConfig", "buildInfo"] {
            req.route("/xapi/siteConfig/buildInfo")
            return Reply.json(.ok, .object([("version", "1.8.10"), ("buildNumber", "flowctl-sandbox-hostile")]))
        }
        if seg == ["data", "JSESSION"] { return jsession(req) }
        guard seg.first == "data" else { return notFound(req) }
        guard authenticated(req) else {
            req.route("/data/** (unauthenticated)", .auth)
            return HostileXNATEmulator.unauthorized(realm: "XNAT")
        }
        let rest = Array(seg.dropFirst())
        let project = HostileCatalogue.project
        switch rest.count {
        case 1 where rest == ["projects"]:
            req.route("/data/projects", .listing)
            return resultSet([[("ID", .string(project)), ("secondary_ID", .string(project)), ("name", "Hostile project"),
                               ("description", "every reply an attack"), ("pi_firstname", ""), ("pi_lastname", ""),
                               ("URI", .string("/data/projects/\(project)"))]])
        case 3 where rest[0] == "projects" && rest[1] == project && rest[2] == "subjects":
            req.route("/data/projects/{project}/subjects", .listing)
            return subjects(req)
        case 5 where rest[0] == "projects" && rest[1] == project && rest[2] == "subjects" && rest[4] == "experiments":
            req.route("/data/projects/{project}/subjects/{subject}/experiments", .listing)
            return try await experiments(req, subject: rest[3])
        case 3 where rest[0] == "experiments" && rest[2] == "scans":
            req.route("/data/experiments/{experiment}/scans", .listing)
            return scans(experiment: rest[1])
        case 5 where rest[0] == "experiments" && rest[2] == "scans" && rest[4] == "resources":
            req.route("/data/experiments/{experiment}/scans/{scan}/resources", .listing)
            return resources(experiment: rest[1], scan: rest[3])
        case 7 where rest[0] == "experiments" && rest[2] == "scans" && rest[4] == "resources" && rest[6] == "files":
            if let format = req.query["format"]?.lowercased(), format == "zip" || format == "tar.gz" {
                req.route("/data/experiments/{experiment}/scans/{scan}/resources/{resource}/files?format=\(format)", .download)
                return archive(req, experiment: rest[1], scans: rest[3], resource: rest[5], tarGz: format == "tar.gz")
            }
            req.route("/data/experiments/{experiment}/scans/{scan}/resources/{resource}/files", .listing)
            return files(experiment: rest[1], scan: rest[3], resource: rest[5])
        case 8 where rest[0] == "experiments" && rest[2] == "scans" && rest[4] == "resources" && rest[6] == "files":
            req.route("/data/experiments/{experiment}/scans/{scan}/resources/{resource}/files/{file}", .download)
            guard let file = catalogue.file(slug: rest[7]), file.experiment == rest[1], file.scan == rest[3] else { return notFound(req) }
            return download(req, file)
        default:
            return notFound(req)
        }
    }

    private func notFound(_ req: SandboxRequest) -> Response {
        req.route("(unknown)")
        return XNATEmulator.error(.notFound, "The server has not found anything matching the request URI")
    }

    // MARK: sessions

    private func jsession(_ req: SandboxRequest) -> Response {
        req.route("/data/JSESSION", .auth)
        if req.method == .delete {
            if let id = req.cookie("JSESSIONID") { _ = sessions.withLock { $0.remove(id) } }
            return Reply.text(.ok, "")
        }
        guard let (user, password) = req.basicCredentials, user == HostileXNATEmulator.username,
              password == HostileXNATEmulator.password else {
            return HostileXNATEmulator.unauthorized(realm: "XNAT")
        }
        var random = SystemRandomNumberGenerator()
        let id = (0..<16).map { _ in String(format: "%02X", UInt8.random(in: 0...255, using: &random)) }.joined()
        sessions.withLock { _ = $0.insert(id) }
        var headers: HTTPFields = [:]
        headers[values: .setCookie] = ["JSESSIONID=\(id); Path=/; HttpOnly"]
        return Reply.text(.ok, id, headers: headers)
    }

    private func authenticated(_ req: SandboxRequest) -> Bool {
        if let id = req.cookie("JSESSIONID"), sessions.withLock({ $0.contains(id) }) { return true }
        if let (user, password) = req.basicCredentials {
            return user == HostileXNATEmulator.username && password == HostileXNATEmulator.password
        }
        return false
    }

    static func unauthorized(realm: String) -> Response {
        var response = XNATEmulator.error(.unauthorized, "The request requires user authentication")
        response.headers[.wwwAuthenticate] = "Basic realm=\"\(realm)\""
        return response
    }

    // MARK: listings

    private func resultSet(_ rows: [[(String, JSON)]]) -> Response {
        Reply.json(.ok, .object([("ResultSet", .object([("Result", .array(rows.map { .object($0) })),
                                                        ("totalRecords", .string(String(rows.count)))]))]))
    }

    private func subjects(_ req: SandboxRequest) -> Response {
        // XNAT's `label=` filter (comma = OR); flowctl checks its matchers again itself.
        let wanted = req.query["label"].map { Set($0.split(separator: ",").map(String.init)) }
        let rows: [[(String, JSON)]] = catalogue.subjects.filter { wanted?.contains($0) ?? true }.map { subject in
            [("ID", .string(subject)), ("project", .string(HostileCatalogue.project)), ("label", .string(subject)),
             ("insert_date", "2026-01-01 00:00:00.0"), ("insert_user", "hostile"),
             ("URI", .string("/data/subjects/\(subject)"))]
        }
        return resultSet(rows)
    }

    private func experiments(_ req: SandboxRequest, subject: String) async throws -> Response {
        if let branch = catalogue.listing(subject: subject) {
            return await HostileReplies.listing(branch.attack, req: req, configuration: configuration)
        }
        guard catalogue.files.contains(where: { $0.subject == subject }) else { return resultSet([]) }
        let experiment = subject + "_E1"
        return resultSet([[("ID", .string(experiment)), ("project", .string(HostileCatalogue.project)),
                           ("label", .string(experiment)), ("date", "2026-01-01"), ("xsiType", "xnat:mrSessionData"),
                           ("insert_date", "2026-01-01 00:00:00.0"), ("URI", .string("/data/experiments/\(experiment)"))]])
    }

    private func files(inExperiment experiment: String) -> [HostileFile] {
        catalogue.files.filter { $0.experiment == experiment }
    }

    private func scans(experiment: String) -> Response {
        var seen = Set<String>()
        let ids = files(inExperiment: experiment).map(\.scan).filter { seen.insert($0).inserted }
        return resultSet(ids.map { id in
            [("xsiType", "xnat:mrScanData"), ("ID", .string(id)), ("type", "T1"), ("quality", "usable"),
             ("series_description", "hostile"), ("note", ""),
             ("URI", .string("/data/experiments/\(experiment)/scans/\(id)"))]
        })
    }

    private func resources(experiment: String, scan: String) -> Response {
        let inScan = files(inExperiment: experiment).filter { $0.scan == scan }
        guard !inScan.isEmpty else { return resultSet([]) }
        return resultSet([[("xnat_abstractresource_id", "1"), ("label", .string(HostileCatalogue.resource)),
                           ("element_name", "xnat:resourceCatalog"), ("category", "scans"), ("cat_id", .string(scan)),
                           ("format", "DICOM"), ("content", "RAW"), ("file_count", .string(String(inScan.count))),
                           ("file_size", .string(String(inScan.reduce(0) { $0 + $1.size })))]])
    }

    private func files(experiment: String, scan: String, resource: String) -> Response {
        guard resource == HostileCatalogue.resource else { return resultSet([]) }
        let elsewhere = links.withLock { $0?.elsewhereOrigin } ?? ""
        let rows: [[(String, JSON)]] = files(inExperiment: experiment).filter { $0.scan == scan }.map { f in
            let uri = "/data/experiments/\(experiment)/scans/\(scan)/resources/\(resource)/files/\(f.slug)"
            var size = String(f.size)
            var digest = f.body.md5
            var row: [(String, JSON)] = [("Name", .string(f.name))]
            switch f.lie {
            case .none: row.append(("URI", .string(uri)))
            case .size(let text): size = text; row.append(("URI", .string(uri)))
            case .digest(let text): digest = text; row.append(("URI", .string(uri)))
            case .uriOnOtherHost: row.append(("URI", .string(elsewhere + uri)))
            case .noURI: break
            }
            row += [("Size", .string(size)), ("collection", .string(resource)), ("file_tags", ""), ("file_format", "DICOM"),
                    ("file_content", ""), ("cat_ID", .string(scan)), ("digest", .string(digest))]
            return row
        }
        return resultSet(rows)
    }

    // MARK: archives

    /// The zip or (`tarGz`) tar.gz of some scans' files (`scans` may list several, comma-separated),
    /// each member as its file's `HostileArchiveMember` says; scan 2 of `ARCHIVES` also holds an
    /// unlisted member. The tar.gz is deflated at level 9 throughout, so its bomb is as dense as the zip's.
    private func archive(_ req: SandboxRequest, experiment: String, scans: String, resource: String, tarGz: Bool = false) -> Response {
        let wanted = Set(scans.split(separator: ",").map(String.init))
        let inScans = files(inExperiment: experiment).filter { wanted.contains($0.scan) || wanted.contains("ALL") }
        guard resource == HostileCatalogue.resource, !inScans.isEmpty else { return notFound(req) }
        let modified = Date(timeIntervalSince1970: 1_767_225_600)
        var entries: [ZipEntry] = []
        for f in inScans {
            let proper = "\(experiment)/scans/\(f.scan)-T1/resources/\(resource)/files/\(f.slug)"
            switch f.archive {
            case .honest: entries.append(ZipEntry(name: proper, body: f.body, modified: modified))
            case .renamed(let raw): entries.append(ZipEntry(name: raw, body: f.body, modified: modified))
            case .symlink(let target):
                entries.append(ZipEntry(name: proper, body: .stored(ByteBuffer(string: target)), modified: modified, unixMode: 0o120777))
            case .hardLink(let target):
                entries.append(ZipEntry(name: proper, body: f.body, modified: modified, hardLinkTarget: target))
            case .wrongBytes:
                entries.append(ZipEntry(name: proper, body: .synthetic(key: stableHash("wrong/" + f.slug), size: f.size), modified: modified))
            case .bomb:
                let zeros = GeneratedBytes(count: f.size) { _, length in [UInt8](repeating: 0, count: length) }
                entries.append(ZipEntry(name: proper, body: .generated(zeros, key: 0), modified: modified, deflateLevel: 9))
            }
            if f.slug == "archive-good-2" {
                entries.append(ZipEntry(name: "\(experiment)/scans/\(f.scan)-T1/resources/\(resource)/files/archive-unlisted.dcm",
                                        body: .synthetic(key: stableHash("unlisted"), size: 4096), modified: modified))
            }
        }
        var headers: HTTPFields = [.contentType: tarGz ? "application/x-gzip" : "application/zip",
                                   .contentDisposition: "attachment; filename=\"\(experiment).\(tarGz ? "tar.gz" : "zip")\";"]
        headers[.cacheControl] = "must-revalidate"
        return Response(status: .ok, headers: headers,
                        body: tarGz ? TarGzStream.body(entries, req: req, style: ArchiveStyle(deflateLevel: 9)) : ZipStream.body(entries, req: req))
    }

    // MARK: downloads

    private func download(_ req: SandboxRequest, _ file: HostileFile) -> Response {
        let attempt = attempts.withLock { counts -> Int in
            counts[file.slug, default: 0] += 1
            return counts[file.slug]!
        }
        let links = self.links.withLock { $0 } ?? HostileLinks(elsewhereOrigin: "", elsewherePort: 0, elsewhere: nil)
        return HostileReplies.download(req, file, attempt: attempt, links: links, configuration: configuration)
    }
}

/// The elsewhere origin as the hostile XNAT knows it once every origin listens.
struct HostileLinks: Sendable {
    var elsewhereOrigin: String
    var elsewherePort: Int
    var elsewhere: HostileElsewhereEmulator?
}
