import FlowFiles
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
@testable import FlowSandbox

/// An Agora-only sandbox with fast tasks and imports, and a client sending the API key.
func withAgoraSandbox(_ body: (Sandbox, AgoraEmulator, Client) async throws -> Void) async throws {
    var c = SandboxConfiguration()
    c.seed = 42
    c.platforms = [.agora]
    c.fileSize = .fixed(3000)
    let sb = try await Sandbox.start(c)
    let emulator = sb.emulator(AgoraEmulator.self)!
    emulator.taskDuration = 0.05
    emulator.importDuration = 0.05
    let client = Client(base: sb.endpoint(.agora).url, headers: ["Authorization": "X-Agora-Api-Key \(AgoraEmulator.apiKey)"])
    do { try await body(sb, emulator, client) } catch { await sb.stop(); throw error }
    await sb.stop()
}

extension Client {
    func any(_ path: String) async throws -> Any {
        let (status, _, data) = try await send("GET", path)
        #expect(status == 200, "GET \(path) -> \(status)")
        return try JSONSerialization.jsonObject(with: data)
    }

    /// A multipart/form-data body of text fields plus one `file` part.
    func multipart(_ path: String, fields: [(String, String)], file: [UInt8], filename: String) async throws -> Int {
        let boundary = "sandbox-\(UUID().uuidString)"
        var body = Data()
        for (k, v) in fields { body += Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(k)\"\r\n\r\n\(v)\r\n".utf8) }
        body += Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(filename)\"\r\nContent-Type: application/octet-stream\r\n\r\n".utf8)
        body += Data(file) + Data("\r\n--\(boundary)--\r\n".utf8)
        return try await send("POST", path, body: body, headers: ["Content-Type": "multipart/form-data; boundary=\(boundary)"]).0
    }
}

/// A zip of stored entries, as Python's `zipfile.ZIP_STORED` writes it (CRCs are not checked by the emulator).
func storedZip(_ entries: [(String, [UInt8])]) -> [UInt8] {
    func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
    func le32(_ v: Int) -> [UInt8] { le16(v & 0xFFFF) + le16(v >> 16 & 0xFFFF) }
    var out: [UInt8] = [], central: [UInt8] = []
    for (name, bytes) in entries {
        let offset = out.count, n = Array(name.utf8)
        out += le32(0x0403_4B50) + le16(20) + le16(0) + le16(0) + le32(0) + le32(0) + le32(bytes.count) + le32(bytes.count)
            + le16(n.count) + le16(0) + n + bytes
        central += le32(0x0201_4B50) + le16(20) + le16(20) + le16(0) + le16(0) + le32(0) + le32(0) + le32(bytes.count)
            + le32(bytes.count) + le16(n.count) + le16(0) + le16(0) + le16(0) + le16(0) + le32(0) + le32(offset) + n
    }
    let cd = out.count
    return out + central + le32(0x0605_4B50) + le16(0) + le16(0) + le16(entries.count) + le16(entries.count)
        + le32(central.count) + le32(cd) + le16(0)
}

@Suite("Agora emulator", .serialized)
struct AgoraEmulatorTests {
    @Test func handshakeNeedsTheKeyAndReportsInstitutionAndVersion() async throws {
        try await withAgoraSandbox { sb, _, c in
            let anonymous = Client(base: sb.endpoint(.agora).url)
            #expect(try await anonymous.send("GET", "/api/v1/user/current/").0 == 401)
            #expect(try await c.json("/api/v1/user/current/")["institution"] != nil)
            #expect(try await c.json("/api/v1/user/current")["username"] as? String == "sandbox")
            #expect(try await c.json("/api/v1/version/")["version"] as? String == "7.14.0")
            // Token login, then `Authorization: Token`.
            let (status, _, data) = try await anonymous.send("POST", "/api/v1/rest-auth/login/", body: Data("username=sandbox&password=sandbox-agora".utf8),
                                                            headers: ["Content-Type": "application/x-www-form-urlencoded"])
            #expect(status == 200)
            let key = try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["key"] as? String)
            let token = Client(base: sb.endpoint(.agora).url, headers: ["Authorization": "Token \(key)"])
            #expect(try await token.send("GET", "/api/v2/project/").0 == 200)
            #expect(sb.environmentLines().contains { $0.hasPrefix("export AGORA_API_KEY=") })
        }
    }

    @Test func listsArePagesHonouringHugeLimitsAndServerFilters() async throws {
        try await withAgoraSandbox { _, _, c in
            let projects = try await c.json("/api/v2/project/?limit=10000000000")
            #expect(projects["count"] as? Int == 3)
            let wrist = try #require((projects["results"] as? [[String: Any]])?.first { $0["name"] as? String == "Wrist Study" })
            let id = wrist["id"] as! Int
            let page1 = try await c.json("/api/v2/project/\(id)/exam/?limit=2")
            #expect(page1["count"] as? Int == 6)
            #expect((page1["results"] as? [Any])?.count == 2)
            let next = try #require(page1["next"] as? String)
            #expect(next.contains("offset=2"))
            let named = try await c.json("/api/v2/project/\(id)/exam/?limit=10000000000&name=Wrist%2002")
            let exams = try #require(named["results"] as? [[String: Any]])
            #expect(exams.map { $0["name"] as? String } == ["Wrist 02"])
            let examID = exams[0]["id"] as! Int
            let series = try await c.json("/api/v1/exam/\(examID)/series/?limit=10000000000")
            let first = try #require((series["results"] as? [[String: Any]])?.first)
            let raw = try await c.json("/api/v1/serie/\(first["id"] as! Int)/datasets/?limit=10000000000&type=100")
            let datasets = try #require(raw["results"] as? [[String: Any]])
            #expect(datasets.count == 1)
            #expect(datasets[0]["type"] as? Int == 100)
            let files = try #require(datasets[0]["datafiles"] as? [[String: Any]])
            #expect(files.map { $0["original_filename"] as? String } == ["wrist_02_1_t1_se.raw", "wrist_02_1_t1_se.lab"])
            #expect((files[0]["sha1"] as? String)?.count == 40)
            // Folder items are a bare array with embedded objects.
            let items = try #require(try await c.any("/api/v1/folder/\(wrist["root_folder"] as! Int)/items/?limit=10000000000") as? [[String: Any]])
            #expect(items.contains { $0["content_type"] as? String == "folder" && ($0["content_object"] as? [String: Any])?["name"] as? String == "Raw" })
            #expect(items.filter { $0["content_type"] as? String == "exam" }.count == 6)
        }
    }

    @Test func downloadsHaveLengthRangeAndETag() async throws {
        try await withAgoraSandbox { _, emulator, c in
            let dataset = try await c.json("/api/v1/dataset/1000/")
            let file = try #require((dataset["datafiles"] as? [[String: Any]])?.first)
            let id = file["id"] as! Int
            let (status, headers, body) = try await c.send("GET", "/api/v1/datafile/\(id)/download/")
            #expect(status == 200)
            #expect(headers["content-length"] == "3000")
            #expect(Array(body) == emulator.datafileBytes(id))
            #expect(Digester.hex(.sha1, of: body) == file["sha1"] as? String)
            #expect(headers["etag"] == "\"\(file["sha1"] as! String)\"")
            let (partial, ph, pb) = try await c.send("GET", "/api/v1/datafile/\(id)/download/", headers: ["Range": "bytes=1000-"])
            #expect(partial == 206)
            #expect(ph["content-range"] == "bytes 1000-2999/3000")
            #expect(pb == body.suffix(2000))
        }
    }

    @Test func foldersAreCreatedOnceWith201() async throws {
        try await withAgoraSandbox { _, _, c in
            let myagora = try await c.json("/api/v2/project/myagora/")
            let root = myagora["root_folder"] as! Int
            let json = Data("{\"name\":\"New Folder\"}".utf8)
            let (status, _, data) = try await c.send("POST", "/api/v1/folder/\(root)/new/", body: json, headers: ["Content-Type": "application/json"])
            #expect(status == 201)
            let created = try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["content_object"] as? [String: Any])
            #expect(created["name"] as? String == "New Folder")
            #expect(try await c.send("POST", "/api/v1/folder/\(root)/new/", body: json, headers: ["Content-Type": "application/json"]).0 == 400)
            let crumbs = try #require(try await c.any("/api/v1/folder/\(created["id"] as! Int)/breadcrumb/") as? [[String: Any]])
            #expect(crumbs.map { $0["name"] as? String } == ["My Agora", "New Folder"])
        }
    }

    /// Chunks stream to disk through a multipart parser that sees the body in pieces: bytes that
    /// look like the start of a delimiter (`\r\n--sandbox-`) stay file bytes, a chunk's SHA-256 is
    /// checked, and the file comes back byte for byte with its SHA-1.
    @Test func chunksStreamToDiskIntactAcrossDelimiterLookalikes() async throws {
        try await withAgoraSandbox { _, emulator, c in
            let (_, _, body) = try await c.send("POST", "/api/v1/import/", body: Data("{}".utf8), headers: ["Content-Type": "application/json"])
            let id = try #require((try JSONSerialization.jsonObject(with: body) as? [String: Any])?["id"] as? Int)
            var big: [UInt8] = []
            while big.count < 600_000 { big += Array("\r\n--sandbox-\r\n--\r\n\r\n".utf8) + (0..<997).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ big.count) } }
            let chunks = [Array(big[..<400_000]), Array(big[400_000...])]
            func send(_ n: Int, hash: String) async throws -> Int {
                try await c.multipart("/api/v1/import/\(id)/upload/", fields: [
                    ("flowChunkNumber", "\(n)"), ("flowCurrentChunkSize", "\(chunks[n - 1].count)"), ("flowTotalSize", "\(big.count)"),
                    ("flowIdentifier", "id-look"), ("flowRelativePath", "look.bin"), ("flowTotalChunks", "2"), ("flowChunkHash", hash),
                ], file: chunks[n - 1], filename: "look.bin")
            }
            #expect(try await send(1, hash: String(repeating: "0", count: 64)) == 400)  // not its SHA-256
            for n in [1, 2] { #expect(try await send(n, hash: Digester.hex(.sha256, of: chunks[n - 1])) == 200) }
            let root = try await c.json("/api/v2/project/myagora/")["root_folder"] as! Int
            #expect(try await c.send("POST", "/api/v1/import/\(id)/complete/", body: Data("{\"folder\":\(root)}".utf8),
                                     headers: ["Content-Type": "application/json"]).0 == 204)
            for _ in 0..<200 where try await c.json("/api/v1/import/\(id)/progress/")["state"] as? Int != 5 {
                try await Task.sleep(for: .milliseconds(5))
            }
            let rows = try #require(try await c.json("/api/v1/import/\(id)/result/")["datafiles"] as? [[String: Any]])
            let row = try #require(rows.first)
            #expect(row["sha1"] as? String == Digester.hex(.sha1, of: big))
            #expect(emulator.datafileBytes(row["id"] as! Int) == big)
        }
    }

    @Test func importAssemblesChunksExtractsZipsAndReportsSHA1() async throws {
        try await withAgoraSandbox { _, emulator, c in
            let (created, _, body) = try await c.send("POST", "/api/v1/import/", body: Data("{}".utf8), headers: ["Content-Type": "application/json"])
            #expect(created == 201)
            let id = try #require((try JSONSerialization.jsonObject(with: body) as? [String: Any])?["id"] as? Int)
            // A plain file in two chunks (the second one first: order does not matter), and a zip.
            let big = (0..<3000).map { UInt8(truncatingIfNeeded: $0 * 7) }
            for n in [2, 1] {
                let chunk = Array(big[(n - 1) * 2000..<min(3000, n * 2000)])
                let status = try await c.multipart("/api/v1/import/\(id)/upload/", fields: [
                    ("description", ""), ("flowChunkNumber", "\(n)"), ("flowChunkSize", "2000"), ("flowCurrentChunkSize", "\(chunk.count)"),
                    ("flowTotalSize", "3000"), ("flowIdentifier", "id-big"), ("flowFilename", "dir/big.bin"),
                    ("flowRelativePath", "dir/big.bin"), ("flowTotalChunks", "2"),
                ], file: chunk, filename: "big.bin")
                #expect(status == 200)
            }
            #expect(try await c.send("GET", "/api/v1/import/\(id)/upload/?flowChunkNumber=1&flowIdentifier=id-big").0 == 200)
            #expect(try await c.send("GET", "/api/v1/import/\(id)/upload/?flowChunkNumber=1&flowIdentifier=other").0 == 204)
            let zip = storedZip([("dir/a.txt", Array("alpha\n".utf8)), ("dir/b.txt", Array("beta\n".utf8))])
            #expect(try await c.multipart("/api/v1/import/\(id)/upload/", fields: [
                ("flowChunkNumber", "1"), ("flowTotalChunks", "1"), ("flowTotalSize", "\(zip.count)"), ("flowIdentifier", "id-zip"),
                ("flowRelativePath", "upload_x.agora_upload"),
            ], file: zip, filename: "upload_x.agora_upload") == 200)
            let progress0 = try await c.json("/api/v1/import/\(id)/progress/")
            #expect(progress0["state"] as? Int == 1)
            let root = try await c.json("/api/v2/project/myagora/")["root_folder"] as! Int
            let (done, _, _) = try await c.send("POST", "/api/v1/import/\(id)/complete/", body: Data("{\"folder\":\(root)}".utf8),
                                                headers: ["Content-Type": "application/json"])
            #expect(done == 204)
            var states: [Int] = []
            for _ in 0..<100 {
                let p = try await c.json("/api/v1/import/\(id)/progress/")
                states.append(p["state"] as! Int)
                if p["state"] as? Int == 5 { #expect(p["progress"] as? Int == 100); break }
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(states.last == 5)
            #expect(states.first.map { (2...5).contains($0) } == true)
            let result = try await c.json("/api/v1/import/\(id)/result/")
            let rows = try #require(result["datafiles"] as? [[String: Any]])
            #expect(Set(rows.compactMap { $0["path"] as? String }) == ["dir/big.bin", "dir/a.txt", "dir/b.txt"])
            let bigRow = try #require(rows.first { $0["path"] as? String == "dir/big.bin" })
            #expect(bigRow["sha1"] as? String == Digester.hex(.sha1, of: big))
            #expect(emulator.datafileBytes(bigRow["id"] as! Int) == big)
            // Uploading into a completed package is refused.
            #expect(try await c.multipart("/api/v1/import/\(id)/upload/", fields: [
                ("flowChunkNumber", "1"), ("flowTotalChunks", "1"), ("flowIdentifier", "late"), ("flowRelativePath", "late.txt"),
            ], file: [1], filename: "late.txt") == 400)
        }
    }

    @Test func taskRunsFinishOrFailAfterTheirDuration() async throws {
        try await withAgoraSandbox { _, emulator, c in
            let tasks = try #require(try await c.json("/api/v1/taskdefinition/?limit=10000000000")["results"] as? [[String: Any]])
            let reconstruct = try #require(tasks.first { $0["name"] as? String == "Reconstruct" })
            let failing = try #require(tasks.first { $0["name"] as? String == "Reconstruct (failing)" })
            func run(_ task: [String: Any], dataset: Int) async throws -> (Int, [String: Any]) {
                let body = Data("{\"target\":null,\"inputs\":{\"raw\":{\"object_id\":\(dataset),\"object_type\":\"dataset\"}}}".utf8)
                let (status, _, data) = try await c.send("POST", "/api/v1/taskdefinition/\(task["id"] as! Int)/run/", body: body,
                                                         headers: ["Content-Type": "application/json"])
                return (status, (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:])
            }
            let (status, item) = try await run(reconstruct, dataset: 1000)
            #expect(status == 200)
            #expect((item["data"] as? [String: Any])?["state"] as? Int == 1)
            // A DICOM dataset is not a PHILIPS_RAW input.
            #expect(try await run(reconstruct, dataset: 1001).0 == 400)
            try await Task.sleep(for: .milliseconds(80))
            let finished = try await c.json("/api/v2/timeline/\(item["id"] as! Int)/")
            let data = try #require(finished["data"] as? [String: Any])
            #expect(data["state"] as? Int == 2)
            let related = try #require(data["related_objects"] as? [[String: Any]])
            #expect(related.count == 1)
            #expect(related[0]["object_type"] as? String == "dataset")

            emulator.taskDuration = 10
            let (_, failed) = try await run(failing, dataset: 1000)
            #expect((try await c.json("/api/v2/timeline/\(failed["id"] as! Int)/")["data"] as? [String: Any])?["state"] as? Int == 1)
            _ = try emulator.mutate(SandboxMutation(op: .modify, path: "tasks/Reconstruct (failing)", content: "{\"duration\": 0}"))
            let errored = try await c.json("/api/v2/timeline/\(failed["id"] as! Int)/")
            #expect((errored["data"] as? [String: Any])?["state"] as? Int == 1)  // the run keeps the duration it started with
            let (_, quick) = try await run(failing, dataset: 1000)
            let result = try await c.json("/api/v2/timeline/\(quick["id"] as! Int)/")
            #expect((result["data"] as? [String: Any])?["state"] as? Int == 3)
            #expect((result["error"] as? String)?.contains("failed") == true)
            #expect(((result["data"] as? [String: Any])?["error"] as? [String: Any])?["message"] as? String == result["error"] as? String)
        }
    }

    @Test func tagsAreDefinedAndSetOnce() async throws {
        try await withAgoraSandbox { _, _, c in
            let json = Data("{\"label\":\"good\",\"user\":null,\"project\":2,\"group\":null,\"color\":null,\"visibility\":2,\"scope\":1}".utf8)
            let (status, _, data) = try await c.send("POST", "/api/v2/tag-definition/", body: json, headers: ["Content-Type": "application/json"])
            #expect(status == 201)
            let tag = try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["id"] as? Int)
            let form = Data("tag_definition=\(tag)&tagged_object_content_type=dataset&tagged_object_id=1000".utf8)
            let headers = ["Content-Type": "application/x-www-form-urlencoded"]
            #expect(try await c.send("POST", "/api/v2/tag-instance/", body: form, headers: headers).0 == 201)
            #expect(try await c.send("POST", "/api/v2/tag-instance/", body: form, headers: headers).0 == 400)
            let tags = try #require(try await c.any("/api/v2/dataset/1000/tags/") as? [[String: Any]])
            #expect(tags.map { $0["label"] as? String } == ["good"])
        }
    }
}
