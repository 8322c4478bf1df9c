import FlowFiles
import Foundation
import Hummingbird
import NIOCore

/// Writes: user uploads in parts (S3 multipart behind the API), archive items and display sets
/// (create, then PATCH values), and algorithm jobs.
extension GrandChallengeEmulator {
    // MARK: uploads

    func uploads(_ req: SandboxRequest, _ rest: [String], _ anonymous: Bool) async throws -> Response {
        let p = "/api/v1/uploads/"
        if rest.isEmpty {
            req.route(p, req.method == .post ? .upload : .listing)
            if req.method == .post { return try await createUpload(req) }
            return list(req, anonymous) { d, s in d.uploadOrder.compactMap { d.uploads[$0] }.map { s.upload($0) } }
        }
        if rest.count == 1 {
            req.route(p + "{pk}/", .listing)
            return detail(req, anonymous, "UserUpload") { d, s in d.uploads[rest[0]].map { s.upload($0) } }
        }
        guard rest.count == 3 else { req.route(p + "(unknown)"); return notFound() }
        let (pk, s3, action) = (rest[0], rest[1], rest[2])
        req.route(p + "{pk}/{s3_upload_id}/\(action)/", .upload)
        // The upload must exist with this s3_upload_id (an aborted upload has none any more).
        guard data.withLock({ $0.uploads[pk].map { !$0.s3UploadID.isEmpty && $0.s3UploadID == s3 } ?? false }) else {
            return notFound("UserUpload")
        }
        switch action {
        case "generate-presigned-urls":
            guard req.method == .patch else { return methodNotAllowed(req, allow: "PATCH, OPTIONS") }
            return try await presign(req, pk: pk, s3: s3)
        case "complete-multipart-upload":
            guard req.method == .patch else { return methodNotAllowed(req, allow: "PATCH, OPTIONS") }
            return try await complete(req, pk: pk)
        case "abort-multipart-upload":
            guard req.method == .patch else { return methodNotAllowed(req, allow: "PATCH, OPTIONS") }
            _ = try await req.body(maxSize: 1 << 16)
            let json: JSON = data.withLock { d in
                d.uploads[pk]!.status = "Aborted"
                d.uploads[pk]!.s3UploadID = ""
                d.uploads[pk]!.parts = [:]
                return serializer(req, d).upload(d.uploads[pk]!)
            }
            return Reply.json(.ok, json)
        case "list-parts":
            let json: JSON = data.withLock { d in
                let u = d.uploads[pk]!
                let parts: [JSON] = u.parts.keys.sorted().map { n in
                    .object([("ETag", .string(Self.etag(u.parts[n]!))), ("PartNumber", .int(Int64(n))),
                             ("LastModified", .string(GCSerializer.timestamp(u.created))), ("Size", .int(u.parts[n]!.size))])
                }
                return serializer(req, d).upload(u, extra: [("parts", .array(parts))])
            }
            return Reply.json(.ok, json)
        default:
            return notFound()
        }
    }

    func createUpload(_ req: SandboxRequest) async throws -> Response {
        guard let body = try await jsonBody(req) else { return badRequest(.object([("detail", "JSON parse error")])) }
        guard let filename = body["filename"] as? String, !filename.isEmpty else {
            return badRequest(.object([("filename", ["This field is required."])]))
        }
        if filename.contains("/") || filename.contains("\\") || filename == "." || filename == ".." {
            return badRequest(.object([("filename", [.string("\(filename) is not a valid filename")])]))
        }
        if filename.count > 128 {
            return badRequest(.object([("filename", ["Ensure this field has no more than 128 characters."])]))
        }
        let json: JSON? = data.withLock { d in
            if d.uploads.count >= 2000 { return nil }
            let pk = d.newUUID("upload")
            let upload = GCUpload(pk: pk, filename: filename, s3UploadID: d.newUUID("s3").replacingOccurrences(of: "-", with: ""),
                                  status: "Initialized", created: Date())
            d.uploads[pk] = upload
            d.uploadOrder.append(pk)
            return serializer(req, d).upload(upload)
        }
        guard let json else { return nonField("You have created too many uploads. Please try again later.") }
        return Reply.json(.created, json)
    }

    func presign(_ req: SandboxRequest, pk: String, s3: String) async throws -> Response {
        guard let body = try await jsonBody(req), let numbers = body["part_numbers"] as? [Any] else {
            return badRequest(.object([("part_numbers", ["This field is required."])]))
        }
        let parts = numbers.compactMap { ($0 as? NSNumber)?.intValue }
        guard parts.count == numbers.count, parts.allSatisfy({ (1...10_000).contains($0) }) else {
            return badRequest(.object([("part_numbers", ["Part numbers must be integers from 1 to 10000."])]))
        }
        let quota = uploadQuotaBytes
        let json: JSON? = data.withLock { d in
            if let quota {
                let used = d.uploads.values.reduce(Int64(0)) { sum, u in
                    sum + (u.body?.size ?? 0) + u.parts.values.reduce(Int64(0)) { $0 + $1.size }
                }
                if used >= quota { return nil }
            }
            // Hostile: the part URLs of `*hostile-presign-elsewhere*` name `localhost`, another origin than the API's.
            let elsewhere = hostile && d.uploads[pk]!.filename.contains("hostile-presign-elsewhere")
            let origin = elsewhere ? req.origin.replacingOccurrences(of: "127.0.0.1", with: "localhost") : req.origin
            let urls: [(String, JSON)] = parts.map { n in (String(n), .string(partURL(origin, pk: pk, s3: s3, part: n, seed: d.seed))) }
            return serializer(req, d).upload(d.uploads[pk]!, extra: [("presigned_urls", .object(urls))])
        }
        guard let json else { return detail("Upload limit reached", .forbidden) }
        return Reply.json(.ok, json)
    }

    func partURL(_ origin: String, pk: String, s3: String, part: Int, seed: UInt64) -> String {
        origin + "/storage/uploads/\(pk)/\(s3)/\(part)?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=600"
            + "&X-Amz-Signature=\(Self.signature(pk: pk, s3: s3, part: part, seed: seed))"
    }

    static func signature(pk: String, s3: String, part: Int, seed: UInt64) -> String {
        String(format: "%016llx", SplitMix64.mix(seed ^ stableHash("\(pk)/\(s3)/\(part)")))
    }

    /// The ETag S3 gives a part: its quoted MD5.
    static func etag(_ part: SpooledFile) -> String { "\"" + part.md5 + "\"" }

    /// `PUT /storage/uploads/<pk>/<s3_upload_id>/<part>?X-Amz-Signature=...`: the presigned part
    /// URL (S3's role: no token, the signature authorises; answers the part's `ETag`).
    func putPart(_ req: SandboxRequest) async throws -> Response {
        req.route("/storage/uploads/{pk}/{s3_upload_id}/{part}", .upload)
        let seg = req.segments
        func s3Error(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
            Reply.text(status, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>\(code)</Code><Message>\(message)</Message></Error>",
                       contentType: "application/xml")
        }
        guard req.method == .put else { return s3Error(.methodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.") }
        guard seg.count == 5, seg[1] == "uploads", let part = Int(seg[4]), (1...10_000).contains(part) else {
            return s3Error(.notFound, "NoSuchKey", "The specified key does not exist.")
        }
        let (pk, s3) = (seg[2], seg[3])
        let seed = data.withLock { $0.seed }
        guard req.query["X-Amz-Signature"] == Self.signature(pk: pk, s3: s3, part: part, seed: seed) else {
            return s3Error(.forbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
        }
        storageRecord.withLock { r in
            r.puts += 1
            if req.header("Authorization") != nil { r.withAuthorization += 1 }
            if let host = req.request.head.authority ?? req.header("Host") { r.hosts.insert(host) }
        }
        // Hostile: the first upload of a `*hostile-parts-500*` file takes part 1, then answers 500 for ever.
        if hostile, part >= 2, data.withLock({ d in
            guard let name = d.uploads[pk]?.filename, name.contains("hostile-parts-500") else { return false }
            return d.uploadOrder.first { d.uploads[$0]?.filename == name } == pk
        }) {
            _ = try await req.body(maxSize: 256 << 20)
            return s3Error(.internalServerError, "InternalError", "We encountered an internal error. Please try again.")
        }
        // Spooled to disk as it arrives: parts of a 10 GiB upload never sit in memory.
        let body = try await SpooledFile.receive(req)
        let stored: Bool = data.withLock { d in
            guard let u = d.uploads[pk], u.status == "Initialized", u.s3UploadID == s3 else { return false }
            d.uploads[pk]!.parts[part] = body
            return true
        }
        guard stored else {
            return s3Error(.notFound, "NoSuchUpload", "The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed.")
        }
        return Reply.bytes(.ok, contentType: nil, ByteBuffer(), headers: [.eTag: Self.etag(body)])
    }

    func complete(_ req: SandboxRequest, pk: String) async throws -> Response {
        guard let body = try await jsonBody(req), let parts = body["parts"] as? [[String: Any]] else {
            return badRequest(.object([("parts", ["This field is required."])]))
        }
        let listed: [(Int, String)] = parts.compactMap { p in
            guard let n = (p["PartNumber"] as? NSNumber)?.intValue, let tag = p["ETag"] as? String else { return nil }
            return (n, tag)
        }
        guard listed.count == parts.count else { return badRequest(.object([("parts", ["Each part needs ETag and PartNumber."])])) }
        let result: Result<JSON, ResponseError> = data.withLock { d in
            var u = d.uploads[pk]!
            guard u.status == "Initialized" else {
                return .failure(ResponseError(response: badRequest(.object([("status", .array([.string("Upload is \(u.status)")]))]))))
            }
            // Parts must ascend and match what was PUT (S3's InvalidPartOrder / InvalidPart).
            guard zip(listed, listed.dropFirst()).allSatisfy({ $0.0 < $1.0 }) else {
                return .failure(ResponseError(response: badRequest(.object([("detail", "An error occurred (InvalidPartOrder) when calling the CompleteMultipartUpload operation")]))))
            }
            var whole: [SpooledFile] = []
            for (n, tag) in listed {
                guard let bytes = u.parts[n], Self.etag(bytes) == tag || Self.etag(bytes) == "\"\(tag)\"" else {
                    return .failure(ResponseError(response: badRequest(.object([("detail", .string("An error occurred (InvalidPart) when calling the CompleteMultipartUpload operation: part \(n)"))]))))
                }
                whole.append(bytes)
            }
            u.body = SpooledFile.body(whole)
            u.parts = [:]
            u.status = "Completed"
            d.uploads[pk] = u
            return .success(serializer(req, d).upload(u))
        }
        switch result {
        case .success(let json): return Reply.json(.ok, json)
        case .failure(let e): return e.response
        }
    }

    // MARK: archive items and display sets

    func createArchiveItem(_ req: SandboxRequest) async throws -> Response {
        guard let body = try await jsonBody(req) else { return badRequest(.object([("detail", "JSON parse error")])) }
        if let values = body["values"] as? [Any], !values.isEmpty { return badRequest(["Values can only be added via update"]) }
        guard let archiveURL = body["archive"] as? String else { return badRequest(.object([("archive", ["This field is required."])])) }
        let pk = Self.lastSegment(archiveURL)
        let json: JSON? = data.withLock { d in
            guard d.archive(pk: pk) != nil else { return nil }
            let item = GCArchiveItem(pk: d.newUUID("archive-item"), archivePK: pk, title: body["title"] as? String ?? "", values: [])
            d.archiveItems.append(item)
            return serializer(req, d).archiveItem(item, post: true)
        }
        guard let json else { return badRequest(.object([("archive", ["Invalid hyperlink - Object does not exist."])])) }
        return Reply.json(.created, json)
    }

    func createDisplaySet(_ req: SandboxRequest) async throws -> Response {
        guard let body = try await jsonBody(req) else { return badRequest(.object([("detail", "JSON parse error")])) }
        if let values = body["values"] as? [Any], !values.isEmpty { return badRequest(["Values can only be added via update"]) }
        guard let slug = body["reader_study"] as? String else { return badRequest(.object([("reader_study", ["This field is required."])])) }
        let json: JSON? = data.withLock { d in
            guard let study = d.readerStudies.first(where: { $0.slug == slug }) else { return nil }
            var order = (body["order"] as? NSNumber)?.intValue ?? 0
            if order == 0 { order = (d.displaySets.filter { $0.readerStudyPK == study.pk }.map(\.order).max() ?? 0) + 10 }
            let set = GCDisplaySet(pk: d.newUUID("display-set"), readerStudyPK: study.pk, title: body["title"] as? String ?? "",
                                   order: order, values: [])
            d.displaySets.append(set)
            return serializer(req, d).displaySet(set, post: true)
        }
        guard let json else { return badRequest(.object([("reader_study", [.string("Object with slug=\(slug) does not exist.")])])) }
        return Reply.json(.created, json)
    }

    /// PATCH (keeps sockets not mentioned) or PUT (replaces all) of an item's or display set's values.
    func updateValues(_ req: SandboxRequest, archiveItem: String? = nil, displaySet: String? = nil) async throws -> Response {
        guard let body = try await jsonBody(req) else { return badRequest(.object([("detail", "JSON parse error")])) }
        let requests = body["values"] as? [[String: Any]] ?? []
        let replaceAll = req.method == .put
        let result: Result<JSON, ResponseError> = data.withLock { d in
            let existing: [GCValue]
            if let pk = archiveItem {
                guard let item = d.archiveItems.first(where: { $0.pk == pk }) else { return .failure(ResponseError(response: notFound("ArchiveItem"))) }
                existing = item.values
            } else {
                guard let set = d.displaySets.first(where: { $0.pk == displaySet }) else { return .failure(ResponseError(response: notFound("DisplaySet"))) }
                existing = set.values
            }
            var values = replaceAll ? [] : existing
            for request in requests {
                switch makeValue(request, &d) {
                case .failure(let e): return .failure(e)
                case .success(let v):
                    values.removeAll { $0.socket == v.socket }
                    values.append(v)
                }
            }
            let s = serializer(req, d)
            if let pk = archiveItem, let i = d.archiveItems.firstIndex(where: { $0.pk == pk }) {
                d.archiveItems[i].values = values
                return .success(GCSerializer(api: s.api, origin: s.origin, data: d).archiveItem(d.archiveItems[i], post: true))
            }
            let i = d.displaySets.firstIndex { $0.pk == displaySet }!
            d.displaySets[i].values = values
            return .success(GCSerializer(api: s.api, origin: s.origin, data: d).displaySet(d.displaySets[i], post: true))
        }
        switch result {
        case .success(let json): return Reply.json(.ok, json)
        case .failure(let e): return e.response
        }
    }

    /// One socket value from a `ComponentInterfaceValuePostRequest`: exactly one source, fitting the socket's super kind.
    func makeValue(_ r: [String: Any], _ d: inout GCData) -> Result<GCValue, ResponseError> {
        func invalid(_ field: String, _ text: String) -> Result<GCValue, ResponseError> {
            let error: JSON = .object([(field, .array([.string(text)]))])
            return .failure(ResponseError(response: badRequest(.object([("values", .array([error]))]))))
        }
        guard let slug = r["interface"] as? String else { return invalid("interface", "This field is required.") }
        guard let socket = d.socket(slug) else { return invalid("interface", "Object with slug=\(slug) does not exist.") }
        let sources = ["value", "file", "image", "upload_session", "user_upload", "user_uploads"].filter { r[$0] != nil && !(r[$0] is NSNull) }
        guard sources.count == 1 else {
            return invalid("non_field_errors", "Only one of value, file, image, upload_session, user_upload or user_uploads should be provided (got \(sources.count)).")
        }
        switch (socket.superKind, sources[0]) {
        case ("Image", "image"):
            guard let url = r["image"] as? String, d.images[Self.lastSegment(url)] != nil else {
                return invalid("image", "Invalid hyperlink - Object does not exist.")
            }
            return .success(d.value(socket: slug, imagePK: Self.lastSegment(url)))
        case ("Image", "user_uploads"):
            let pks = (r["user_uploads"] as? [String] ?? []).map(Self.lastSegment)
            guard !pks.isEmpty, pks.allSatisfy({ d.uploads[$0]?.status == "Completed" }) else {
                return invalid("user_uploads", "Uploads must exist and be completed.")
            }
            // Hostile: a `*hostile-vanishes*` upload is accepted (200), but its image never appears.
            if hostile, d.uploads[pks[0]]?.filename.contains("hostile-vanishes") == true {
                return .success(d.value(socket: slug, imagePK: d.newUUID("vanished-image")))
            }
            guard let image = d.imageFromUploads(pks) else { return invalid("user_uploads", "Uploads must exist and be completed.") }
            return .success(d.value(socket: slug, imagePK: image.pk))
        case ("Value", "value"):
            return .success(d.value(socket: slug, value: JSON.from(r["value"])))
        default:
            return invalid(sources[0], "\(sources[0]) cannot be used for socket \(slug) of kind \(socket.superKind).")
        }
    }

    // MARK: algorithm jobs

    /// Consumes one of `failNextJobs`, if any.
    func takeForcedFailure() -> Bool {
        settings.withLock { s in
            guard s.failNextJobs > 0 else { return false }
            s.failNextJobs -= 1
            return true
        }
    }

    func createJob(_ req: SandboxRequest) async throws -> Response {
        guard let body = try await jsonBody(req) else { return badRequest(.object([("detail", "JSON parse error")])) }
        guard let algorithmURL = body["algorithm"] as? String else { return badRequest(.object([("algorithm", ["This field is required."])])) }
        guard let inputs = body["inputs"] as? [[String: Any]] else { return badRequest(.object([("inputs", ["This field is required."])])) }
        let settings = self.settings.withLock { $0 }
        let now = Date()
        let result: Result<JSON, ResponseError> = data.withLock { d in
            guard let algorithm = d.algorithm(pk: Self.lastSegment(algorithmURL)) else {
                return .failure(ResponseError(response: badRequest(.object([("algorithm", ["Invalid hyperlink - Object does not exist."])]))))
            }
            let given = Set(inputs.compactMap { $0["interface"] as? String })
            guard given == Set(algorithm.inputs), given.count == inputs.count else {
                return .failure(ResponseError(response: nonField("The set of inputs provided does not match any of the allowed algorithm interfaces. "
                    + "The following input combinations are allowed: Interface 1: \(algorithm.inputs.joined(separator: ", "))")))
            }
            d.finishJobs(now: now)
            if d.activeJobs(now: now) >= GCData.maxActiveJobs {
                return .failure(ResponseError(response: nonField("You have too many active jobs, please try again after they have completed")))
            }
            var values: [GCValue] = []
            for input in inputs {
                switch makeValue(input, &d) {
                case .failure(let e): return .failure(e)
                case .success(let v): values.append(v)
                }
            }
            let imagePKs = Set(values.compactMap(\.imagePK))
            let duplicate = d.jobs.values.contains { job in
                job.algorithmPK == algorithm.pk && Set(job.inputs.compactMap(\.imagePK)) == imagePKs
                    && !["Failed", "Cancelled"].contains(d.status(of: job, now: now))
            }
            if duplicate {
                return .failure(ResponseError(response: nonField("A result for these inputs with the current image and model already exists.")))
            }
            let names = values.compactMap { $0.imagePK.flatMap { d.images[$0]?.name } }
            var failure: String? = nil
            if let marked = names.first(where: { $0.lowercased().contains("fail") }) {
                failure = "Time limit exceeded while processing \(marked)"
            } else if self.takeForcedFailure() {
                failure = "The container exited with code 1: lobe model could not find the lungs"
            }
            let job = GCJob(pk: d.newUUID("job"), algorithmPK: algorithm.pk, inputs: values, created: now,
                            step: settings.jobStepSeconds, failure: failure)
            d.jobs[job.pk] = job
            d.jobOrder.append(job.pk)
            return .success(serializer(req, d).jobPost(job))
        }
        switch result {
        case .success(let json): return Reply.json(.created, json)
        case .failure(let e): return e.response
        }
    }
}

extension JSON {
    /// A `JSONSerialization` value as `JSON` (object keys sorted: their order is not kept by Foundation).
    static func from(_ any: Any?) -> JSON {
        switch any {
        case nil, is NSNull: return .null
        case let s as String: return .string(s)
        case let n as NSNumber:
            if String(cString: n.objCType) == "c" { return .bool(n.boolValue) }  // booleans are char-typed NSNumbers
            if n.doubleValue == n.doubleValue.rounded(), abs(n.doubleValue) < 1e15 { return .int(n.int64Value) }
            return .double(n.doubleValue)
        case let a as [Any]: return .array(a.map { from($0) })
        case let o as [String: Any]: return .object(o.keys.sorted().map { ($0, from(o[$0])) })
        default: return .null
        }
    }
}
