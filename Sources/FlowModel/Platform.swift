/// The kinds of source a job can name.
public enum SourceType: String, Sendable, Hashable, CaseIterable, Codable {
    case xnat
    case loris
    case grandChallenge = "grand-challenge"
    case agora
    case local
    /// A plain web server folder (nginx/Apache JSON autoindex, or an index file of paths).
    case http
}

/// One level of a platform's hierarchy as a selection names it: `subjects`, `scans`, `visits`...
public struct Level: Sendable, Hashable {
    /// The key in a selection (`scans`); `aliases` are accepted too (`scan`).
    public var key: String
    public var aliases: [String]
    /// The prefix of its fields in templates (`scan` in `{scan.type}`).
    public var entity: String
    /// The field a bare matcher applies to (`subjects: [SUBJ_003]` matches `subject.label`).
    public var defaultField: String
    /// Every field items carry for this level.
    public var fields: [String]

    public init(_ key: String, aliases: [String] = [], entity: String, default defaultField: String, fields: [String]) {
        self.key = key
        self.aliases = aliases
        self.entity = entity
        self.defaultField = defaultField
        self.fields = fields
    }

    /// Every `entity.field` name this level contributes to an item.
    public var qualifiedFields: [String] { fields.map { "\(entity).\($0)" } }
}

/// An action verb of the job language.
public enum ActionKind: String, Sendable, Hashable, CaseIterable, Codable {
    case download
    case upload
    case tag
    case runAlgorithm = "run-algorithm"
    case runTask = "run-task"
}

/// What a platform is in the job language: its levels, the actions it supports, its credential keys.
public struct PlatformCatalog: Sendable {
    public var type: SourceType
    public var levels: [Level]
    public var actions: Set<ActionKind>
    /// Keys of a source that hold credentials (their values are secrets).
    public var credentialKeys: [String]
    /// How an item is named for people, top level first: each part joins the fields it has with
    /// a space (`1 T1` for a scan's id and type). The first part is the item's group in a plan.
    public var nameParts: [[String]] = [["file.path"]]
    /// What the first name part is: `subject`, `candidate`, `image`, `exam`.
    public var groupNoun = "folder"

    /// The item's human name (`SUBJ_001/MR1/1 T1/DICOM/1.dcm`, `Wrist 01/T1 SE/raw/w.raw`);
    /// parts the listing did not give (and repeats of the part before) are left out.
    public func displayName(of item: RemoteItem) -> String {
        var parts: [String] = []
        for fields in nameParts {
            let part = fields.compactMap { item.field($0) }.filter { !$0.isEmpty }.joined(separator: " ")
            if !part.isEmpty, part != parts.last { parts.append(part) }
        }
        return parts.isEmpty ? item.id : parts.joined(separator: "/")
    }

    /// The item's top-level group in a plan: its subject, candidate, image or exam.
    public func group(of item: RemoteItem) -> String {
        for fields in nameParts.prefix(1) {
            let part = fields.compactMap { item.field($0) }.joined(separator: " ")
            if !part.isEmpty {
                // A path's group is its first folder.
                return fields == ["file.path"] ? String(part.split(separator: "/").first ?? "") : part
            }
        }
        return ""
    }

    /// What a tag lands on, most specific first: the id field and the object's type. A tag of a
    /// file item tags its dataset (Agora), so items of one dataset make one tag task.
    public var taggedObjects: [(field: String, type: String)] = []

    /// The object a tag of `item` lands on (`dataset`, `1000`), when the platform tags objects
    /// above files.
    public func taggedObject(of item: RemoteItem) -> (type: String, id: String)? {
        for (field, type) in taggedObjects { if let id = item.field(field) { return (type, id) } }
        return nil
    }

    /// `password-command`, `token-command`...: a command whose output is that secret (e.g.
    /// `pass show xnat`), so that it need not sit in the environment.
    public var credentialCommandKeys: [String] {
        credentialKeys.filter { $0 != "user" }.map { $0 + "-command" }
    }

    /// The level a selection key names, by key or alias.
    public func level(named key: String) -> Level? {
        levels.first { $0.key == key || $0.aliases.contains(key) }
    }

    /// Every field an item of this platform may carry, including the fields common to all.
    public var allFields: Set<String> {
        Set(levels.flatMap(\.qualifiedFields)).union(PlatformCatalog.commonFields)
    }

    /// Fields every item carries, whatever its source.
    public static let commonFields: Set<String> = [
        "source.name", "source.type", "item.id", "file.name", "file.size", "file.ext", "file.stem",
    ]

    /// Fields a remote job's output adds (`download: lobes.outputs`).
    public static let outputFields: Set<String> = [
        "input.name", "input.id", "output.socket", "output.name", "job.id",
    ]

    public static func of(_ type: SourceType) -> PlatformCatalog {
        switch type {
        case .xnat: return xnat
        case .loris: return loris
        case .grandChallenge: return grandChallenge
        case .agora: return agora
        case .local: return local
        case .http: return http
        }
    }

    public static let xnat = PlatformCatalog(
        type: .xnat,
        levels: [
            Level("project", aliases: ["projects"], entity: "project", default: "id", fields: ["id", "name"]),
            Level("subjects", aliases: ["subject"], entity: "subject", default: "label", fields: ["label", "id"]),
            Level("experiments", aliases: ["experiment", "sessions", "session"], entity: "experiment",
                  default: "label", fields: ["label", "id", "date", "xsi_type", "modality"]),
            Level("scans", aliases: ["scan"], entity: "scan", default: "type",
                  fields: ["id", "type", "quality", "series_description", "xsi_type", "note"]),
            Level("resource", aliases: ["resources"], entity: "resource", default: "label",
                  fields: ["label", "format", "content"]),
            Level("files", aliases: ["file"], entity: "file", default: "name",
                  fields: ["name", "path", "size", "format", "content", "tags", "digest"]),
        ],
        actions: [.download, .upload],
        credentialKeys: ["user", "password", "token", "secret"],
        nameParts: [["subject.label"], ["experiment.label"], ["scan.id", "scan.type"], ["resource.label"], ["file.name"]],
        groupNoun: "subject")

    public static let loris = PlatformCatalog(
        type: .loris,
        levels: [
            Level("project", aliases: ["projects"], entity: "project", default: "name", fields: ["name"]),
            Level("candidates", aliases: ["candidate"], entity: "candidate", default: "CandID",
                  fields: ["CandID", "PSCID", "Site", "Sex", "Project", "EDC", "DoB"]),
            Level("visits", aliases: ["visit"], entity: "visit", default: "label",
                  fields: ["label", "Site", "Stage", "Status"]),
            Level("files", aliases: ["images", "file"], entity: "file", default: "name",
                  fields: ["name", "OutputType", "AcquisitionType", "size"]),
        ],
        actions: [.download, .upload],
        credentialKeys: ["user", "password"],
        nameParts: [["candidate.CandID"], ["visit.label"], ["file.name"]],
        groupNoun: "candidate")

    public static let grandChallenge = PlatformCatalog(
        type: .grandChallenge,
        levels: [
            Level("archive", aliases: ["archives"], entity: "archive", default: "slug", fields: ["slug", "title", "pk"]),
            Level("reader-study", aliases: ["reader-studies"], entity: "reader_study", default: "slug",
                  fields: ["slug", "title", "pk"]),
            Level("images", aliases: ["image"], entity: "image", default: "name",
                  fields: ["name", "pk", "modality", "width", "height"]),
            Level("files", aliases: ["file"], entity: "file", default: "name", fields: ["name", "type", "size"]),
        ],
        actions: [.download, .upload, .runAlgorithm],
        credentialKeys: ["token"],
        nameParts: [["image.name"], ["file.name"]],
        groupNoun: "image")

    public static let agora = PlatformCatalog(
        type: .agora,
        levels: [
            Level("project", aliases: ["projects"], entity: "project", default: "name", fields: ["name", "id"]),
            Level("folder", aliases: ["folders"], entity: "folder", default: "path", fields: ["path", "id"]),
            Level("exams", aliases: ["exam"], entity: "exam", default: "name",
                  fields: ["name", "id", "patient", "scanner", "date"]),
            Level("series", entity: "series", default: "name", fields: ["name", "id", "number"]),
            Level("datasets", aliases: ["dataset"], entity: "dataset", default: "type", fields: ["type", "name", "id"]),
            Level("files", aliases: ["file"], entity: "file", default: "name", fields: ["name", "size"]),
        ],
        actions: [.download, .upload, .tag, .runTask],
        credentialKeys: ["api-key", "password"],
        nameParts: [["exam.name"], ["series.name"], ["dataset.name"], ["file.name"]],
        groupNoun: "exam",
        taggedObjects: [("dataset.id", "dataset"), ("series.id", "series"), ("exam.id", "exam"), ("folder.id", "folder")])

    public static let http = PlatformCatalog(
        type: .http,
        levels: [
            Level("files", aliases: ["file"], entity: "file", default: "path",
                  fields: ["path", "name", "stem", "ext", "size", "dir"]),
        ],
        actions: [.download],
        credentialKeys: ["user", "password", "token"])

    public static let local = PlatformCatalog(
        type: .local,
        levels: [
            Level("files", aliases: ["file"], entity: "file", default: "path",
                  fields: ["path", "name", "stem", "ext", "size", "dir"]),
        ],
        actions: [.download, .upload],
        credentialKeys: [])
}
