import FlowFiles
import Foundation

extension PlatformID {
    /// GyroTools Agora (`/api/v1/...`, `/api/v2/...` at the server root).
    public static let agora = PlatformID("agora")
}

/// Agora's dataset type integers (`DatasetType` in gtagora-connector, see `api/agora.md` §4).
public enum AgoraDatasetType {
    public static let byName: [String: Int] = [
        "NONE": 0, "PHILIPS_RAW": 100, "PHILIPS_PARREC": 101, "PHILIPS_SPECTRO": 102, "PHILIPS_EXAMCARD": 103,
        "PHILIPS_SINFILE": 104, "BRUKER_RAW": 200, "BRUKER_SUBJECT": 201, "BRUKER_IMAGE": 202, "DICOM": 300,
        "SIEMENS_RAW": 400, "SIEMENS_PRO": 401, "ISMRMRD": 500, "NIFTI1": 600, "NIFTI2": 601, "NIFTI_ANALYZE75": 602,
        "JMRUI_SPECTRO": 700, "AEX": 800, "QUERY": 10000, "OTHER": 100000,
    ]
    public static let byValue: [Int: String] = Dictionary(uniqueKeysWithValues: byName.map { ($1, $0) })
}

struct AgoraProject: Sendable {
    var id: Int
    var name: String
    var description: String
    var rootFolder: Int
    var isMyAgora: Bool
}

struct AgoraFolder: Sendable {
    var id: Int
    var name: String
    var project: Int
    /// nil for a project's root folder.
    var parent: Int?
}

/// An entry of a folder: a sub-folder, exam, series or dataset (or a link to one).
struct AgoraFolderItem: Sendable {
    var id: Int
    var folder: Int
    var contentType: String      // folder | exam | serie | dataset
    var objectID: Int
    var isLink: Bool = false
}

struct AgoraPatient: Sendable {
    var id: Int
    var name: String
    var patientID: String
    var birthDate: String
    var sex: String
}

struct AgoraExam: Sendable {
    var id: Int
    var project: Int
    var patient: Int
    var uid: String
    var name: String
    var scanner: String
    var startTime: String
}

struct AgoraSeries: Sendable {
    var id: Int
    var exam: Int
    var uid: String
    var name: String
    var acquisitionNumber: Int
}

struct AgoraDataset: Sendable {
    var id: Int
    var name: String
    var type: Int
    /// Owner: a series, an exam (exam-level datasets) or a folder (uploads).
    var serie: Int?
    var exam: Int?
    var project: Int
    var datafiles: [Int]
}

struct AgoraDatafile: Sendable {
    var id: Int
    var dataset: Int
    var relativePath: String
    var originalFilename: String
    var body: FileBody
    var created: Date
}

struct AgoraTagDefinition: Sendable {
    var id: Int
    var label: String
    var user: Int?
    var project: Int?
    var group: String?
    var color: String?
    var visibility: Int
    var scope: Int
}

struct AgoraTagInstance: Sendable {
    var id: Int
    var tagDefinition: Int
    var contentType: String
    var objectID: Int
}

/// A task definition; `inputs` are `(key, type)` with Agora's input type numbers (3 = dataset).
struct AgoraTask: Sendable {
    var id: Int
    var name: String
    var project: Int
    var inputs: [(key: String, name: String, type: Int, dataSetType: Int?)]
    var outputs: [(name: String, type: Int)]
    /// Seconds from start to the end state; nil uses the emulator's default.
    var duration: Double?
    /// Ends in error (state 3) instead of finished: the deterministic failure for tests.
    var fails: Bool
}

/// One run of a task: its state follows from the time elapsed since it started.
struct AgoraTimelineItem: Sendable {
    var id: Int
    var task: Int
    var started: Date
    var duration: Double
    var fails: Bool
    var inputs: [(key: String, type: String, id: Int)]
    var target: (type: String, id: Int)?
    /// Datasets the run produced (created once, when the run is first seen finished).
    var results: [Int]?
}

/// One upload in progress: chunks by flow identifier, then the import after `complete`.
struct AgoraImport: Sendable {
    struct Upload: Sendable {
        var path: String
        var totalChunks: Int
        var totalSize: Int64
        /// Chunks spooled to disk (`Spool.swift`): a 10 GiB upload costs no 10 GiB of memory.
        var chunks: [Int: SpooledFile] = [:]
        /// The file's SHA-1 over chunks 1...`hashedThrough`, taken as they arrived in order (the
        /// import then reads nothing back to hash a file sent in order).
        var sha1 = Digester(.sha1)
        var hashedThrough = 0
        var isComplete: Bool { chunks.count >= totalChunks }
    }
    var id: Int
    var created: Date
    var uploads: [String: Upload] = [:]
    /// Identifiers in arrival order (the import processes files in that order).
    var order: [String] = []
    var completed: Date?
    var target: (type: String, id: Int)?
    var importFile: String?
    var error: String?
    /// `{"id","path","sha1","dataset","created"}` rows once the import ran.
    var result: [JSON]?
}

/// All Agora state: synthetic studies plus whatever clients created. Ids are global per kind.
struct AgoraData: Sendable {
    var projects: [Int: AgoraProject] = [:]
    var folders: [Int: AgoraFolder] = [:]
    var folderItems: [Int: AgoraFolderItem] = [:]
    var patients: [Int: AgoraPatient] = [:]
    var exams: [Int: AgoraExam] = [:]
    var series: [Int: AgoraSeries] = [:]
    var datasets: [Int: AgoraDataset] = [:]
    var datafiles: [Int: AgoraDatafile] = [:]
    var tagDefinitions: [Int: AgoraTagDefinition] = [:]
    var tagInstances: [Int: AgoraTagInstance] = [:]
    var tasks: [Int: AgoraTask] = [:]
    var timeline: [Int: AgoraTimelineItem] = [:]
    var imports: [Int: AgoraImport] = [:]
    private var nextIDs: [String: Int] = [:]
    let seed: UInt64
    let sizes: FileSizeRange
    /// A fixed creation date, so listings are identical run to run.
    static let epoch = Date(timeIntervalSince1970: 1_700_000_000)

    /// The next id of a kind (`exam`, `dataset`...); kinds start at different bases so ids are easy to tell apart.
    mutating func newID(_ kind: String) -> Int {
        let bases = ["project": 1, "folder": 10, "item": 1000, "patient": 100, "exam": 200, "series": 300, "dataset": 1000,
                     "datafile": 5000, "tag": 1, "taginstance": 1, "task": 1, "timeline": 1, "import": 1]
        let id = nextIDs[kind] ?? bases[kind] ?? 1
        nextIDs[kind] = id + 1
        return id
    }

    // MARK: synthetic studies

    /// Exam kinds of the synthetic study; Wrist exams come first (seed 001 looks for them).
    static let examKinds = ["Wrist", "Wrist", "Wrist", "Knee", "Wrist", "Brain"]
    static let seriesNames = ["T1 SE", "PD TSE", "B0 Map"]

    init(seed: UInt64, sizes: FileSizeRange, examCount: Int, hostile: Bool = false) {
        self.seed = seed
        self.sizes = sizes
        let myagora = addProject(name: "My Agora", description: "Personal project", isMyAgora: true)
        let wrist = addProject(name: "Wrist Study", description: "Synthetic Philips wrist and knee exams", isMyAgora: false)
        _ = addProject(name: "Phantom QA", description: "Empty project", isMyAgora: false)

        var perKind: [String: Int] = [:]
        for i in 0..<examCount {
            let kind = AgoraData.examKinds[i % AgoraData.examKinds.count]
            perKind[kind, default: 0] += 1
            addExam(project: wrist, name: String(format: "%@ %02d", kind, perKind[kind]!), index: i)
        }
        // The seed's literal filter `{'name': 'Wrist'}` on My Agora finds exactly this one.
        addExam(project: myagora, name: "Wrist", index: examCount)
        let raw = addFolder(name: "Raw", project: wrist, parent: projects[wrist]!.rootFolder)
        if let first = exams(in: wrist).first {
            // A link of the first exam in /Raw, as users file exams in folders.
            let item = newID("item")
            folderItems[item] = AgoraFolderItem(id: item, folder: raw, contentType: "exam", objectID: first.id, isLink: true)
        }
        addTasks(project: wrist, hostile: hostile)
        addTasks(project: myagora, hostile: hostile)
    }

    @discardableResult
    mutating func addProject(name: String, description: String, isMyAgora: Bool) -> Int {
        let id = newID("project")
        let root = newID("folder")
        folders[root] = AgoraFolder(id: root, name: name, project: id, parent: nil)
        projects[id] = AgoraProject(id: id, name: name, description: description, rootFolder: root, isMyAgora: isMyAgora)
        return id
    }

    /// A folder plus its entry in the parent folder.
    @discardableResult
    mutating func addFolder(name: String, project: Int, parent: Int) -> Int {
        let id = newID("folder")
        folders[id] = AgoraFolder(id: id, name: name, project: project, parent: parent)
        let item = newID("item")
        folderItems[item] = AgoraFolderItem(id: item, folder: parent, contentType: "folder", objectID: id)
        return id
    }

    /// An exam with three series (PHILIPS_RAW `.raw`+`.lab`, DICOM, PARREC) and an exam card, filed in the root folder.
    mutating func addExam(project: Int, name: String, index: Int) {
        let patient = newID("patient")
        patients[patient] = AgoraPatient(id: patient, name: String(format: "Sandbox^Patient%03d", index + 1),
                                         patientID: String(format: "PAT%05d", index + 1),
                                         birthDate: String(format: "19%02d-%02d-15", 50 + index % 40, 1 + index % 12),
                                         sex: index % 2 == 0 ? "F" : "M")
        let exam = newID("exam")
        let start = AgoraData.epoch.addingTimeInterval(Double(index) * 86_400)
        exams[exam] = AgoraExam(id: exam, project: project, patient: patient, uid: "1.3.46.670589.11.\(seed % 100_000).\(exam)",
                                name: name, scanner: index % 2 == 0 ? "Ingenia 3T" : "Achieva 1.5T",
                                startTime: AgoraData.iso(start))
        let item = newID("item")
        folderItems[item] = AgoraFolderItem(id: item, folder: projects[project]!.rootFolder, contentType: "exam", objectID: exam)
        let slug = name.lowercased().replacingOccurrences(of: " ", with: "_")
        for (n, seriesName) in AgoraData.seriesNames.enumerated() {
            let s = newID("series")
            series[s] = AgoraSeries(id: s, exam: exam, uid: exams[exam]!.uid + ".\(n + 1)", name: seriesName, acquisitionNumber: n + 1)
            let stem = "\(slug)_\(n + 1)_\(seriesName.lowercased().replacingOccurrences(of: " ", with: "_"))"
            addDataset(name: stem, type: 100, serie: s, exam: nil, project: project, files: [stem + ".raw", stem + ".lab"])
            addDataset(name: seriesName, type: 300, serie: s, exam: nil, project: project,
                       files: (1...2).map { String(format: "IM_%04d.dcm", n * 10 + $0) })
            if n == 0 {
                addDataset(name: stem, type: 101, serie: s, exam: nil, project: project, files: [stem + ".par", stem + ".rec"])
            }
        }
        addDataset(name: "ExamCard", type: 103, serie: nil, exam: exam, project: project, files: ["\(slug).examcard"])
    }

    /// A dataset of synthetic files (bytes derived from the seed and the file's place).
    @discardableResult
    mutating func addDataset(name: String, type: Int, serie: Int?, exam: Int?, project: Int, files: [String]) -> Int {
        let id = newID("dataset")
        var ids: [Int] = []
        for file in files {
            let f = newID("datafile")
            let key = seed ^ stableHash("agora/\(id)/\(file)")
            datafiles[f] = AgoraDatafile(id: f, dataset: id, relativePath: file, originalFilename: file,
                                         body: .synthetic(key: key, size: sizes.size(for: key)), created: AgoraData.epoch)
            ids.append(f)
        }
        datasets[id] = AgoraDataset(id: id, name: name, type: type, serie: serie, exam: exam, project: project, datafiles: ids)
        return id
    }

    /// The hostile tasks (`SandboxConfiguration.hostile`) and the timeline state each says for ever.
    static let hostileTaskStates = ["Hostile (never ends)": 1, "Hostile (unknown state)": 42]

    /// Two tasks per project: `Reconstruct` (finishes) and `Reconstruct (failing)` (ends in error);
    /// with `hostile`, also the `hostileTaskStates` ones.
    mutating func addTasks(project: Int, hostile: Bool = false) {
        let hostileTasks = hostile ? AgoraData.hostileTaskStates.keys.sorted().map { ($0, false) } : []
        for (name, fails) in [("Reconstruct", false), ("Reconstruct (failing)", true)] + hostileTasks {
            let id = newID("task")
            tasks[id] = AgoraTask(id: id, name: name, project: project,
                                  inputs: [(key: "raw", name: "Raw data", type: 3, dataSetType: 100)],
                                  outputs: [(name: "recon", type: 3)], duration: nil, fails: fails)
        }
    }

    func exams(in project: Int) -> [AgoraExam] {
        exams.values.filter { $0.project == project }.sorted { $0.id < $1.id }
    }

    static func iso(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }

    var fileCount: Int { datafiles.count }
}
