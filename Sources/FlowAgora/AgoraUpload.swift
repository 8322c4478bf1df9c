import FlowFiles
import Foundation
import FlowConnector
import FlowHTTP
import FlowModel

/// Uploads through Agora's import protocol: flow.js chunks into an import package, `complete`
/// into the folder, wait for the import, then check the SHA-1 Agora reports. The files a run
/// announces (`plannedUploads`) go as few packages of many files, as gtagora-connector sends a
/// directory; a file not announced goes in a package of its own.
extension AgoraConnector {
    /// Files per import package, and bytes (gtagora-connector zips up to 300 MiB per package).
    static let packageFiles = 250
    static let packageBytes: Int64 = 1 << 30

    /// Remembers which files of this run go together into which folder (see `AgoraBatches`).
    public func plannedUploads(_ files: [LocalFile], into destination: [String: String]) async {
        guard let project = destination["project"], !project.isEmpty, files.count > 1 else { return }
        let folder = Self.normalized(destination["folder"] ?? destination["path"] ?? "/")
        await state.batches.plan(files, key: "\(project)|\(folder)", maxFiles: Self.packageFiles, maxBytes: Self.packageBytes)
    }

    /// Keeps import package ids in the run's journal (see `importFile`).
    public func resumeUploads(in store: any UploadResumeStore) { state.resume.use(store) }

    /// Sends `file` into `destination` (`project`, `folder`, e.g. `/Results`; the folder is created
    /// when missing). A file with the same path and SHA-1 already in the folder is not sent again;
    /// a different one is replaced only with `overwrite`.
    public func upload(_ file: LocalFile, into destination: [String: String], overwrite: Bool) async throws -> UploadOutcome {
        guard let projectName = destination["project"], !projectName.isEmpty else {
            throw ConnectorError.unsupported("Agora upload needs `into: {project: ..., folder: ...}`; `project` is missing")
        }
        let folderPath = Self.normalized(destination["folder"] ?? destination["path"] ?? "/")
        let relative = try Self.remotePath(file.relativePath)
        let batchKey = "\(projectName)|\(folderPath)"
        if let (index, _) = await state.batches.package(of: file, key: batchKey) {
            // One caller sends the package; the others of its files wait for it. A failed package
            // is tried again by the next caller (a retry of any of its files).
            let outcomes = try await packageOutcomes(batchKey, index, projectName: projectName, folderPath: folderPath, overwrite: overwrite)
            if let outcome = outcomes[file.relativePath] { return try outcome.get() }
        }

        let (folderID, context) = try await uploadFolder(projectName: projectName, folderPath: folderPath)
        let size = FileManager.default.fileSize(file.path) ?? file.size

        // The SHA-1 is hashed first only to compare with a file already there; a new file's is
        // taken while its chunks are sent (one read of the file).
        let listed = try await folderEntries(folderID, context: context)
        var replaced: Int?
        var sha1: String?
        if let existing = listed[relative] {
            let local: String
            do { local = try await FileDigest.hex(.sha1, ofFile: file.path) }
            catch let error as FileSystemError { throw ConnectorError.local(error.description) }
            if existing.checksum(.sha1) == local { return UploadOutcome(item: existing, transferred: false) }
            guard overwrite else { throw conflict(relative, existing: existing, sha1: local, folderID: folderID, folderPath: folderPath, project: projectName) }
            replaced = existing.fields["dataset.id"].flatMap(Int.init)
            sha1 = local
        }

        let datafileID: Int, datasetID: Int
        do {
            (datafileID, datasetID) = try await importFile(path: file.path, size: size, relative: relative, sha1: sha1, folder: folderID)
        } catch {
            // The import may have happened (a result that lies, a wait cut short): a retry lists the folder again.
            await state.folderFiles.forget(String(folderID))
            throw error
        }
        if let replaced, replaced != datasetID {
            _ = try await session.send(HTTPRequest(method: "DELETE", url: session.url("/api/v1/dataset/\(replaced)/")), accept: [404])
        }
        let dataset = try await session.agoraJSON("/api/v1/dataset/\(datasetID)/")
        guard let datafile = dataset["datafiles"]?.array?.first(where: { $0["id"]?.int == datafileID }) else {
            throw ConnectorError.badReply("Agora imported \(relative) as datafile \(datafileID), but dataset \(datasetID) does not list it")
        }
        var uploaded = try item(datafile: datafile, dataset: dataset, context: context)
        uploaded.fields["file.path"] = relative
        await state.folderFiles.record(String(folderID), name: relative, uploaded)
        return UploadOutcome(item: uploaded, transferred: true)
    }

    /// The outcomes of planned package `index` of a target, sent once (by whoever asks first, or
    /// started early while the package before it imports).
    func packageOutcomes(_ batchKey: String, _ index: Int, projectName: String, folderPath: String,
                         overwrite: Bool) async throws -> [String: Result<UploadOutcome, any Error>] {
        guard let files = await state.batches.files(of: index, key: batchKey) else { return [:] }
        let hasNext = await state.batches.files(of: index + 1, key: batchKey) != nil
        var next: (@Sendable () -> Void)?
        if hasNext {
            next = { [self] in
                Task {
                    _ = try? await self.packageOutcomes(batchKey, index + 1, projectName: projectName, folderPath: folderPath, overwrite: overwrite)
                }
            }
        }
        let startNext = next
        return try await state.packages.value("\(batchKey)#\(index)") { [self] in
            try await self.sendPackage(files, projectName: projectName, folderPath: folderPath, overwrite: overwrite, next: startNext)
        }
    }

    /// The target folder's id (made when missing) and the fields its items carry.
    func uploadFolder(projectName: String, folderPath: String) async throws -> (Int, Fields) {
        let project = try await state.projects.value(projectName) { [self] in try await self.project(named: projectName) }
        let folderID = try await ensureFolder(project: project, path: folderPath)
        var context = project
        context["folder.path"] = folderPath
        context["folder.id"] = String(folderID)
        return (folderID, context)
    }

    /// The refusal to replace a different remote file without `overwrite`.
    func conflict(_ relative: String, existing: RemoteItem, sha1: String, folderID: Int, folderPath: String, project: String) -> ConnectorError {
        .status(409, url: session.url("/api/v1/folder/\(folderID)/items/"), message:
            "a different \(relative) is already in \(folderPath) of \(project) (Agora SHA-1 \(existing.checksum(.sha1) ?? "unknown"), "
            + "local \(sha1)); set `overwrite: true` to replace it", retryAfter: nil)
    }

    /// Sends several files as one import package: hashes them, leaves out those already in the
    /// folder (or refuses them without `overwrite`), sends the others' chunks (as many files at
    /// once as the source allows), completes, waits for the one import, and reads the folder once
    /// for the items. Returns each file's outcome by its relative path.
    func sendPackage(_ files: [LocalFile], projectName: String, folderPath: String, overwrite: Bool,
                     next: (@Sendable () -> Void)? = nil) async throws -> [String: Result<UploadOutcome, any Error>] {
        let (folderID, context) = try await uploadFolder(projectName: projectName, folderPath: folderPath)
        let listed = try await folderEntries(folderID, context: context)
        let width = max(1, spec.concurrency)
        struct Pending: Sendable { var file: LocalFile; var relative: String; var sha1: String; var size: Int64; var replaced: Int? }
        var outcomes: [String: Result<UploadOutcome, any Error>] = [:]
        var pending: [Pending] = []

        // Hash every file (a few at a time), then decide what to send.
        let hashed = try await boundedMap(files, width: width) { file -> (LocalFile, Result<(String, Int64), any Error>) in
            do {
                let sha1 = try await FileDigest.hex(.sha1, ofFile: file.path)
                return (file, .success((sha1, FileManager.default.fileSize(file.path) ?? file.size)))
            } catch let error as FileSystemError {
                return (file, .failure(ConnectorError.local(error.description)))
            }
        }
        for (file, hash) in hashed {
            do {
                let relative = try Self.remotePath(file.relativePath)
                let (sha1, size) = try hash.get()
                var replaced: Int?
                if let existing = listed[relative] {
                    if existing.checksum(.sha1) == sha1 {
                        outcomes[file.relativePath] = .success(UploadOutcome(item: existing, transferred: false))
                        continue
                    }
                    guard overwrite else { throw conflict(relative, existing: existing, sha1: sha1, folderID: folderID, folderPath: folderPath, project: projectName) }
                    replaced = existing.fields["dataset.id"].flatMap(Int.init)
                }
                pending.append(Pending(file: file, relative: relative, sha1: sha1, size: size, replaced: replaced))
            } catch {
                outcomes[file.relativePath] = .failure(error)
            }
        }
        guard !pending.isEmpty else { return outcomes }

        // The package's id is in the journal until it is complete: a run after a kill continues
        // it and sends only the chunks it does not hold (same files, same content, same chunks).
        let members = pending.map { "\($0.relative)\n\($0.sha1)" }.sorted().joined(separator: "\n")  // hashed in any order
        let resumeKey = "agora \(session.spec.url) package \(folderID) \(Digester.hex(.sha1, of: Array(members.utf8))) \(chunkSize)"
        var resumed: Int?
        if let saved = state.resume.store?.value(resumeKey), let old = Int(saved),
           let info = try? await session.agoraJSON("/api/v1/import/\(old)/"), info["complete_date"]?.isNull ?? true {
            resumed = old
        }
        let id: Int
        if let resumed { id = resumed } else { id = try await createPackage() }
        let resuming = resumed != nil
        if !resuming { state.resume.store?.set(resumeKey, String(id)) }
        let chunkSize = self.chunkSize
        _ = try await boundedMap(pending, width: width) { [self] p -> Bool in
            let identifier = Self.flowIdentifier(size: p.size, sha1: p.sha1, relative: p.relative)
            let chunks = max(1, Int((p.size + chunkSize - 1) / chunkSize))
            for number in 1...chunks {
                if resuming, try await holdsChunk(number, identifier: identifier, package: id) { continue }
                try await sendChunk(number, of: chunks, path: p.file.path, size: p.size, relative: p.relative, package: id, identifier: identifier)
            }
            return true
        }
        try await completePackage(id, folder: folderID)
        state.resume.store?.set(resumeKey, nil)
        next?()  // the next package's chunks go while Agora imports this one
        // From here the files may be in the folder whatever goes wrong (a failed or endless wait,
        // a result that lies): a retry lists the folder again instead of importing them twice.
        let result: JSONValue
        do {
            try await waitForImport(id, relative: "\(pending.count) files")
            result = try await session.agoraJSON("/api/v1/import/\(id)/result/")
        } catch {
            await state.folderFiles.forget(String(folderID))
            throw error
        }
        var rows: [String: JSONValue] = [:]
        for row in result["datafiles"]?.array ?? [] { if let path = row["path"]?.text { rows[path] = row } }

        // The folder once, for every imported file's item.
        let now = try await listFolder(folderID, context: context)
        for p in pending {
            do {
                guard let row = rows[p.relative], let datafile = row["id"]?.int, let dataset = row["dataset"]?.int else {
                    throw ConnectorError.badReply("the import of \(p.relative) finished, but its result does not list the file")
                }
                let remote = (row["sha1"]?.text ?? "").lowercased()
                guard remote == p.sha1 else {
                    throw ConnectorError.integrity("\(p.relative): Agora imported SHA-1 \(remote), the local file is \(p.sha1)")
                }
                if let replaced = p.replaced, replaced != dataset {
                    _ = try await session.send(HTTPRequest(method: "DELETE", url: session.url("/api/v1/dataset/\(replaced)/")), accept: [404])
                }
                guard let item = now[p.relative], item.fields["file.id"] == String(datafile) else {
                    throw ConnectorError.badReply("Agora imported \(p.relative) as datafile \(datafile), but folder \(folderPath) does not list it")
                }
                await state.folderFiles.record(String(folderID), name: p.relative, item)
                outcomes[p.file.relativePath] = .success(UploadOutcome(item: item, transferred: true))
            } catch {
                // Imported, but not as it should be: a retry lists the folder again rather than import it twice.
                await state.folderFiles.forget(String(folderID))
                outcomes[p.file.relativePath] = .failure(error)
            }
        }
        return outcomes
    }

    /// Project fields (`project.id`, `project.name`, `project.root_folder`) of the project with this exact name.
    func project(named name: String) async throws -> Fields {
        let rows = try await session.agoraList("/api/v2/project/", query: [("name", name)])
        guard let row = rows.first(where: { $0["name"]?.text == name }), let id = row["id"]?.int,
              let root = row["root_folder"]?.int else {
            throw ConnectorError.badReply("Agora has no project named \"\(name)\" (or no access to it)")
        }
        return ["project.id": String(id), "project.name": name, "project.root_folder": String(root)]
    }

    /// The folder at `path` in the project, made (one level at a time) when missing; concurrent
    /// uploads into the same folder create it once.
    func ensureFolder(project: Fields, path: String) async throws -> Int {
        let root = Int(project["project.root_folder"]!)!
        return try await state.folders.value("\(project["project.id"]!)|\(path)") { [self] in
            var current = root
            for part in path.split(separator: "/").map(String.init) {
                if let next = try await subfolders(current).first(where: { $0.0 == part })?.1 {
                    current = next
                    continue
                }
                let body = Array("{\"name\":\(Self.jsonString(part))}".utf8)
                let response = try await session.send(HTTPRequest(method: "POST", url: session.url("/api/v1/folder/\(current)/new/"),
                                                                  headers: ["Content-Type": "application/json"], body: .bytes(body)),
                                                      accept: [400])
                if response.status == 201, let value = try? SourceSession.decode(JSONValue.self, response.body, from: "folder new"),
                   let id = value["content_object"]?["id"]?.int ?? value["object_id"]?.int {
                    current = id
                } else if let id = try await subfolders(current).first(where: { $0.0 == part })?.1 {
                    current = id  // someone else made it meanwhile
                } else {
                    throw ConnectorError.badReply("Agora did not create folder \(ErrorText.quoted(part)) (HTTP \(response.status))")
                }
            }
            return current
        }
    }

    /// The folder's datafiles by relative path, listed once per run (then kept up to date with
    /// this connector's uploads).
    func folderEntries(_ folder: Int, context: Fields) async throws -> [String: RemoteItem] {
        try await state.folderFiles.entries(String(folder)) { [self] in try await listFolder(folder, context: context) } ?? [:]
    }

    /// The datafiles of a folder's datasets by relative path, as they are now.
    func listFolder(_ folder: Int, context: Fields) async throws -> [String: RemoteItem] {
        var files: [String: RemoteItem] = [:]
        for entry in try await session.agoraList("/api/v1/folder/\(folder)/items/") where entry["content_type"]?.text == "dataset" {
            guard let dataset = entry["content_object"] else { continue }
            for file in dataset["datafiles"]?.array ?? [] {
                guard let path = file["relative_path"]?.text ?? file["original_filename"]?.text else { continue }
                var found = try item(datafile: file, dataset: dataset, context: context)
                found.fields["file.path"] = path
                files[path] = found
            }
        }
        return files
    }

    /// Runs the import protocol for one file; returns the datafile and dataset ids Agora reports.
    /// A retry after a failure (same connector), or a run after a kill (the package id is in the
    /// journal, `UploadResumeStore`), continues the same package and skips the chunks the server
    /// already holds.
    /// `sha1` is the file's when already known; else it is taken while the chunks are sent, and
    /// the package is named by the file's size and modification time (a run after a kill finds
    /// it without hashing the file first).
    func importFile(path: String, size: Int64, relative: String, sha1 known: String?, folder: Int) async throws -> (Int, Int) {
        let version = Self.fileVersion(path, size: size)
        let key = "\(folder)|\(relative)|\(version)"
        let identifier = Self.flowIdentifier(size: size, sha1: version, relative: relative)
        let resumeKey = "agora \(session.spec.url) \(key) \(chunkSize)"
        var package: PendingUpload?
        var candidate = await state.pendingUploads.get(key)
        if candidate == nil, let saved = state.resume.store?.value(resumeKey), let id = Int(saved) {
            candidate = PendingUpload(package: id, identifier: identifier)
        }
        if let pending = candidate,
           let info = try? await session.agoraJSON("/api/v1/import/\(pending.package)/"),
           info["complete_date"]?.isNull ?? true {
            package = pending
        }
        let resuming = package != nil
        if package == nil {
            package = PendingUpload(package: try await createPackage(), identifier: identifier)
            await state.pendingUploads.set(key, package)
            state.resume.store?.set(resumeKey, String(package!.package))
        }
        let id = package!.package
        let chunks = max(1, Int((size + chunkSize - 1) / chunkSize))
        // Each chunk's digest goes on from the one before: the last one's is the file's SHA-1.
        var digest: RequestBodyDigest? = known == nil ? RequestBodyDigest(.sha1) : nil
        var sentLength: Int64 = 0
        for number in 1...chunks {
            if number > 1 { digest = digest?.continued(afterLength: sentLength) }
            sentLength = max(0, min(chunkSize, size - Int64(number - 1) * chunkSize))
            if resuming, try await holdsChunk(number, identifier: identifier, package: id) { digest = nil; continue }
            try await sendChunk(number, of: chunks, path: path, size: size, relative: relative, package: id, identifier: identifier, digest: digest)
        }
        let sha1: String
        if let known { sha1 = known } else if let hashed = digest?.hex(ofLength: sentLength) { sha1 = hashed } else {
            do { sha1 = try await FileDigest.hex(.sha1, ofFile: path) }  // chunks skipped (resumed) or re-read
            catch let error as FileSystemError { throw ConnectorError.local(error.description) }
        }
        try await completePackage(id, folder: folder)
        await state.pendingUploads.set(key, nil)
        state.resume.store?.set(resumeKey, nil)
        try await waitForImport(id, relative: relative)

        let result = try await session.agoraJSON("/api/v1/import/\(id)/result/")
        guard let row = result["datafiles"]?.array?.first(where: { $0["path"]?.text == relative }),
              let datafile = row["id"]?.int, let dataset = row["dataset"]?.int else {
            throw ConnectorError.badReply("the import of \(relative) finished, but its result does not list the file")
        }
        let remote = (row["sha1"]?.text ?? "").lowercased()
        guard remote == sha1 else {
            throw ConnectorError.integrity("\(relative): Agora imported SHA-1 \(remote), the local file is \(sha1)")
        }
        return (datafile, dataset)
    }

    /// Whether the package already holds chunk `number` of a file (flow.js `testChunks`).
    func holdsChunk(_ number: Int, identifier: String, package: Int) async throws -> Bool {
        let url = session.url("/api/v1/import/\(package)/upload/") + "?flowChunkNumber=\(number)&flowIdentifier=\(URLText.query(identifier))"
        return try await session.send(HTTPRequest(url: url), accept: [204, 404, 405]).status == 200
    }

    /// A new, empty import package's id.
    func createPackage() async throws -> Int {
        let response = try await session.send(HTTPRequest(method: "POST", url: session.url("/api/v1/import/"),
                                                          headers: ["Content-Type": "application/json"], body: .bytes(Array("{}".utf8))))
        guard response.status == 201, let id = try SourceSession.decode(JSONValue.self, response.body, from: "/api/v1/import/")["id"]?.int else {
            throw ConnectorError.badReply("/api/v1/import/ answered \(response.status) without a package id")
        }
        return id
    }

    /// Ends a package's upload: Agora imports its files into the folder.
    func completePackage(_ id: Int, folder: Int) async throws {
        let complete = try await session.send(HTTPRequest(method: "POST", url: session.url("/api/v1/import/\(id)/complete/"),
                                                          headers: ["Content-Type": "application/json"],
                                                          body: .bytes(Array("{\"folder\":\(folder)}".utf8))))
        guard complete.status == 204 else {
            throw ConnectorError.badReply("/api/v1/import/\(id)/complete/ answered \(complete.status), expected 204")
        }
    }

    /// A file's size and modification time (ns): names its upload until its SHA-1 is known.
    static func fileVersion(_ path: String, size: Int64) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { return "\(size)" }
        return "\(size).\(Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))"
    }

    /// flow.js-style identifier: stable for the same content (or version) and path.
    static func flowIdentifier(size: Int64, sha1: String, relative: String) -> String {
        "\(size)-\(sha1)-" + relative.replacingOccurrences(of: "/", with: "_")
    }

    /// Sends chunk `number` (from 1) of a file as flow.js multipart fields; Agora answers exactly 200.
    func sendChunk(_ number: Int, of chunks: Int, path: String, size: Int64, relative: String,
                   package: Int, identifier: String, digest: RequestBodyDigest? = nil) async throws {
        let offset = Int64(number - 1) * chunkSize
        let length = max(0, min(chunkSize, size - offset))
        let fields: [(String, String)] = [
            ("description", ""), ("flowChunkNumber", String(number)), ("flowChunkSize", String(chunkSize)),
            ("flowCurrentChunkSize", String(length)), ("flowTotalSize", String(size)), ("flowIdentifier", identifier),
            ("flowFilename", relative), ("flowRelativePath", relative), ("flowTotalChunks", String(chunks)),
        ]
        // Fields first, as flow.js sends them: a server knows the chunk before its bytes arrive.
        let parts = fields.map { MultipartPart(name: $0.0, content: .text($0.1)) }
            + [MultipartPart(name: "file", content: .file(path: path, offset: offset, length: length),
                             filename: (path as NSString).lastPathComponent, contentType: "application/octet-stream")]
        var request = HTTPRequest(method: "POST", url: session.url("/api/v1/import/\(package)/upload/"), body: .multipart(parts))
        request.bodyDigest = digest
        let response = try await session.send(request)
        guard response.status == 200 else {
            throw ConnectorError.badReply("chunk \(number) of \(relative): Agora answered \(response.status), expected 200")
        }
    }

    /// Polls `progress` until state 5 with progress 100 (or -1: failed), backing off to 2 s;
    /// gives up after the source's `processing-timeout` (default 1 h), naming the last state.
    func waitForImport(_ id: Int, relative: String) async throws {
        let timeout = spec.options["processing-timeout"].flatMap(Double.init) ?? 3600
        let start = ContinuousClock.now
        var interval = 0.05
        while true {
            let progress = try await session.agoraJSON("/api/v1/import/\(id)/progress/")
            guard let state = progress["state"]?.int else {
                throw ConnectorError.badReply("/api/v1/import/\(id)/progress/ has no state")
            }
            if state == 5 && progress["progress"]?.int == 100 { return }
            if state == -1 {
                throw ConnectorError.badReply("Agora's import \(id) of \(relative) failed"
                                              + (progress["error"]?.text.map { ": \(ErrorText.quoted($0))" } ?? " (Agora gave no reason)"))
            }
            if start.duration(to: .now) > .seconds(timeout) {
                throw ConnectorError.badReply("Agora's import \(id) of \(relative) did not finish within \(Quantities.secondsText(timeout)) "
                                              + "(last: state \(state), progress \(progress["progress"]?.int ?? 0)%); "
                                              + "the source's `processing-timeout` sets this bound")
            }
            try await Task.sleep(for: .seconds(interval))
            interval = min(interval * 1.5, 2)
        }
    }

    /// A local relative path as a remote one: `/`-separated, no empty, `.` or `..` parts.
    static func remotePath(_ relative: String) throws -> String {
        let parts = relative.split(separator: "/", omittingEmptySubsequences: true)
        guard !parts.isEmpty, !parts.contains(where: { $0 == "." || $0 == ".." || $0.contains("\0") }) else {
            throw ConnectorError.local("cannot upload \"\(relative)\": the remote path must be relative without `.`/`..` parts")
        }
        return parts.joined(separator: "/")
    }

    /// A JSON string literal.
    static func jsonString(_ s: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [s])) ?? Data("[\"\"]".utf8)
        return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    }
}

extension FileManager {
    func fileSize(_ path: String) -> Int64? {
        (try? attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value
    }
}
