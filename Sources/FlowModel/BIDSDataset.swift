/// The files that make a folder written by the `bids` layout a BIDS dataset rather than a tree of
/// images: `dataset_description.json`, `participants.tsv` and its `.json`, and a `.bidsignore`
/// that keeps flowctl's own files out of the validator's way. Pure: made from the job and the
/// items the plan placed, written by the command that runs the job.
public struct BIDSDataset: Sendable, Hashable {
    /// BIDS version the documents follow.
    public static let version = "1.9.0"
    /// Written by flowctl at the root of the output folder besides the data; none is data.
    public static let ignored = ["flowctl-manifest.json", "*.part"]

    public var name: String
    /// What the job adds to `dataset_description.json` (authors, license, ...).
    public var described: DatasetFields
    public var jobDescription: String?
    public var jobPath: String
    public var flowctlVersion: String
    /// Where the data came from (source URLs, without credentials).
    public var sourceURLs: [String]
    /// One row per subject: `participant_id` and the columns the platform gave.
    public var participants: [Participant]

    /// A participant and the fields the platform gives for it.
    public struct Participant: Sendable, Hashable {
        public var id: String
        public var sex: String?
        public var age: String?
        public var site: String?
    }

    /// Item fields, first present wins, for each participant column.
    static let sexFields = ["subject.gender", "subject.sex", "candidate.Sex", "exam.patient_sex"]
    static let ageFields = ["subject.age", "candidate.Age", "exam.patient_age"]
    static let siteFields = ["subject.site", "candidate.Site"]

    public init(name: String, jobDescription: String?, jobPath: String, flowctlVersion: String, sourceURLs: [String],
                items: [RemoteItem], described: DatasetFields = DatasetFields()) {
        self.name = name
        self.described = described
        self.jobDescription = jobDescription
        self.jobPath = jobPath
        self.flowctlVersion = flowctlVersion
        self.sourceURLs = sourceURLs
        var byID: [String: Participant] = [:]
        for item in items {
            guard let subject = BIDS.derived("bids.subject", field: item.field) else { continue }
            let id = "sub-" + BIDS.label(subject)
            func first(_ names: [String]) -> String? { names.lazy.compactMap { item.field($0) }.first { !$0.isEmpty } }
            var row = byID[id] ?? Participant(id: id)
            row.sex = row.sex ?? first(Self.sexFields).map(Self.sexLevel)
            row.age = row.age ?? first(Self.ageFields)
            row.site = row.site ?? first(Self.siteFields)
            byID[id] = row
        }
        participants = byID.values.sorted { $0.id < $1.id }
    }

    /// `M`, `F` or `O` as BIDS' participants.json levels say; other text kept as given.
    static func sexLevel(_ text: String) -> String {
        switch text.lowercased() {
        case "m", "male": return "M"
        case "f", "female": return "F"
        case "o", "other": return "O"
        default: return text
        }
    }

    /// The documents, by path relative to the dataset root.
    public func documents() -> [(path: String, bytes: [UInt8])] {
        [("dataset_description.json", datasetDescription()), ("participants.tsv", participantsTSV()),
         ("participants.json", participantsJSON()), ("README.md", readme()),
         (".bidsignore", Array((Self.ignored.joined(separator: "\n") + "\n").utf8))]
    }

    /// The dataset's README: where it came from and how to pull it again.
    func readme() -> [UInt8] {
        var text = "# \(name)\n\n"
        if let jobDescription { text += jobDescription + "\n\n" }
        text += "Pulled by flowctl \(flowctlVersion) with the job `\(jobPath)`"
        text += sourceURLs.isEmpty ? ".\n" : " from " + sourceURLs.map { "<\($0)>" }.joined(separator: ", ") + ".\n"
        text += "Run the job again (`flowctl run \(jobPath)`) to bring it up to date; `flowctl verify` checks every file\n"
            + "against `flowctl-manifest.json`. \(participants.count) participant(s).\n"
        return Array(text.utf8)
    }

    /// Keys in byte order, as `JSONWriter` wants them: flowctl's own, and the job's fields.
    func datasetDescription() -> [UInt8] {
        var entries: [(key: String, write: (inout JSONWriter) -> Void)] = [
            ("BIDSVersion", { $0.value(Self.version) }),
            ("DatasetType", { $0.value("raw") }),
            ("GeneratedBy", { json in
                json.openArray()
                json.openObject()
                json.key("Description"); json.value("job \(jobPath)" + (jobDescription.map { ": \($0)" } ?? ""))
                json.key("Name"); json.value("flowctl")
                json.key("Version"); json.value(flowctlVersion)
                json.closeObject()
                json.closeArray()
            }),
            ("Name", { $0.value(name) }),
        ]
        if !sourceURLs.isEmpty {
            entries.append(("SourceDatasets", { json in
                json.openArray()
                for url in sourceURLs {
                    json.openObject()
                    json.key("URL"); json.value(url)
                    json.closeObject()
                }
                json.closeArray()
            }))
        }
        for (key, text) in described.text { entries.append((key, { $0.value(text) })) }
        for (key, list) in described.lists {
            entries.append((key, { json in
                json.openArray()
                for element in list { json.value(element) }
                json.closeArray()
            }))
        }
        var json = JSONWriter(.pretty)
        json.openObject()
        for entry in entries.sorted(by: { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }) {
            json.key(entry.key)
            entry.write(&json)
        }
        json.closeObject()
        return json.finish() + [UInt8(ascii: "\n")]
    }

    /// Columns present for at least one participant; `n/a` where a participant lacks one.
    var columns: [(name: String, value: (Participant) -> String?)] {
        let all: [(name: String, value: (Participant) -> String?)] = [("sex", { $0.sex }), ("age", { $0.age }), ("site", { $0.site })]
        return all.filter { column in participants.contains { column.value($0) != nil } }
    }

    func participantsTSV() -> [UInt8] {
        let columns = self.columns
        var text = (["participant_id"] + columns.map(\.name)).joined(separator: "\t") + "\n"
        for p in participants {
            let cells = [p.id] + columns.map { Self.cell($0.value(p)) }
            text += cells.joined(separator: "\t") + "\n"
        }
        return Array(text.utf8)
    }

    /// A TSV cell: tabs and newlines from a server would break the table.
    static func cell(_ value: String?) -> String {
        guard let value, !value.isEmpty else { return "n/a" }
        return String(value.map { $0 == "\t" || $0 == "\n" || $0 == "\r" ? " " : $0 })
    }

    func participantsJSON() -> [UInt8] {
        let present = Set(columns.map(\.name))
        var json = JSONWriter(.pretty)
        json.openObject()
        if present.contains("age") { json.key("age"); json.value(["Description": "age as the source platform records it"]) }
        json.key("participant_id"); json.value(["Description": "participant label, from the source platform's subject"])
        if present.contains("sex") {
            json.key("sex")
            json.openObject()
            json.key("Description"); json.value("sex as the source platform records it")
            json.key("Levels"); json.value(["F": "female", "M": "male", "O": "other"])
            json.closeObject()
        }
        if present.contains("site") { json.key("site"); json.value(["Description": "site as the source platform records it"]) }
        json.closeObject()
        return json.finish() + [UInt8(ascii: "\n")]
    }
}

extension BIDSDataset {
    /// What a job adds to its `dataset_description.json` (`layouts: {bids: {dataset: ...}}`), under
    /// BIDS' own key names; the keys flowctl writes itself (`Name`, `BIDSVersion`, ...) are not
    /// among them.
    public struct DatasetFields: Sendable, Hashable {
        /// Keys whose value is one string.
        public static let textKeys = ["Acknowledgements", "DatasetDOI", "HowToAcknowledge", "License"]
        /// Keys whose value is a list of strings.
        public static let listKeys = ["Authors", "EthicsApprovals", "Funding", "ReferencesAndLinks"]

        public var text: [String: String]
        public var lists: [String: [String]]

        public init(text: [String: String] = [:], lists: [String: [String]] = [:]) {
            self.text = text
            self.lists = lists
        }
    }
}
