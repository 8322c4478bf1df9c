import Foundation
import NIOCore

/// A socket ("component interface"): what kind of value an archive item, display set or job holds.
struct GCSocket: Sendable {
    var pk: Int
    var slug: String
    var title: String
    /// Display label (`Image`, `Segmentation`, `Anything`...).
    var kind: String
    /// `Image`, `File` or `Value`: what a value of this socket carries.
    var superKind: String
    var relativePath: String
}

/// An image with its one file (`.mha`: image type MHD).
struct GCImage: Sendable {
    var pk: String
    var name: String
    var filePK: String
    var body: FileBody
    var width: Int, height: Int, depth: Int
    var modality: String?
}

/// A socket value: an image, or an inline JSON value.
struct GCValue: Sendable {
    var pk: Int
    var socket: String
    var imagePK: String?
    var value: JSON?
}

struct GCArchive: Sendable {
    var pk: String
    var slug: String
    var title: String
    var description: String
    /// A hostile archive: the `count` every page of its images says, whatever the truth.
    var countLie: Int? = nil
}

struct GCArchiveItem: Sendable {
    var pk: String
    var archivePK: String
    var title: String
    var values: [GCValue]
}

struct GCReaderStudy: Sendable {
    var pk: String
    var slug: String
    var title: String
    var description: String
}

struct GCDisplaySet: Sendable {
    var pk: String
    var readerStudyPK: String
    var title: String
    var order: Int
    var values: [GCValue]
}

struct GCAlgorithm: Sendable {
    var pk: String
    var slug: String
    var title: String
    var description: String
    /// The algorithm's container image (jobs point at it).
    var imagePK: String
    var inputs: [String]
    var outputs: [String]
    /// A hostile algorithm: how its jobs misbehave.
    var hostile: GCHostileJob? = nil
}

/// How a hostile algorithm's jobs misbehave (Hostile/README.md, "Grand Challenge").
enum GCHostileJob: Sendable, Equatable {
    /// Past `Validating inputs`, the job says this status for ever.
    case stuck(String)
    /// The job succeeds; its output images have these names.
    case outputNames([String])
}

/// A user upload: an S3 multipart upload behind the API.
struct GCUpload: Sendable {
    var pk: String
    var filename: String
    var s3UploadID: String
    /// `Initialized`, `Completed` or `Aborted`.
    var status: String
    var created: Date
    /// Parts as PUT, spooled to disk (`Core/Spool.swift`).
    var parts: [Int: SpooledFile] = [:]
    /// The assembled bytes once completed: the parts' spool files in order, read on demand.
    var body: FileBody?
}

/// An algorithm job; its status is derived from the time since it was created (see `GCData.status`).
struct GCJob: Sendable {
    var pk: String
    var algorithmPK: String
    var inputs: [GCValue]
    var outputs: [GCValue] = []
    var created: Date
    /// Seconds per status step, fixed when the job was created.
    var step: Double
    /// Set when the job is made to fail (input name marker or `jobs/fail-next`).
    var failure: String?
    /// Whether the terminal state (outputs) has been made.
    var finished = false
}

/// Everything the Grand Challenge emulator serves. Seed data is derived from the seed; runtime
/// objects get deterministic UUIDs from a counter, so two runs with the same calls see the same pks.
struct GCData: Sendable {
    static let userID = 1
    static let archiveSlug = "coronacases.org"
    static let uploadArchiveSlug = "sandbox-archive"
    static let readerStudySlug = "corads-score-exam"
    static let algorithmSlug = "pulmonary-lobe-segmentation"
    /// Jobs a user may have that are not finished yet (as grand-challenge.org).
    static let maxActiveJobs = 16

    let seed: UInt64
    let sizes: FileSizeRange
    var sockets: [GCSocket] = []
    var images: [String: GCImage] = [:]
    /// Image pks in creation order (listings are ordered).
    var imageOrder: [String] = []
    var archives: [GCArchive] = []
    var archiveItems: [GCArchiveItem] = []
    var readerStudies: [GCReaderStudy] = []
    var displaySets: [GCDisplaySet] = []
    var algorithms: [GCAlgorithm] = []
    var uploads: [String: GCUpload] = [:]
    var uploadOrder: [String] = []
    var jobs: [String: GCJob] = [:]
    var jobOrder: [String] = []
    private var counter: UInt64 = 0
    private var nextValuePK = 1000

    init(seed: UInt64, archiveImages: Int, sizes: FileSizeRange) {
        self.seed = seed
        self.sizes = sizes
        sockets = [
            GCSocket(pk: 1, slug: "generic-medical-image", title: "Generic Medical Image", kind: "Image", superKind: "Image", relativePath: "images"),
            GCSocket(pk: 2, slug: "ct-image", title: "CT Image", kind: "Image", superKind: "Image", relativePath: "images/ct"),
            GCSocket(pk: 3, slug: "pulmonary-lobes", title: "Pulmonary Lobes", kind: "Segmentation", superKind: "Image",
                     relativePath: "images/pulmonary-lobes"),
            GCSocket(pk: 4, slug: "corads-score", title: "CO-RADS score", kind: "Integer", superKind: "Value", relativePath: "corads-score.json"),
        ]
        let archive = GCArchive(pk: uuid("archive/coronacases"), slug: GCData.archiveSlug, title: GCData.archiveSlug,
                                description: "Chest CT scans of COVID-19 patients (coronacases.org), 10 cases")
        archives = [archive,
                    GCArchive(pk: uuid("archive/sandbox"), slug: GCData.uploadArchiveSlug, title: "Sandbox archive",
                              description: "An empty archive to upload into")]
        for i in 1...max(1, archiveImages) {
            let image = makeImage(name: String(format: "coronacases_%03d.mha", i), label: "coronacases/\(i)")
            archiveItems.append(GCArchiveItem(pk: uuid("archive-item/\(i)"), archivePK: archive.pk, title: "",
                                              values: [value(socket: "generic-medical-image", imagePK: image.pk)]))
        }
        let study = GCReaderStudy(pk: uuid("reader-study/corads"), slug: GCData.readerStudySlug, title: "CO-RADS score exam",
                                  description: "Score chest CTs with CO-RADS")
        readerStudies = [study]
        for i in 1...3 {
            let image = makeImage(name: String(format: "corads_%03d.mha", i), label: "corads/\(i)")
            displaySets.append(GCDisplaySet(pk: uuid("display-set/\(i)"), readerStudyPK: study.pk, title: "", order: i * 10,
                                            values: [value(socket: "generic-medical-image", imagePK: image.pk)]))
        }
        algorithms = [GCAlgorithm(pk: uuid("algorithm/lobes"), slug: GCData.algorithmSlug, title: "Pulmonary Lobe Segmentation",
                                  description: "Segments the five pulmonary lobes in chest CT (Xie et al., 2020)",
                                  imagePK: uuid("algorithm-image/lobes"), inputs: ["ct-image"], outputs: ["pulmonary-lobes"])]
    }

    // MARK: hostile additions

    /// The hostile algorithms (slug, behaviour) and archives (slug, images, the count it says),
    /// served only with `SandboxConfiguration.hostile` (Hostile/README.md, "Grand Challenge").
    static let hostileAlgorithms: [(String, GCHostileJob)] = [
        ("hostile-stuck", .stuck("Executing")),
        ("hostile-unknown-status", .stuck("Pondering\u{1B}[2J\r\nthe meaning")),
        ("hostile-outputs-climb", .outputNames(["../../climbed.mha", "/tmp/flowctl-hostile/absolute.mha", "..", "ok.mha"])),
    ]
    static let hostileArchives: [(slug: String, images: Int, count: Int)] = [
        ("hostile-count-huge", 3, 1_000_000_000_000_000),
        ("hostile-count-short", 150, 1),
    ]

    /// Adds the hostile algorithms and archives.
    mutating func addHostile() {
        for (slug, behaviour) in GCData.hostileAlgorithms {
            algorithms.append(GCAlgorithm(pk: uuid("algorithm/" + slug), slug: slug, title: slug, description: "hostile: \(behaviour)",
                                          imagePK: uuid("algorithm-image/" + slug), inputs: ["ct-image"], outputs: ["pulmonary-lobes"],
                                          hostile: behaviour))
        }
        for archive in GCData.hostileArchives {
            let made = GCArchive(pk: uuid("archive/" + archive.slug), slug: archive.slug, title: archive.slug,
                                 description: "hostile: its pages say count \(archive.count)", countLie: archive.count)
            archives.append(made)
            for i in 1...archive.images {
                let image = makeImage(name: String(format: "\(archive.slug)_%03d.mha", i), label: "\(archive.slug)/\(i)")
                archiveItems.append(GCArchiveItem(pk: uuid("archive-item/\(archive.slug)/\(i)"), archivePK: made.pk, title: "",
                                                  values: [value(socket: "generic-medical-image", imagePK: image.pk)]))
            }
        }
    }

    // MARK: identities

    /// A deterministic UUID (version 4 layout) for a label.
    func uuid(_ label: String) -> String {
        let a = SplitMix64.mix(seed ^ stableHash(label))
        let b = SplitMix64.mix(a ^ 0xA5A5_5A5A_1234_5678)
        let hexA = String(format: "%016llx", a), hexB = String(format: "%016llx", b)
        let chars = Array(hexA + hexB)
        func s(_ r: Range<Int>) -> String { String(chars[r]) }
        return "\(s(0..<8))-\(s(8..<12))-4\(s(13..<16))-a\(s(17..<20))-\(s(20..<32))"
    }

    /// A fresh deterministic UUID for an object made at runtime.
    mutating func newUUID(_ kind: String) -> String {
        counter += 1
        return uuid("\(kind)/runtime/\(counter)")
    }

    mutating func value(socket: String, imagePK: String? = nil, value: JSON? = nil) -> GCValue {
        nextValuePK += 1
        return GCValue(pk: nextValuePK, socket: socket, imagePK: imagePK, value: value)
    }

    /// A synthetic CT image with a deterministic size and shape.
    @discardableResult
    mutating func makeImage(name: String, label: String, modality: String? = "CT") -> GCImage {
        let key = SplitMix64.mix(seed ^ stableHash("image-bytes/" + label))
        let depth = 60 + Int(key % 240)
        let image = GCImage(pk: uuid("image/" + label), name: name, filePK: uuid("image-file/" + label),
                            body: .synthetic(key: key, size: sizes.size(for: key)), width: 512, height: 512, depth: depth,
                            modality: modality)
        addImage(image)
        return image
    }

    mutating func addImage(_ image: GCImage) {
        if images[image.pk] == nil { imageOrder.append(image.pk) }
        images[image.pk] = image
    }

    /// An image made from completed uploads (grand-challenge.org converts them; here the bytes stay as sent).
    mutating func imageFromUploads(_ uploadPKs: [String]) -> GCImage? {
        guard let first = uploadPKs.first, let upload = uploads[first], upload.status == "Completed", let body = upload.body else { return nil }
        let pk = newUUID("image")
        let image = GCImage(pk: pk, name: upload.filename, filePK: newUUID("image-file"), body: body,
                            width: 512, height: 512, depth: 1, modality: nil)
        addImage(image)
        return image
    }

    // MARK: lookups

    func socket(_ slug: String) -> GCSocket? { sockets.first { $0.slug == slug } }
    func archive(pk: String) -> GCArchive? { archives.first { $0.pk == pk } }
    func readerStudy(pk: String) -> GCReaderStudy? { readerStudies.first { $0.pk == pk } }
    func algorithm(pk: String) -> GCAlgorithm? { algorithms.first { $0.pk == pk } }

    /// Image pks held by an archive's items, in item order.
    func imagePKs(inArchive pk: String) -> Set<String> {
        Set(archiveItems.filter { $0.archivePK == pk }.flatMap { $0.values.compactMap(\.imagePK) })
    }

    func imagePKs(inReaderStudy pk: String) -> Set<String> {
        Set(displaySets.filter { $0.readerStudyPK == pk }.flatMap { $0.values.compactMap(\.imagePK) })
    }

    // MARK: jobs

    /// The job's status now: Validating inputs -> Queued -> Started -> Succeeded | Failed, one step each.
    func status(of job: GCJob, now: Date) -> String {
        let steps = job.step <= 0 ? 3 : now.timeIntervalSince(job.created) / job.step
        if case .stuck(let status)? = algorithm(pk: job.algorithmPK)?.hostile { return steps < 1 ? "Validating inputs" : status }
        switch steps {
        case ..<1: return "Validating inputs"
        case ..<2: return "Queued"
        case ..<3: return "Started"
        default: return job.failure == nil ? "Succeeded" : "Failed"
        }
    }

    /// Makes the outputs of jobs that have just reached a terminal status (a lobe mask per job).
    mutating func finishJobs(now: Date) {
        for pk in jobOrder {
            guard var job = jobs[pk], !job.finished, ["Succeeded", "Failed"].contains(status(of: job, now: now)) else { continue }
            job.finished = true
            if job.failure == nil, let algorithm = algorithm(pk: job.algorithmPK) {
                let inputName = job.inputs.compactMap { $0.imagePK.flatMap { images[$0]?.name } }.first ?? "input.mha"
                let stem = inputName.hasSuffix(".mha") ? String(inputName.dropLast(4)) : inputName
                if case .outputNames(let names)? = algorithm.hostile {
                    for (i, name) in names.enumerated() {
                        let image = makeImage(name: name, label: "job-output/\(pk)/\(i)", modality: nil)
                        job.outputs.append(value(socket: algorithm.outputs[0], imagePK: image.pk))
                    }
                    jobs[pk] = job
                    continue
                }
                for socket in algorithm.outputs {
                    let image = makeImage(name: "\(stem)_\(socket).mha", label: "job-output/\(pk)/\(socket)", modality: nil)
                    job.outputs.append(value(socket: socket, imagePK: image.pk))
                }
            }
            jobs[pk] = job
        }
    }

    /// Jobs not finished yet.
    func activeJobs(now: Date) -> Int {
        jobs.values.filter { !["Succeeded", "Failed", "Cancelled"].contains(status(of: $0, now: now)) }.count
    }
}
