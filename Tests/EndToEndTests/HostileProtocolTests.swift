import Foundation
import Testing

/// Hostile servers beyond XNAT downloads (Sources/FlowSandbox/Hostile/README.md, "Grand
/// Challenge" and "Agora"): lying page counts, jobs that never end or end in an unknown status,
/// outputs named to climb, uploads whose parts fail, whose files vanish, whose part URLs point at
/// another origin, and imports that fail or never finish. Each runs the built flowctl against
/// `flowctl-sandbox serve --hostile`.
extension EndToEnd {
@Suite struct HostileProtocolTests {
    static let sandboxArguments = ["--hostile", "--platforms", "gc,agora", "--file-size", "4KiB..16KiB"]

    static let gcSource = """
        gc:
          type: grand-challenge
          url: ${env.GC_URL}
          token: ${env.GC_TOKEN}
          tls: {ca: "${env.FLOWCTL_SANDBOX_CA}"}
          retry: {attempts: 1}
          part-size: 4KiB
          processing-timeout: 2s
      """

    /// A workspace with one job file (`jobs/job.yml`) of the given text.
    static func workspace(_ job: String, files: [String: Int] = [:]) throws -> Workspace {
        let workspace = try Workspace(jobs: [])
        try job.write(toFile: workspace.job("job.yml"), atomically: false, encoding: .utf8)
        if !files.isEmpty { try FileManager.default.createDirectory(atPath: workspace.root + "/files", withIntermediateDirectories: true) }
        for (name, size) in files {
            let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ name.utf8.count) }
            try Data(bytes).write(to: URL(fileURLWithPath: workspace.root + "/files/" + name))
        }
        return workspace
    }

    /// `flowctl run --keep-going` of the workspace's job: it must fail (exit 1) within 60 s, and
    /// print no raw escape. Returns its stderr and the lines of it.
    static func failingRun(_ workspace: Workspace, _ sandbox: SandboxProcess,
                           sourceLocation: SourceLocation = #_sourceLocation) throws -> (stderr: String, lines: [Substring]) {
        let started = Date()
        let result = try flowctl(["run", "--keep-going", workspace.job("job.yml")], environment: sandbox.environment)
        #expect(result.status == 1, "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(Date().timeIntervalSince(started) < 60, sourceLocation: sourceLocation)
        #expect(!result.stderr.contains("\u{1B}"), "a raw escape reached the terminal", sourceLocation: sourceLocation)
        return (result.stderr, result.stderr.split(separator: "\n"))
    }

    /// Images of that name in the sandbox archive, asked of the GC API itself.
    static func imagesNamed(_ name: String, _ sandbox: SandboxProcess) throws -> Int {
        let env = sandbox.environment
        let url = (env["GC_URL"] ?? "") + "cases/images/?name=" + name
        let reply = try run("/usr/bin/curl", ["-sS", "--fail", "--cacert", sandbox.caPath, "-H", "Authorization: Bearer \(env["GC_TOKEN"] ?? "")", url])
        let json = try JSONSerialization.jsonObject(with: Data(reply.stdout.utf8)) as? [String: Any]
        return (json?["results"] as? [Any])?.count ?? -1
    }

    /// `count` is a hint only: 10^15 for three images ends after one window of empty pages (on
    /// main: an array of 10^13 offsets, never finished); 1 for 150 images still lists all 150.
    @Test func gcPageCountsThatLieNeitherHangNorLoseImages() throws {
        let sandbox = try SandboxProcess(Self.sandboxArguments)
        defer { sandbox.stop() }
        let workspace = try Self.workspace("""
            flowctl: 1
            name: hostile-gc-pages
            sources:
            \(Self.gcSource)
            select:
              huge: {source: gc, archive: hostile-count-huge, images: {name: "*.mha"}}
              short: {source: gc, archive: hostile-count-short, images: {name: "*.mha"}}
            actions:
              pull-huge: {download: huge, to: ../out/huge, layout: "{file.name}"}
              pull-short: {download: short, to: ../out/short, layout: "{file.name}"}
            """)
        defer { workspace.remove() }
        let started = Date()
        let result = try flowctl(["run", workspace.job("job.yml")], environment: sandbox.environment)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(Date().timeIntervalSince(started) < 60)
        #expect(try workspace.listing("out/huge").split(separator: "\n").count == 3)
        #expect(try workspace.listing("out/short").split(separator: "\n").count == 150)
    }

    /// A job stuck in `Executing`, one in a status nobody documents (with an escape sequence in
    /// it): each wait ends at its bound, naming the job, the bound and the last status (escaped);
    /// a re-run waits for the same jobs rather than starting new ones. Outputs named `../../x`,
    /// `/tmp/...` and `..` land inside the root or are named; the honest one arrives.
    @Test func gcJobsThatNeverEndAndOutputsThatClimb() throws {
        let sandbox = try SandboxProcess(Self.sandboxArguments)
        defer { sandbox.stop() }
        try? FileManager.default.removeItem(atPath: "/tmp/flowctl-hostile/absolute.mha")
        let workspace = try Self.workspace("""
            flowctl: 1
            name: hostile-gc-jobs
            sources:
            \(Self.gcSource)
            select:
              ct: {source: gc, archive: coronacases.org, images: {name: coronacases_001.mha}}
            actions:
              stuck: {run-algorithm: hostile-stuck, over: ct, wait: {timeout: 2s, poll: 200ms}}
              unknown: {run-algorithm: hostile-unknown-status, over: ct, wait: {timeout: 2s, poll: 200ms}}
              climb: {run-algorithm: hostile-outputs-climb, over: ct, wait: {timeout: 60s, poll: 200ms}}
              climbed: {download: climb.outputs, to: ../out/climb, layout: "{output.name}"}
            """)
        defer { workspace.remove() }
        let (first, lines) = try Self.failingRun(workspace, sandbox)
        let stuck = lines.first { $0.contains("stuck/") && $0.contains("did not finish within 2 s") }
        #expect(stuck?.contains("\"Executing\"") == true, "\(first)")
        let unknown = lines.first { $0.contains("unknown/") && $0.contains("did not finish within 2 s") }
        #expect(unknown?.contains("not a status Grand Challenge documents") == true, "\(first)")
        // One refused name (`..`) costs only itself: the honest output and the two made safe
        // arrive (on main the first refusal ended the task, and the outputs after it never came).
        let climbed = try workspace.listing("out/climb")
        for name in ["ok.mha ", ".._.._climbed.mha ", "_tmp_flowctl-hostile_absolute.mha "] {
            #expect(climbed.contains(name), "\(climbed)\n\(first)")
        }
        #expect(lines.contains { $0.contains("climbed/") && $0.contains("1 of 4 outputs not kept") && $0.contains("\"..\"") },
                "\(first)")
        let outside = try run("/usr/bin/find", [workspace.root, "-name", "*.mha", "-not", "-path", workspace.root + "/out/climb/*"])
        #expect(outside.stdout.isEmpty, "\(outside.stdout)")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/flowctl-hostile/absolute.mha"))

        try sandbox.resetStats("gc")
        _ = try Self.failingRun(workspace, sandbox)
        let routes = try sandbox.stats("gc")["routes"] as? [String: Int] ?? [:]
        #expect(routes["POST /api/v1/algorithms/jobs/"] ?? 0 == 0, "a re-run started new jobs: \(routes)")
    }

    /// Uploads against a lying server: the first upload of a file takes part 1 then answers 500
    /// for ever (the run fails naming the 500; the re-run sends it again and ends with exactly one
    /// image); a file accepted with 200 whose image never appears fails at `processing-timeout`
    /// naming that bound; part URLs on another origin (`localhost`) get no token.
    @Test func gcUploadsAgainstALyingServer() throws {
        let sandbox = try SandboxProcess(Self.sandboxArguments)
        defer { sandbox.stop() }
        let files = ["hostile-parts-500.mha": 10_000, "hostile-vanishes.mha": 3000, "hostile-presign-elsewhere.mha": 10_000]
        let workspace = try Self.workspace("""
            flowctl: 1
            name: hostile-gc-uploads
            sources:
            \(Self.gcSource)
              local: {type: local, url: ../files}
            select:
              files: {source: local, files: "*.mha"}
            actions:
              push: {upload: files, to: gc, into: {archive: sandbox-archive}}
            """, files: files)
        defer { workspace.remove() }
        let (first, lines) = try Self.failingRun(workspace, sandbox)
        #expect(lines.contains { $0.contains("hostile-parts-500.mha") && $0.contains("500") }, "\(first)")
        #expect(lines.contains { $0.contains("hostile-vanishes.mha") && $0.contains("after 2 s") && $0.contains("processing-timeout") },
                "\(first)")
        #expect(try Self.imagesNamed("hostile-presign-elsewhere.mha", sandbox) == 1)
        let record = try JSONSerialization.jsonObject(with: sandbox.control("gc", "/_sandbox/hostile/gc")) as? [String: Any] ?? [:]
        #expect(record["withAuthorization"] as? Int == 0, "\(record)")
        #expect((record["hosts"] as? [String] ?? []).contains { $0.hasPrefix("localhost:") }, "\(record)")

        let (again, _) = try Self.failingRun(workspace, sandbox)  // the vanishing file fails again, as it should
        #expect(!again.contains("hostile-parts-500.mha:"), "\(again)")
        #expect(try Self.imagesNamed("hostile-parts-500.mha", sandbox) == 1)
        #expect(try Self.imagesNamed("hostile-presign-elsewhere.mha", sandbox) == 1)
    }

    /// Agora task runs that never end, or end in a state nobody knows: each wait ends at its
    /// bound naming the last state (on main: always "started", whatever Agora said).
    @Test func agoraTasksThatNeverEnd() throws {
        let sandbox = try SandboxProcess(Self.sandboxArguments)
        defer { sandbox.stop() }
        let workspace = try Self.workspace("""
            flowctl: 1
            name: hostile-agora-tasks
            sources:
              agora: {type: agora, url: "${env.AGORA_URL}", api-key: "${env.AGORA_API_KEY}"}
            select:
              raw: {source: agora, project: Wrist Study, exams: {name: "Wrist*"}, datasets: {type: PHILIPS_RAW}}
            actions:
              never: {run-task: "Hostile (never ends)", over: raw, input: raw, wait: {timeout: 2s, poll: 200ms}}
              unknown: {run-task: "Hostile (unknown state)", over: raw, input: raw, wait: {timeout: 2s, poll: 200ms}}
            """)
        defer { workspace.remove() }
        let (stderr, lines) = try Self.failingRun(workspace, sandbox)
        #expect(lines.contains { $0.contains("never/") && $0.contains("did not finish within 2 s") && $0.contains("\"started\"") }, "\(stderr)")
        #expect(lines.contains { $0.contains("unknown/") && $0.contains("state 42") }, "\(stderr)")
    }

    /// An Agora import whose `result` lies about the SHA-1 of what it imported: the retry lists
    /// the folder again, finds the file there with the local SHA-1 and keeps it, so the file is
    /// imported once (on main the retry used the folder listing from before the import and
    /// imported the file a second time); a re-run imports nothing.
    @Test func agoraImportWhoseDigestLies() throws {
        let sandbox = try SandboxProcess(Self.sandboxArguments)
        defer { sandbox.stop() }
        let workspace = try Self.workspace("""
            flowctl: 1
            name: hostile-agora-digest
            sources:
              agora: {type: agora, url: "${env.AGORA_URL}", api-key: "${env.AGORA_API_KEY}"}
              local: {type: local, url: ../files}
            select:
              files: {source: local, files: "*.dat"}
            actions:
              push: {upload: files, to: agora, into: {project: Wrist Study, folder: /hostile-import-sha1-lies}}
            """, files: ["a.dat": 2000])
        defer { workspace.remove() }
        func datasets() throws -> Int {
            let info = try JSONSerialization.jsonObject(with: sandbox.control("agora", "/_sandbox/info")) as? [String: Any]
            return ((info?["agora"] as? [String: Any])?["data"] as? [String: Any])?["datasets"] as? Int ?? -1
        }
        let before = try datasets()
        let first = try flowctl(["run", "--events", "json", workspace.job("job.yml")], environment: sandbox.environment)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("Agora imported SHA-1 " + String(repeating: "0", count: 40)), "the lie is not in the retry's reason")
        #expect(try datasets() == before + 1, "the run's retries imported the file again")
        let completes = { (try sandbox.stats("agora")["routes"] as? [String: Int])?["POST /api/v1/import/{id}/complete/"] ?? 0 }
        let routes = try sandbox.stats("agora")["routes"] ?? [:]
        #expect(try completes() == 1, "the file was imported more than once: \(routes)")
        #expect(try flowctl(["run", workspace.job("job.yml")], environment: sandbox.environment).status == 0)
        #expect(try datasets() == before + 1, "the re-run imported the file again")
        #expect(try completes() == 1, "the re-run imported the file again")
    }

    /// Agora imports that fail (the platform's message is reported, escaped) or never finish
    /// (the source's `processing-timeout` ends the wait, naming the last state).
    @Test func agoraImportsThatFailOrNeverFinish() throws {
        let sandbox = try SandboxProcess(Self.sandboxArguments)
        defer { sandbox.stop() }
        let workspace = try Self.workspace("""
            flowctl: 1
            name: hostile-agora-imports
            sources:
              agora:
                type: agora
                url: ${env.AGORA_URL}
                api-key: ${env.AGORA_API_KEY}
                processing-timeout: 2s
              local: {type: local, url: ../files}
            select:
              files: {source: local, files: "*.dat"}
            actions:
              fails: {upload: files, to: agora, into: {project: Wrist Study, folder: /hostile-import-fails}}
              stuck: {upload: files, to: agora, into: {project: Wrist Study, folder: /hostile-import-stuck}}
            """, files: ["a.dat": 2000])
        defer { workspace.remove() }
        let (stderr, lines) = try Self.failingRun(workspace, sandbox)
        #expect(lines.contains { $0.contains("fails/") && $0.contains("DICOM parser failed") }, "\(stderr)")
        #expect(lines.contains { $0.contains("stuck/") && $0.contains("did not finish within 2 s") && $0.contains("state 3") }, "\(stderr)")
    }
}
}
