import Foundation
import Testing

extension EndToEnd {
/// Many small files uploaded in one run (issue #27, uploads at scale): Agora gets them as few
/// import packages and its folder is listed once per run; XNAT's resource is listed once per
/// run, not before and after every PUT. A re-run sends nothing.
@Suite struct UploadBatchTests {
    static let files = 40

    /// Writes `count` small files under `dir/data` and a job uploading them to `platform`.
    static func workspace(platform: String, into: String, count: Int = files) throws -> Workspace {
        let workspace = try Workspace(jobs: [])
        try FileManager.default.createDirectory(atPath: workspace.root + "/data/sub", withIntermediateDirectories: true)
        for i in 0..<count {
            let bytes = (0..<(1000 + i * 37)).map { UInt8(truncatingIfNeeded: $0 &* (i + 3)) }
            try Data(bytes).write(to: URL(fileURLWithPath: workspace.root + "/data/\(i % 4 == 0 ? "sub/" : "")f\(i).bin"))
        }
        let source: String
        switch platform {
        case "agora": source = "type: agora\n    url: ${env.AGORA_URL}\n    api-key: ${env.AGORA_API_KEY}"
        default: source = "type: xnat\n    url: ${env.XNAT_URL}\n    user: ${env.XNAT_USER}\n    password: ${env.XNAT_PASS}"
        }
        let job = """
        flowctl: 1
        name: upload-batch
        sources:
          files:
            type: local
            url: ../data
          remote:
            \(source)
            tls: {ca: "${env.FLOWCTL_SANDBOX_CA}"}
            concurrency: 4
        select:
          all:
            source: files
            files: "**"
        actions:
          push:
            upload: all
            to: remote
            into: \(into)

        """
        try job.write(toFile: workspace.job("upload-batch.yml"), atomically: false, encoding: .utf8)
        return workspace
    }

    static func routes(_ stats: [String: Any], _ match: (String) -> Bool) -> Int {
        (stats["routes"] as? [String: Int] ?? [:]).filter { match($0.key) }.values.reduce(0, +)
    }

    @Test func agoraGetsOneImportPackageAndOneFolderListingForManyFiles() throws {
        let sandbox = try SandboxProcess(["--platforms", "agora"])
        defer { sandbox.stop() }
        let workspace = try Self.workspace(platform: "agora", into: "{project: Wrist Study, folder: /Batch}")
        defer { workspace.remove() }
        // An upload-only job keeps its journal under $XDG_STATE_HOME.
        let env = sandbox.environment.merging(["XDG_STATE_HOME": workspace.root + "/state"]) { $1 }
        let before = try JSONSerialization.jsonObject(with: sandbox.control("agora", "/_sandbox/info")) as! [String: Any]
        let first = try flowctl(["run", workspace.job("upload-batch.yml")], environment: env)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("\(Self.files) done"), "\(first.stderr)")
        let stats = try sandbox.stats("agora")
        // Before: one package, one import wait and one folder listing per file (40 each).
        #expect(Self.routes(stats) { $0 == "POST /api/v1/import/" } == 1)
        #expect(Self.routes(stats) { $0 == "POST /api/v1/import/{id}/complete/" } == 1)
        #expect(Self.routes(stats) { $0.hasPrefix("GET /api/v1/folder/") && $0.hasSuffix("/items/") } <= 4)
        #expect(Self.routes(stats) { $0 == "POST /api/v1/import/{id}/upload/" } == Self.files)
        let after = try JSONSerialization.jsonObject(with: sandbox.control("agora", "/_sandbox/info")) as! [String: Any]
        let held = { (info: [String: Any]) in ((info["agora"] as? [String: Any])?["data"] as? [String: Any])?["files"] as? Int ?? -1 }
        #expect(held(after) - held(before) == Self.files)

        // A re-run: the journal says done, nothing is sent, no package is made.
        try sandbox.resetStats("agora")
        let again = try flowctl(["run", workspace.job("upload-batch.yml")], environment: env)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("0 done"), "\(again.stderr)")
        let quiet = try sandbox.stats("agora")
        #expect(quiet["uploadRequests"] as? Int == 0)
        #expect(Self.routes(quiet) { $0 == "POST /api/v1/import/" } == 0)

        // Without the journal, the server's copies are found by their SHA-1: nothing is sent.
        try FileManager.default.removeItem(atPath: workspace.root + "/state")
        try sandbox.resetStats("agora")
        let fresh = try flowctl(["run", workspace.job("upload-batch.yml")], environment: env)
        #expect(fresh.status == 0, "\(fresh.stderr)")
        let none = try sandbox.stats("agora")
        #expect(none["uploadRequests"] as? Int == 0)
        #expect(Self.routes(none) { $0 == "POST /api/v1/import/" } == 0)
        let last = try JSONSerialization.jsonObject(with: sandbox.control("agora", "/_sandbox/info")) as! [String: Any]
        #expect(held(last) == held(after))
    }

    @Test func xnatListsTheResourceOncePerRunNotPerFile() throws {
        let sandbox = try SandboxProcess(["--platforms", "xnat"])
        defer { sandbox.stop() }
        let workspace = try Self.workspace(platform: "xnat",
                                           into: "{project: testenv, subject: SUBJ_001, experiment: SUBJ_001_MR1, resource: BATCH}")
        defer { workspace.remove() }
        // An upload-only job keeps its journal under $XDG_STATE_HOME.
        let env = sandbox.environment.merging(["XDG_STATE_HOME": workspace.root + "/state"]) { $1 }
        let first = try flowctl(["run", workspace.job("upload-batch.yml")], environment: env)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("\(Self.files) done"), "\(first.stderr)")
        let stats = try sandbox.stats("xnat")
        let listings = Self.routes(stats) { $0.hasPrefix("GET ") && $0.contains("/resources/") && $0.hasSuffix("/files") }
        // Before: 2 per file (80). Now one per run, and while no file shows the resource's URI
        // shape yet, one per upload in flight (concurrency 4).
        #expect(listings >= 1 && listings <= 5, "\(stats["routes"] ?? "")")
        #expect(Self.routes(stats) { $0.hasPrefix("PUT ") && $0.contains("/files/") } == Self.files)
        // Every file is held with the MD5 hashed while it was sent.
        let verify = try flowctl(["status", workspace.job("upload-batch.yml"), "--format", "json"], environment: env)
        let counts = try JSONSerialization.jsonObject(with: Data(verify.stdout.utf8)) as? [String: Any]
        #expect(counts?["done"] as? Int == Self.files)

        // Without the journal the resource is listed once and every file found by its MD5.
        try FileManager.default.removeItem(atPath: workspace.root + "/state")
        try sandbox.resetStats("xnat")
        let fresh = try flowctl(["run", workspace.job("upload-batch.yml")], environment: env)
        #expect(fresh.status == 0, "\(fresh.stderr)")
        let again = try sandbox.stats("xnat")
        #expect(again["uploadRequests"] as? Int == 0)
        #expect(Self.routes(again) { $0.hasPrefix("GET ") && $0.contains("/resources/") && $0.hasSuffix("/files") } == 1)
    }
}
}
