import Foundation
import NIOCore

extension PlatformID {
    /// XNAT (`/data/...` REST API).
    public static let xnat = PlatformID("xnat")
}

/// One file in an XNAT resource catalog.
struct XNATFile: Sendable {
    var path: String          // relative path inside the resource (may contain `/`)
    var body: FileBody
    var modified: Date
    var format: String
    var content: String
    var tags: String
    var name: String { String(path.split(separator: "/").last ?? Substring(path)) }
}

/// A resource (catalog) at project, subject, experiment or scan level.
struct XNATResource: Sendable {
    var id: Int
    var label: String
    var format: String
    var content: String
    var tags: String
    var files: [XNATFile]
    var totalSize: Int64 { files.reduce(0) { $0 + $1.body.size } }
}

struct XNATScan: Sendable {
    var id: String
    var type: String
    var quality: String
    var seriesDescription: String
    var dataID: Int
    var note: String = ""
}

struct XNATExperiment: Sendable {
    var id: String
    var label: String
    var subjectID: String
    var project: String
    var date: String
    var insertDate: String
    var scans: [XNATScan]
}

struct XNATSubject: Sendable {
    var id: String
    var label: String
    var project: String
    var insertDate: String
}

struct XNATProject: Sendable {
    var id: String
    var name: String
    var description: String
}

/// Who owns a resource.
enum XNATOwner: Hashable, Sendable {
    case project(String), subject(String), experiment(String), scan(experiment: String, scan: String)
}

/// The whole synthetic XNAT archive. Held behind a lock by the emulator; plain values inside.
struct XNATData: Sendable {
    var projects: [XNATProject] = []
    var subjects: [String: XNATSubject] = [:]       // by accession ID
    var subjectOrder: [String] = []
    var experiments: [String: XNATExperiment] = [:] // by accession ID
    var experimentOrder: [String] = []
    var resources: [XNATOwner: [XNATResource]] = [:]
    var nextResourceID = 1
    var nextScanDataID = 1
    var nextSubject = 1
    var nextExperiment = 1
    let seed: UInt64
    let sizes: FileSizeRange
    static let epoch = Date(timeIntervalSince1970: 1_704_067_200) // 2024-01-01, fixed for determinism

    /// Scan layout of every synthetic MR session: (scan ID, type, description, NIFTI file suffixes).
    static let scanLayout: [(String, String, String, [String])] = [
        ("1", "T1", "T1w MPRAGE", ["T1.nii.gz"]),
        ("2", "DWI_ALFA1", "DWI 64dir", ["DWI_ALFA1.nii.gz", "DWI_ALFA1.bval", "DWI_ALFA1.bvec"]),
        ("3", "rDWI_ALFA1", "DWI 64dir reversed PE", ["rDWI_ALFA1.nii.gz", "rDWI_ALFA1.bval", "rDWI_ALFA1.bvec"]),
        ("4", "FLAIR", "3D FLAIR", ["FLAIR.nii.gz"]),
    ]

    /// Scans per session: the four of `scanLayout`, then more runs of them (`--xnat-scans`).
    var scansPerSession = 4

    init(seed: UInt64, subjects: Int, dicomPerScan: Int, sizes: FileSizeRange, scansPerSession: Int = 4) {
        self.seed = seed
        self.scansPerSession = max(1, scansPerSession)
        self.sizes = sizes
        projects = [XNATProject(id: "testenv", name: "Test environment", description: "flowctl-sandbox synthetic project")]
        let width = max(3, String(subjects).count)
        subjectOrder.reserveCapacity(subjects)
        experimentOrder.reserveCapacity(subjects)
        for i in 1...max(subjects, 1) where subjects > 0 {
            let label = "SUBJ_" + String(repeating: "0", count: max(0, width - String(i).count)) + String(i)
            addSubject(project: "testenv", label: label, withSession: true, dicomPerScan: dicomPerScan)
        }
    }

    static func accession(_ prefix: String, _ n: Int) -> String {
        let s = String(n)
        return "XNAT_\(prefix)" + String(repeating: "0", count: max(0, 5 - s.count)) + s
    }

    func syntheticBody(_ key: String, size: Int64? = nil) -> FileBody {
        let k = seed ^ stableHash(key)
        return .synthetic(key: k, size: size ?? sizes.size(for: k))
    }

    @discardableResult
    mutating func addSubject(project: String, label: String, withSession: Bool, dicomPerScan: Int) -> String {
        let sid = XNATData.accession("S", nextSubject)
        nextSubject += 1
        let day = (nextSubject * 7) % 28 + 1
        subjects[sid] = XNATSubject(id: sid, label: label, project: project,
                                    insertDate: String(format: "2024-01-%02d 10:00:00.0", day))
        subjectOrder.append(sid)
        if withSession { addSession(subjectID: sid, label: "\(label)_MR1", dicomPerScan: dicomPerScan) }
        return sid
    }

    mutating func addSession(subjectID: String, label: String, dicomPerScan: Int) {
        guard let subject = subjects[subjectID] else { return }
        let eid = XNATData.accession("E", nextExperiment)
        nextExperiment += 1
        let day = (nextExperiment * 5) % 28 + 1
        let date = String(format: "2024-02-%02d", day)
        var scans: [XNATScan] = []
        let layout = XNATData.scanLayout
        for n in 0..<scansPerSession {
            // Past the four of the layout: further runs of the same kinds, numbered on.
            let (firstID, type, firstDescription, niftis) = layout[n % layout.count]
            let scanID = n < layout.count ? firstID : String(n + 1)
            let description = n < layout.count ? firstDescription : "\(firstDescription) run \(n / layout.count + 1)"
            scans.append(XNATScan(id: scanID, type: type, quality: "usable", seriesDescription: description, dataID: nextScanDataID))
            nextScanDataID += 1
            let owner = XNATOwner.scan(experiment: eid, scan: scanID)
            // Real images (Imaging/): one acquisition behind both the NIfTI and the DICOM series.
            let scan = XNATImages.scan(type: type, dicomFiles: dicomPerScan, key: seed ^ stableHash("\(label)/\(scanID)"))
            let niftiFiles = niftis.map { suffix in
                XNATFile(path: "\(subject.label)_\(suffix)",
                         body: XNATImages.niftiFile(suffix: suffix, scan: scan, description: description,
                                                    size: sizes.size(for: seed ^ stableHash("\(label)/\(scanID)/NIFTI/\(suffix)")),
                                                    key: seed ^ stableHash("image:\(label)/\(scanID)/NIFTI/\(suffix)")),
                         modified: XNATData.epoch, format: "NIFTI", content: "RAW", tags: "")
            }
            let series = XNATImages.series(subject: subject.label, session: label, date: date, scanID: scanID, description: description)
            let dicomFiles = (0..<dicomPerScan).map { n in
                let name = "\(label).MR.\(scanID)." + String(format: "%04d", n + 1) + ".dcm"
                let key = seed ^ stableHash("\(label)/\(scanID)/DICOM/\(n)")
                let body = XNATImages.dicomFile(index: n, scan: scan, series: series, size: sizes.size(for: key),
                                                key: seed ^ stableHash("image:\(label)/\(scanID)/DICOM/\(n)"))
                return XNATFile(path: name, body: body,
                                modified: XNATData.epoch, format: "DICOM", content: "RAW", tags: "")
            }
            resources[owner] = [
                XNATResource(id: nextResourceID, label: "NIFTI", format: "NIFTI", content: "RAW", tags: "", files: niftiFiles),
                XNATResource(id: nextResourceID + 1, label: "DICOM", format: "DICOM", content: "RAW", tags: "", files: dicomFiles),
            ]
            nextResourceID += 2
        }
        experiments[eid] = XNATExperiment(id: eid, label: label, subjectID: subjectID, project: subject.project,
                                          date: date,
                                          insertDate: String(format: "2024-02-%02d 11:00:00.0", day), scans: scans)
        experimentOrder.append(eid)
    }

    // MARK: lookup

    func project(_ idOrLabel: String) -> XNATProject? { projects.first { $0.id == idOrLabel } }

    /// Subject by accession ID, or by label inside `project`.
    func subject(_ key: String, project: String?) -> XNATSubject? {
        if let s = subjects[key], project == nil || s.project == project { return s }
        guard let project else { return nil }
        return subjectOrder.lazy.compactMap { self.subjects[$0] }.first { $0.project == project && $0.label == key }
    }

    func experiment(_ key: String, project: String?, subject: String?) -> XNATExperiment? {
        if let e = experiments[key], project == nil || e.project == project, subject == nil || e.subjectID == subject { return e }
        guard project != nil else { return nil }
        return experimentOrder.lazy.compactMap { self.experiments[$0] }.first {
            $0.label == key && (project == nil || $0.project == project) && (subject == nil || $0.subjectID == subject)
        }
    }

    func subjectsOf(project: String?) -> [XNATSubject] {
        subjectOrder.compactMap { subjects[$0] }.filter { project == nil || $0.project == project }
    }

    func experimentsOf(project: String?, subject: String?) -> [XNATExperiment] {
        experimentOrder.compactMap { experiments[$0] }.filter {
            (project == nil || $0.project == project) && (subject == nil || $0.subjectID == subject)
        }
    }

    /// Resource by numeric id or label.
    func resourceIndex(_ owner: XNATOwner, _ key: String) -> Int? {
        let list = resources[owner] ?? []
        if let n = Int(key), let i = list.firstIndex(where: { $0.id == n }) { return i }
        return list.firstIndex { $0.label == key }
    }

    /// Files of an experiment, every scan's resources, for summaries.
    var fileCount: Int { resources.values.reduce(0) { $0 + $1.reduce(0) { $0 + $1.files.count } } }
}
