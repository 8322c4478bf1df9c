import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
@testable import FlowSandbox

/// A tiny HTTP client over URLSession (not FlowHTTP, which is tested on its own).
struct Client {
    let base: String
    var headers: [String: String] = [:]
    let session: URLSession = {
        let c = URLSessionConfiguration.ephemeral
        c.httpCookieAcceptPolicy = .never
        c.httpShouldSetCookies = false
        return URLSession(configuration: c)
    }()

    func send(_ method: String = "GET", _ path: String, body: Data? = nil, headers extra: [String: String] = [:]) async throws -> (Int, [String: String], Data) {
        var req = URLRequest(url: URL(string: base + path)!)
        req.httpMethod = method
        req.httpBody = body
        for (k, v) in headers.merging(extra, uniquingKeysWith: { $1 }) { req.setValue(v, forHTTPHeaderField: k) }
        let (data, resp) = try await session.data(for: req)
        let http = resp as! HTTPURLResponse
        var h: [String: String] = [:]
        for (k, v) in http.allHeaderFields { h[String(describing: k).lowercased()] = String(describing: v) }
        return (http.statusCode, h, data)
    }

    func json(_ path: String) async throws -> [String: Any] {
        let (status, _, data) = try await send("GET", path)
        #expect(status == 200, "GET \(path) -> \(status)")
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }
}

func xnatClient(_ sb: Sandbox) -> Client {
    let e = sb.endpoint(.xnat)
    let auth = Data("\(e.credentials.username!):\(e.credentials.password!)".utf8).base64EncodedString()
    return Client(base: e.url, headers: ["Authorization": "Basic \(auth)"])
}

func small() -> SandboxConfiguration {
    var c = SandboxConfiguration()
    c.seed = 42
    c.xnatSubjects = 3
    c.lorisCandidates = 3
    return c
}

@Suite("FlowSandbox protocol details", .serialized)
struct SandboxProtocolTests {
    @Test func xnatListingsAreStringResultSets() async throws {
        let sb = try await Sandbox.start(small())
        defer { Task { await sb.stop() } }
        let c = xnatClient(sb)
        let subjects = try await c.json("/data/projects/testenv/subjects?format=json")
        let rs = subjects["ResultSet"] as! [String: Any]
        #expect(rs["totalRecords"] as? String == "3")
        let rows = rs["Result"] as! [[String: Any]]
        #expect(rows.map { $0["label"] as! String } == ["SUBJ_001", "SUBJ_002", "SUBJ_003"])
        #expect(rows.allSatisfy { $0.values.allSatisfy { $0 is String } })
        let scans = try await c.json("/data/experiments/XNAT_E00001/scans?format=json&type=*DWI*")
        let types = ((scans["ResultSet"] as! [String: Any])["Result"] as! [[String: String]]).map { $0["type"]! }
        #expect(types == ["DWI_ALFA1", "rDWI_ALFA1"])
        let (status, headers, csv) = try await c.send("GET", "/data/projects/testenv/subjects?format=csv&columns=label")
        #expect(status == 200 && headers["content-type"] == "text/csv")
        #expect(String(decoding: csv, as: UTF8.self).hasPrefix("ID,label,URI\n"))
        // URLSession on Linux stalls on a 401 with `WWW-Authenticate` and no delegate: ask curl.
        let (code401, body401) = try curl(["-s", "-w", "\n%{http_code}", c.base + "/data/projects"])
        #expect(code401 == 0 && body401.hasSuffix("\n401") && body401.contains("requires user authentication"))
        #expect(try await c.send("GET", "/data/projects/nope/subjects").0 == 404)
    }

    @Test func xnatDownloadsDigestRangeAndHead() async throws {
        let sb = try await Sandbox.start(small())
        defer { Task { await sb.stop() } }
        let c = xnatClient(sb)
        let files = try await c.json("/data/experiments/XNAT_E00001/scans/DWI_ALFA1/resources/NIFTI/files?format=json")
        let row = ((files["ResultSet"] as! [String: Any])["Result"] as! [[String: String]])[0]
        let (status, headers, body) = try await c.send("GET", row["URI"]!)
        #expect(status == 200)
        #expect(headers["content-length"] == row["Size"] && body.count == Int(row["Size"]!))
        #expect(FileBody.hex(md5(body)) == row["digest"])
        #expect(headers["content-disposition"] == "attachment; filename=\"\(row["Name"]!)\";")
        let (s206, h206, part) = try await c.send("GET", row["URI"]!, headers: ["Range": "bytes=10-19"])
        #expect(s206 == 206 && part == body[10..<20] && h206["content-range"] == "bytes 10-19/\(body.count)")
        #expect(try await c.send("GET", row["URI"]!, headers: ["Range": "bytes=\(body.count)-"]).0 == 416)
        let (sHead, hHead, headBody) = try await c.send("HEAD", row["URI"]!)
        #expect(sHead == 200 && hHead["content-length"] == row["Size"] && headBody.isEmpty)
        #expect(try await c.send("GET", row["URI"]!, headers: ["If-None-Match": headers["etag"]!]).0 == 304)
        // If-Range: the range while the validator is current (ETag or Last-Modified), else the whole file.
        for current in [headers["etag"]!, headers["last-modified"]!] {
            let (s, _, rest) = try await c.send("GET", row["URI"]!, headers: ["Range": "bytes=10-", "If-Range": current])
            #expect(s == 206 && rest == body[10...])
        }
        for stale in ["\"0123\"", "W/\(headers["etag"]!)", "Thu, 01 Jan 2015 00:00:00 GMT"] {
            let (s, _, whole) = try await c.send("GET", row["URI"]!, headers: ["Range": "bytes=10-", "If-Range": stale])
            #expect(s == 200 && whole == body, "If-Range: \(stale)")
        }
        let (sZip, hZip, zip) = try await c.send("GET", "/data/experiments/XNAT_E00001/scans/2/resources/NIFTI/files?format=zip")
        #expect(sZip == 200 && hZip["content-type"] == "application/zip")
        #expect(String(decoding: zip, as: UTF8.self).contains("SUBJ_001_MR1/scans/2-DWI_ALFA1/resources/NIFTI/files/\(row["Name"]!)"))
    }

    @Test func wholeFileAnswersAreCountedPerPath() async throws {
        let sb = try await Sandbox.start(small())
        defer { Task { await sb.stop() } }
        let c = xnatClient(sb)
        let files = try await c.json("/data/experiments/XNAT_E00001/scans/1/resources/NIFTI/files?format=json")
        let uri = ((files["ResultSet"] as! [String: Any])["Result"] as! [[String: String]])[0]["URI"]!
        let size = Int64(try await c.send("GET", uri).2.count)
        _ = try await c.send("GET", uri, headers: ["Range": "bytes=10-"])          // a resume: 206
        _ = try await c.send("HEAD", uri)                                          // no body
        _ = try await c.send("GET", uri, headers: ["Range": "bytes=10-", "If-Range": "\"stale\""])  // whole again
        // The server counts a chunk once written: the client may have it a moment before.
        let expected = size + (size - 10) + size
        for _ in 0..<200 where sb.stats(.xnat).fileBytesServed < expected { try await Task.sleep(for: .milliseconds(10)) }
        let stats = sb.stats(.xnat)
        #expect(stats.wholeFileAnswers == 2)
        #expect(stats.pathsAnsweredWholeAgain == [uri: 2])
        #expect(stats.fileBytesServed == expected)
        #expect(stats.bytesServed > stats.fileBytesServed)  // the listing too
    }

    @Test func xnatUploadsAreStoredByteIdentical() async throws {
        let sb = try await Sandbox.start(small())
        defer { Task { await sb.stop() } }
        let c = xnatClient(sb)
        let payload = Data((0..<5000).map { UInt8($0 % 251) })
        let url = "/data/projects/testenv/subjects/SUBJ_002/experiments/SUBJ_002_MR1/resources/OUT/files/a/b.bin"
        #expect(try await c.send("PUT", url, body: payload, headers: ["Content-Type": "application/octet-stream"]).0 == 200)
        let (_, _, back) = try await c.send("GET", url)
        #expect(back == payload)
        let (dupStatus, _, dup) = try await c.send("PUT", url, body: payload, headers: ["Content-Type": "application/octet-stream"])
        #expect(dupStatus == 200 && String(decoding: dup, as: UTF8.self) == "{\"duplicates\":[\"a/b.bin\"]}")
        #expect(try await c.send("PUT", url + "?overwrite=true", body: Data("x".utf8), headers: ["Content-Type": "application/octet-stream"]).0 == 200)
        #expect(try await c.send("GET", url).2 == Data("x".utf8))
        #expect(try await c.send("PUT", url + "2?inbody=true", body: Data()).0 == 400)
        let (sid, _, sessionID) = try await c.send("POST", "/data/JSESSION")
        #expect(sid == 200 && sessionID.count == 32)
        let cookie = Client(base: c.base, headers: ["Cookie": "JSESSIONID=\(String(decoding: sessionID, as: UTF8.self))"])
        #expect(String(decoding: try await cookie.send("GET", "/data/auth").2, as: UTF8.self) == "User 'sandbox' is logged in")
    }

    /// Multipart POST uploads spool each file part to disk as it arrives, as PUT bodies do (a
    /// 10 GiB POST must not sit in the sandbox's memory); each part is a file of its own.
    @Test func xnatMultipartPostsAreSpooledToDisk() async throws {
        let sb = try await Sandbox.start(small())
        defer { Task { await sb.stop() } }
        let c = xnatClient(sb)
        let a = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let b = Array("ends like a delimiter\r\n--".utf8)
        let boundary = "xnat-\(UUID().uuidString)"
        var body = Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nnot a file\r\n".utf8)
        for (name, bytes) in [("a.dcm", a), ("b.txt", b)] {
            body += Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(name)\"\r\n".utf8)
                + Data("Content-Type: application/octet-stream\r\n\r\n".utf8) + Data(bytes) + Data("\r\n".utf8)
        }
        body += Data("--\(boundary)--\r\n".utf8)
        let base = "/data/experiments/XNAT_E00002/scans/1/resources/POSTED/files"
        #expect(try await c.send("POST", base, body: body, headers: ["Content-Type": "multipart/form-data; boundary=\(boundary)"]).0 == 200)
        #expect(try await c.send("GET", base + "/a.dcm").2 == Data(a))
        #expect(try await c.send("GET", base + "/b.txt").2 == Data(b))
        let rows = (try await c.json(base + "?format=json")["ResultSet"] as! [String: Any])["Result"] as! [[String: String]]
        #expect(rows.map { $0["Name"] } == ["a.dcm", "b.txt"])
        #expect(rows.map { $0["digest"] } == [Digester.hex(.md5, of: a), Digester.hex(.md5, of: b)])
        // Read back from their spool files, not kept as bytes in memory.
        let xnat = try #require(sb.emulator(XNATEmulator.self))
        let bodies = xnat.data.withLock { d in
            d.resources[.scan(experiment: "XNAT_E00002", scan: "1")]?.first { $0.label == "POSTED" }?.files.map(\.body) ?? []
        }
        #expect(bodies.count == 2)
        #expect(bodies.allSatisfy { if case .generated = $0 { true } else { false } })
    }

    @Test func lorisFlavoursAuthAndETag() async throws {
        let sb = try await Sandbox.start(small())
        defer { Task { await sb.stop() } }
        let e = sb.endpoint(.loris)
        let anon = Client(base: e.url + "/api/v0.0.3-dev")
        let (s, _, tokenBody) = try await anon.send("POST", "/login", body: Data("{\"username\":\"sandbox\",\"password\":\"sandbox-loris\"}".utf8))
        #expect(s == 200)
        let token = (try JSONSerialization.jsonObject(with: tokenBody) as! [String: String])["token"]!
        #expect(token.split(separator: ".").count == 3)
        #expect(String(decoding: try await anon.send("GET", "/candidates/").2, as: UTF8.self) == "{\"error\":\"User not authenticated\"}")
        let legacy = Client(base: anon.base, headers: ["Authorization": "Bearer \(token)"])
        let cands = try await legacy.json("/candidates/")["Candidates"] as! [[String: Any]]
        #expect(cands.count == 3 && cands.allSatisfy { $0["CandID"] is String })
        let cand = cands[0]["CandID"] as! String
        let visits = try await legacy.json("/candidates/\(cand)")["Visits"] as! [String]
        #expect(visits.prefix(4) == ["PREBL00", "PREEN00", "PREFU12", "PREFU24"])
        let current = Client(base: e.url + "/api/v0.0.4-dev", headers: legacy.headers)
        let files = try await current.json("/candidates/\(cand)/PREBL00/images")["Files"] as! [[String: Any]]
        #expect((9...19).contains(files.count) && files[0]["IsPhantom"] as? Bool == false)
        let path = "/candidates/\(cand)/PREBL00/images/\(files[0]["Filename"] as! String)"
        let (s200, h, body) = try await current.send("GET", path)
        #expect(s200 == 200 && h["content-type"] == "application/x.minc2" && Int(h["content-length"]!) == body.count)
        #expect(try await current.send("GET", path, headers: ["If-None-Match": h["etag"]!]).0 == 304)
        #expect(try await current.send("GET", path, headers: ["Range": "bytes=0-9"]).2 == body.prefix(10))
        #expect(try await Client(base: e.url + "/api/v9.9.9").send("GET", "/candidates").0 == 404)
        // Token expiry as a fault: the same token is refused once its lifetime is over.
        var faults = sb.faults
        faults.platforms["loris"] = { var f = FaultSettings(); f.tokenLifetimeSeconds = 0; return f }()
        sb.faults = faults
        #expect(try await current.send("GET", "/candidates").0 == 401)
    }

    @Test func faultsAndStats() async throws {
        var config = small()
        config.faults.platforms["xnat"] = { var f = FaultSettings(); f.errorRates = ["503": 1]; f.retryAfterSeconds = 7; return f }()
        let sb = try await Sandbox.start(config)
        defer { Task { await sb.stop() } }
        let c = xnatClient(sb)
        let (s, h, _) = try await c.send("GET", "/data/projects")
        #expect(s == 503 && h["retry-after"] == "7")
        // Runtime change through the control route on the origin.
        let cut = Data("{\"cutAfterBytes\":1000}".utf8)
        #expect(try await c.send("POST", "/_sandbox/faults", body: cut).0 == 200)
        #expect(sb.faults.platforms["xnat"]?.cutAfterBytes == 1000 && sb.faults.platforms["xnat"]?.errorRates.isEmpty == true)
        // A DICOM file (padded to at least 4 KiB): the real NIfTI is shorter than the cut.
        let uri = "/data/experiments/XNAT_E00001/scans/1/resources/DICOM/files/SUBJ_001_MR1.MR.1.0001.dcm"
        await #expect(throws: (any Error).self) { _ = try await c.send("GET", uri) }
        sb.faults = SandboxFaults()
        #expect(try await c.send("GET", uri).0 == 200)
        let stats = sb.stats(.xnat)
        #expect(stats.faultsInjected["status-503"] == 1 && stats.faultsInjected["cut"] == 1)
        #expect(stats.routes["GET /data/experiments/{experiment}/scans/{scan}/resources/{resource}/files/{path}"] == 2)
        #expect(stats.downloadRequests == 2 && stats.peakConnections >= 1)
        let remote = try JSONSerialization.jsonObject(with: try await c.send("GET", "/_sandbox/stats").2) as! [String: Any]
        #expect(remote["downloadRequests"] as? Int == 2)
        // Mutation: a new file appears in the listing with its true digest.
        try sb.mutate(.xnat, SandboxMutation(op: .add, path: "testenv/SUBJ_001/SUBJ_001_MR1/1/NIFTI/extra.nii.gz", content: "hello"))
        let (_, _, extra) = try await c.send("GET", "/data/experiments/XNAT_E00001/scans/1/resources/NIFTI/files/extra.nii.gz")
        #expect(extra == Data("hello".utf8))
    }

    @Test func httpsOriginUsesTheGeneratedCA() async throws {
        var config = small()
        config.platforms = [.xnat]
        config.platformOptions["xnat"] = PlatformOptions(tls: true)
        let sb = try await Sandbox.start(config)
        defer { Task { await sb.stop() } }
        #expect(sb.endpoint(.xnat).url.hasPrefix("https://127.0.0.1:"))
        // curl (system binary) verifies the chain and the SAN against the CA file.
        let (status, out) = try curl(["-sf", "--cacert", sb.caCertificatePath, "-u", "sandbox:sandbox-xnat", sb.endpoint(.xnat).url + "/data/auth"])
        #expect(status == 0 && out == "User 'sandbox' is logged in")
    }

    @Test func syntheticBytesAreDeterministicAndRandomAccess() {
        let body = FileBody.synthetic(key: 99, size: 100_000)
        let whole = body.allBytes()
        var slice = body.chunk(offset: 12_345, length: 777)
        #expect(slice.readBytes(length: 777)! == Array(whole[12_345..<13_122]))
        #expect(FileBody.synthetic(key: 99, size: 100_000).md5 == FileBody.hex(md5(Data(whole))))
        #expect(FileServer.parseRange("bytes=-10", size: 100) == .range(90, 99))
        #expect(FileServer.parseRange("bytes=100-", size: 100) == .unsatisfiable)
    }
}

import FlowFiles
func md5(_ d: Data) -> [UInt8] { var digester = Digester(.md5); digester.update(d); return digester.finalize() }

/// Runs /usr/bin/curl; returns its exit status and stdout.
func curl(_ args: [String]) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
    p.arguments = args
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}
