import Foundation
import FlowConnector
import FlowHTTP
import FlowModel

/// Uploads: one local file becomes a new case of an archive or reader study, as gcapi's
/// `add_case_to_archive` / `add_case_to_reader_study` do it: a user upload in parts (presigned
/// part URLs, PUT, complete; abort on any failure), then an archive item or display set created
/// empty and PATCHed with the upload as its image.
extension GrandChallengeConnector {
    /// The socket new cases use unless `into` names one.
    static let defaultSocket = "generic-medical-image"
    /// Part URLs asked for at once (gcapi asks for 5).
    static let presignBatch = 5

    /// Keeps upload ids in the run's journal (see `sendInParts`).
    public func resumeUploads(in store: any UploadResumeStore) { resume.use(store) }

    /// Sends `file` into `destination["archive"]` or `destination["reader-study"]` (a slug), named
    /// after its relative path (see `remoteName`). Idempotent by name: an image of that name already in the target is returned untouched
    /// (`transferred: false`) unless `overwrite`, which adds another case.
    public func upload(_ file: LocalFile, into destination: [String: String], overwrite: Bool) async throws -> UploadOutcome {
        let target = try await uploadTarget(destination)
        let name = Self.remoteName(file.relativePath)
        guard !name.isEmpty, name.count <= 128 else { throw ConnectorError.local("cannot upload \"\(file.relativePath)\": Grand Challenge file names are 1-128 characters") }
        if !overwrite, let existing = try await images(in: target, name: name).first {
            return UploadOutcome(item: try item(for: existing, in: target), transferred: false)
        }
        let upload = try await sendInParts(file, as: name)
        try await addCase(to: target, upload: upload, socket: destination["socket"] ?? Self.defaultSocket)
        return UploadOutcome(item: try await waitForImage(named: name, in: target), transferred: true)
    }

    /// The image name of a local file: its relative path with `/` as `_` (`patient1/ct.mha` ->
    /// `patient1_ct.mha`), since names are flat on Grand Challenge and tell cases apart for re-runs.
    static func remoteName(_ relativePath: String) -> String {
        relativePath.split(separator: "/").filter { $0 != "." && $0 != ".." }.joined(separator: "_")
    }

    /// The archive or reader study `into` names.
    func uploadTarget(_ destination: [String: String]) async throws -> Container {
        if let slug = destination["archive"], !slug.isEmpty {
            guard let archive = try await all(APIArchive.self, "archives/", [("slug", slug)]).first(where: { $0.slug == slug }) else {
                throw ConnectorError.badReply("no archive `\(slug)` on \(base) (or the token may not see it)")
            }
            return Self.container(archive)
        }
        if let slug = destination["reader-study"], !slug.isEmpty {
            guard let study = try await all(APIReaderStudy.self, "reader-studies/", [("slug", slug)]).first(where: { $0.slug == slug }) else {
                throw ConnectorError.badReply("no reader study `\(slug)` on \(base) (or the token may not see it)")
            }
            return Self.container(study)
        }
        throw ConnectorError.unsupported("a Grand Challenge upload needs `into: {archive: <slug>}` or `into: {reader-study: <slug>}`")
    }

    /// Creates a user upload and sends the file in parts; aborts the upload if anything fails,
    /// so a failed or retried attempt leaves no open upload behind. The upload's id goes to the
    /// run's journal first (`UploadResumeStore`): after a kill, the next run asks S3 which parts it
    /// holds (`list-parts`) and sends only the others.
    func sendInParts(_ file: LocalFile, as name: String) async throws -> APIUpload {
        let resumeKey = Self.resumeKey(file, name: name, base: base, partSize: partSize)
        var held: [Int: String] = [:]
        var resumed: (pk: String, s3: String)?
        if let saved = resume.store?.value(resumeKey) {
            let ids = saved.split(separator: " ").map(String.init)
            if ids.count == 2, let listed = try? await send("GET", api("uploads/\(ids[0])/\(ids[1])/list-parts/"), nil, accept: [404]),
               listed.status == 200, let upload = try? SourceSession.decode(APIUpload.self, listed.body, from: "list-parts"),
               upload.status != "Completed", upload.status != "Aborted", upload.s3_upload_id == ids[1] {
                resumed = (ids[0], ids[1])
                // A part counts only when S3 holds all of its bytes.
                for part in upload.parts ?? [] where part.Size == nil || part.Size == partLength(part.PartNumber, of: file.size) {
                    held[part.PartNumber] = part.ETag
                }
            }
        }
        let pk: String, s3: String
        if let resumed {
            (pk, s3) = resumed
        } else {
            let created = try await send("POST", api("uploads/"), ["filename": name])
            let upload = try SourceSession.decode(APIUpload.self, created.body, from: "POST uploads/")
            (pk, s3) = (upload.pk, upload.s3_upload_id)
            resume.store?.set(resumeKey, "\(pk) \(s3)")
        }
        let uploadPath = "uploads/\(pk)/\(s3)/"
        do {
            // A 0-byte file still sends one (empty) part: S3 completes no upload without parts.
            let count = max(1, Int((file.size + partSize - 1) / partSize))
            var etags: [[String: Any]] = []
            let missing = (1...count).filter { held[$0] == nil }
            for batch in stride(from: 0, to: missing.count, by: Self.presignBatch) {
                let numbers = Array(missing[batch..<min(missing.count, batch + Self.presignBatch)])
                let reply = try await send("PATCH", api(uploadPath + "generate-presigned-urls/"), ["part_numbers": numbers])
                let urls = try SourceSession.decode(APIUpload.self, reply.body, from: "generate-presigned-urls").presigned_urls ?? [:]
                // The batch's parts go at once, as S3 takes them (gcapi sends them one by one):
                // one stream cannot fill a loaded link or server.
                let parts = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                    for n in numbers {
                        guard let url = urls[String(n)] else { throw ConnectorError.badReply("no presigned URL for part \(n) of \(name)") }
                        let offset = Int64(n - 1) * partSize
                        let length = partLength(n, of: file.size)
                        group.addTask { [session] in
                            let put = HTTPRequest(method: "PUT", url: url, body: .file(path: file.path, offset: offset, length: length))
                            let response = try await session.send(put)
                            guard let etag = response.headers.first("ETag") else {
                                throw ConnectorError.badReply("the part upload of \(name) answered no ETag")
                            }
                            return (n, etag)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                for (n, etag) in parts { held[n] = etag }
            }
            for n in 1...count { etags.append(["ETag": held[n]!, "PartNumber": n]) }
            let done = try await send("PATCH", api(uploadPath + "complete-multipart-upload/"), ["parts": etags])
            resume.store?.set(resumeKey, nil)
            return try SourceSession.decode(APIUpload.self, done.body, from: "complete-multipart-upload")
        } catch {
            // Stopped (SIGINT, SIGTERM): the parts stay for the next run. Failed: best effort, the
            // upload's parts are dropped server-side; the original error is what matters.
            if !Task.isCancelled {
                _ = try? await send("PATCH", api(uploadPath + "abort-multipart-upload/"), nil)
                resume.store?.set(resumeKey, nil)
            }
            throw error
        }
    }

    /// Bytes of part `n` (from 1) of a file of `size` bytes.
    func partLength(_ n: Int, of size: Int64) -> Int64 {
        max(0, min(partSize, size - Int64(n - 1) * partSize))
    }

    /// The journal key of one file's upload: the same file (path, size, modification time) to
    /// the same name and server, in the same parts.
    static func resumeKey(_ file: LocalFile, name: String, base: String, partSize: Int64) -> String {
        let modified = (try? FileManager.default.attributesOfItem(atPath: file.path)[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        return "grand-challenge \(base) \(name) \(file.path) \(file.size) \(modified) \(partSize)"
    }

    /// Creates an empty archive item or display set, then PATCHes the upload in as its image
    /// (grand-challenge.org refuses values on create). A display set left empty by a failed PATCH is deleted.
    func addCase(to target: Container, upload: APIUpload, socket: String) async throws {
        let value: [String: Any] = ["interface": socket, "value": NSNull(), "file": NSNull(), "image": NSNull(),
                                    "upload_session": NSNull(), "user_upload": NSNull(), "user_uploads": [upload.api_url],
                                    "image_name": NSNull()]
        let collection = target.kind == "archive" ? "archives/items/" : "reader-studies/display-sets/"
        let body: [String: Any] = target.kind == "archive" ? ["archive": target.apiURL] : ["reader_study": target.slug]
        let created = try SourceSession.decode(APICreated.self, try await send("POST", api(collection), body).body, from: "POST \(collection)")
        do {
            _ = try await send("PATCH", api(collection + created.pk + "/"), ["values": [value]])
        } catch {
            if target.kind == "reader_study" { _ = try? await send("DELETE", api(collection + created.pk + "/"), nil) }
            throw error
        }
    }

    /// The image grand-challenge.org made from the upload (it processes uploads in the background).
    func waitForImage(named name: String, in target: Container) async throws -> RemoteItem {
        var delay = 0.2
        let bound = spec.options["processing-timeout"].flatMap(Double.init) ?? 60
        let deadline = ContinuousClock.now + .seconds(bound)
        while true {
            if let image = try await images(in: target, name: name).first { return try item(for: image, in: target) }
            guard ContinuousClock.now + .seconds(delay) < deadline else {
                throw ConnectorError.badReply("\(name) was uploaded, but \(target.slug) shows no image of that name after \(Quantities.secondsText(bound)) "
                                              + "(still processing? the source's `processing-timeout` sets this bound); "
                                              + "a re-run finds it if it appears, or sends it again if it never does")
            }
            try await Task.sleep(for: .seconds(delay))
            delay = min(delay * 2, 5)
        }
    }

    /// The item of an image's first file, with the target's fields.
    func item(for image: APIImage, in target: Container) throws -> RemoteItem {
        guard let file = image.files.first else { throw ConnectorError.badReply("image \(image.name) (\(image.pk)) has no files") }
        return fileItem(file, of: image, fields: target.fields.merging(Self.imageFields(image)) { $1 })
    }
}
