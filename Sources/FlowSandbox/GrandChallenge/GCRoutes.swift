import Foundation
import Hummingbird
import NIOCore

/// The `/api/v1/...` routes: archives, items, images, reader studies, display sets, algorithms, sockets.
extension GrandChallengeEmulator {
    func route(_ req: SandboxRequest, _ rest: [String], _ caller: Caller) async throws -> Response {
        let p = "/api/v1/"
        let anonymous = caller == .anonymous
        let isRead = req.method == .get || req.method == .head
        if anonymous && !isRead { req.route(p + (rest.first ?? "") + " (anonymous write)", .auth); return forbidden() }

        switch rest {
        case ["archives"]:
            req.route(p + "archives/", .listing)
            guard isRead else { return methodNotAllowed(req, allow: "GET, HEAD, OPTIONS") }
            return list(req, anonymous) { d, s in d.archives.filter { a in req.query["slug"].map { $0 == a.slug } ?? true }.map(s.archive) }

        case ["archives", "items"]:
            req.route(p + "archives/items/", .listing)
            if req.method == .post { return try await createArchiveItem(req) }
            guard isRead else { return methodNotAllowed(req, allow: "GET, POST, HEAD, OPTIONS") }
            return list(req, anonymous) { d, s in
                d.archiveItems.filter { i in req.query["archive"].map { $0 == i.archivePK } ?? true }.map { s.archiveItem($0) }
            }

        case _ where rest.count == 3 && rest[0] == "archives" && rest[1] == "items":
            req.route(p + "archives/items/{pk}/", .listing)
            if req.method == .patch || req.method == .put { return try await updateValues(req, archiveItem: rest[2]) }
            guard isRead else { return methodNotAllowed(req, allow: "GET, PUT, PATCH, HEAD, OPTIONS") }
            return detail(req, anonymous, "ArchiveItem") { d, s in d.archiveItems.first { $0.pk == rest[2] }.map { s.archiveItem($0) } }

        case _ where rest.count == 2 && rest[0] == "archives":
            req.route(p + "archives/{pk}/", .listing)
            return detail(req, anonymous, "Archive") { d, s in d.archive(pk: rest[1]).map(s.archive) }

        case ["cases", "images"]:
            req.route(p + "cases/images/", .listing)
            guard isRead else { return methodNotAllowed(req, allow: "GET, HEAD, OPTIONS") }
            let lie = req.query["archive"].flatMap { pk in data.withLock { $0.archive(pk: pk)?.countLie } }
            return list(req, anonymous, countLie: lie) { d, s in self.filteredImages(req, d).map(s.image) }

        case _ where rest.count == 3 && rest[0] == "cases" && rest[1] == "images":
            req.route(p + "cases/images/{pk}/", .listing)
            return detail(req, anonymous, "Image") { d, s in d.images[rest[2]].map(s.image) }

        case ["reader-studies"]:
            req.route(p + "reader-studies/", .listing)
            return list(req, anonymous) { d, s in
                d.readerStudies.filter { r in req.query["slug"].map { $0 == r.slug } ?? true }.map(s.readerStudy)
            }

        case ["reader-studies", "display-sets"]:
            req.route(p + "reader-studies/display-sets/", .listing)
            if req.method == .post { return try await createDisplaySet(req) }
            guard isRead else { return methodNotAllowed(req, allow: "GET, POST, HEAD, OPTIONS") }
            return list(req, anonymous) { d, s in
                d.displaySets.filter { x in req.query["reader_study"].map { $0 == x.readerStudyPK } ?? true }.map { s.displaySet($0) }
            }

        case _ where rest.count == 3 && rest[0] == "reader-studies" && rest[1] == "display-sets":
            req.route(p + "reader-studies/display-sets/{pk}/", .listing)
            if req.method == .patch || req.method == .put { return try await updateValues(req, displaySet: rest[2]) }
            if req.method == .delete {
                let removed = data.withLock { d in d.displaySets.firstIndex { $0.pk == rest[2] }.map { d.displaySets.remove(at: $0) } }
                return removed == nil ? notFound("DisplaySet") : Response(status: .noContent)
            }
            guard isRead else { return methodNotAllowed(req, allow: "GET, PUT, PATCH, DELETE, HEAD, OPTIONS") }
            return detail(req, anonymous, "DisplaySet") { d, s in d.displaySets.first { $0.pk == rest[2] }.map { s.displaySet($0) } }

        case _ where rest.count == 2 && rest[0] == "reader-studies":
            req.route(p + "reader-studies/{pk}/", .listing)
            return detail(req, anonymous, "ReaderStudy") { d, s in d.readerStudy(pk: rest[1]).map(s.readerStudy) }

        case ["algorithms"]:
            req.route(p + "algorithms/", .listing)
            return list(req, anonymous) { d, s in d.algorithms.filter { a in req.query["slug"].map { $0 == a.slug } ?? true }.map(s.algorithm) }

        case ["algorithms", "images"]:
            req.route(p + "algorithms/images/", .listing)
            return list(req, anonymous) { d, s in
                d.algorithms.filter { a in req.query["algorithm"].map { $0 == a.pk } ?? true }.map(s.algorithmImage)
            }

        case _ where rest.count == 3 && rest[0] == "algorithms" && rest[1] == "images":
            req.route(p + "algorithms/images/{pk}/", .listing)
            return detail(req, anonymous, "AlgorithmImage") { d, s in d.algorithms.first { $0.imagePK == rest[2] }.map(s.algorithmImage) }

        case ["algorithms", "jobs"]:
            req.route(p + "algorithms/jobs/", req.method == .post ? .other : .listing)
            if req.method == .post { return try await createJob(req) }
            guard isRead else { return methodNotAllowed(req, allow: "GET, POST, HEAD, OPTIONS") }
            let now = Date()
            data.withLock { $0.finishJobs(now: now) }
            return list(req, anonymous) { d, s in self.filteredJobs(req, d).map { s.job($0, now: now) } }

        case _ where rest.count == 3 && rest[0] == "algorithms" && rest[1] == "jobs":
            req.route(p + "algorithms/jobs/{pk}/", .listing)
            let now = Date()
            data.withLock { $0.finishJobs(now: now) }
            return detail(req, anonymous, "Job") { d, s in d.jobs[rest[2]].map { s.job($0, now: now) } }

        case _ where rest.count == 2 && rest[0] == "algorithms":
            req.route(p + "algorithms/{pk}/", .listing)
            return detail(req, anonymous, "Algorithm") { d, s in d.algorithm(pk: rest[1]).map(s.algorithm) }

        case ["components", "interfaces"]:
            req.route(p + "components/interfaces/", .listing)
            return list(req, anonymous) { d, s in d.sockets.filter { x in req.query["slug"].map { $0 == x.slug } ?? true }.map(s.socket) }

        case _ where rest.count == 3 && rest[0] == "components" && rest[1] == "interfaces":
            req.route(p + "components/interfaces/{pk}/", .listing)
            return detail(req, anonymous, "ComponentInterface") { d, s in d.sockets.first { String($0.pk) == rest[2] }.map(s.socket) }

        case _ where rest.first == "uploads":
            return try await uploads(req, Array(rest.dropFirst()), anonymous)

        default:
            req.route(p + "(unknown)")
            return notFound()
        }
    }

    /// A paginated list; the anonymous user sees an empty one (permission-filtered, as guardian does).
    func list(_ req: SandboxRequest, _ anonymous: Bool, countLie: Int? = nil, _ rows: (GCData, GCSerializer) -> [JSON]) -> Response {
        let all: [JSON] = anonymous ? [] : data.withLock { d in rows(d, serializer(req, d)) }
        return page(req, all, countLie: countLie)
    }

    /// A detail; 404 for a missing or (anonymous) unpermitted object.
    func detail(_ req: SandboxRequest, _ anonymous: Bool, _ model: String, _ find: (GCData, GCSerializer) -> JSON?) -> Response {
        guard !anonymous, let object = data.withLock({ d in find(d, serializer(req, d)) }) else {
            return notFound(model)
        }
        return Reply.json(.ok, object)
    }

    /// Images filtered by `archive`, `reader_study`, `name`, `job_input`, `job_output` (unknown filters are ignored).
    func filteredImages(_ req: SandboxRequest, _ d: GCData) -> [GCImage] {
        var pks = d.imageOrder
        if let archive = req.query["archive"] { let keep = d.imagePKs(inArchive: archive); pks = pks.filter { keep.contains($0) } }
        if let study = req.query["reader_study"] { let keep = d.imagePKs(inReaderStudy: study); pks = pks.filter { keep.contains($0) } }
        if let job = req.query["job_input"] { let keep = Set(d.jobs[job]?.inputs.compactMap(\.imagePK) ?? []); pks = pks.filter { keep.contains($0) } }
        if let job = req.query["job_output"] { let keep = Set(d.jobs[job]?.outputs.compactMap(\.imagePK) ?? []); pks = pks.filter { keep.contains($0) } }
        var images = pks.compactMap { d.images[$0] }
        if let name = req.query["name"] { images = images.filter { $0.name == name } }
        return images
    }

    /// Jobs filtered by `algorithm_image__algorithm`, `input_image`, `output_image`.
    func filteredJobs(_ req: SandboxRequest, _ d: GCData) -> [GCJob] {
        var jobs = d.jobOrder.compactMap { d.jobs[$0] }
        if let a = req.query["algorithm_image__algorithm"] { jobs = jobs.filter { $0.algorithmPK == a } }
        if let i = req.query["input_image"] { jobs = jobs.filter { $0.inputs.contains { $0.imagePK == i } } }
        if let o = req.query["output_image"] { jobs = jobs.filter { $0.outputs.contains { $0.imagePK == o } } }
        return jobs
    }

    // MARK: files

    /// `GET|HEAD /media/images/<a>/<b>/<image pk>/<file pk>/<name>`: the image file (token required).
    func media(_ req: SandboxRequest) -> Response {
        let seg = req.segments
        req.route("/media/images/{a}/{b}/{image}/{file}/{name}", .download)
        guard req.method == .get || req.method == .head else { return methodNotAllowed(req, allow: "GET, HEAD") }
        switch authenticate(req) {
        case .failure(let e): return e.response
        case .success(.anonymous): return notFound()
        case .success(.user): break
        }
        guard seg.count == 7, seg[1] == "images",
              let image = data.withLock({ $0.images[seg[4]] }), image.filePK == seg[5], image.name == seg[6] else { return notFound() }
        return FileServer.serve(req, ServedFile(body: image.body, contentType: "application/octet-stream",
                                                contentDisposition: "attachment; filename=\"\(image.name)\"",
                                                etag: "\"\(image.body.validator)\""))
    }
}
