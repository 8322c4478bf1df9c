import Foundation
import Testing

extension EndToEnd {
/// A large upload killed with SIGKILL goes on in the next run from what the server holds (issue
/// #27): Grand Challenge by its parts (`list-parts`), Agora by its chunks. The upload's id is in
/// the journal before the first byte is sent; the sandbox's counters show what was sent twice.
@Suite struct UploadResumeTests {
    /// Writes a job uploading `files` files of `mib` MiB in all (sparse: no time to write them)
    /// in 1 MiB parts.
    static func workspace(platform: String, mib: Int, files: Int = 1) throws -> Workspace {
        let workspace = try Workspace(jobs: [])
        try FileManager.default.createDirectory(atPath: workspace.root + "/data", withIntermediateDirectories: true)
        for i in 1...files {
            let path = workspace.root + (files == 1 ? "/data/big.mha" : "/data/part_\(i).mha")
            #expect(FileManager.default.createFile(atPath: path, contents: nil))
            #expect(truncate(path, (off_t(mib) << 20) / off_t(files)) == 0)
        }
        let source: String, into: String
        switch platform {
        case "gc":
            source = "type: grand-challenge\n    url: ${env.GC_URL}\n    token: ${env.GC_TOKEN}"
            into = "{archive: sandbox-archive}"
        default:
            source = "type: agora\n    url: ${env.AGORA_URL}\n    api-key: ${env.AGORA_API_KEY}"
            into = "{project: Wrist Study, folder: /Resumed}"
        }
        let job = """
        flowctl: 1
        name: upload-resume
        sources:
          files:
            type: local
            url: ../data
          remote:
            \(source)
            tls: {ca: "${env.FLOWCTL_SANDBOX_CA}"}
            part-size: 1MiB
        select:
          all:
            source: files
            files: "*"
        actions:
          push:
            upload: all
            to: remote
            into: \(into)

        """
        try job.write(toFile: workspace.job("upload-resume.yml"), atomically: false, encoding: .utf8)
        return workspace
    }

    /// Starts `flowctl run`, SIGKILLs it once the sandbox has received `fraction` of `bytes`;
    /// returns the bytes received by then (nil if the run ended first). The sandbox stops reading
    /// uploads at that point (`stallUploadsAfterBytes`), so the kill lands mid-upload however
    /// slowly this test polls on a loaded machine.
    static func killMidUpload(_ job: String, sandbox: SandboxProcess, platform: String, env: [String: String],
                              bytes: Int64, fraction: Double) throws -> Int64? {
        let stallAt = Int64(fraction * Double(bytes))
        _ = try sandbox.control(platform, "/_sandbox/faults", method: "POST", body: "{\"stallUploadsAfterBytes\": \(stallAt)}")
        defer { _ = try? sandbox.control(platform, "/_sandbox/faults", method: "DELETE") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try builtProduct("flowctl"))
        process.arguments = ["run", "--quiet", job]
        process.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning && Date() < deadline {
            let received = (try sandbox.stats(platform)["bytesReceived"] as? NSNumber)?.int64Value ?? 0
            if received >= stallAt {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                return (try sandbox.stats(platform)["bytesReceived"] as? NSNumber)?.int64Value ?? received
            }
            usleep(10_000)
        }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return nil
    }

    static func info(_ sandbox: SandboxProcess, _ platform: String) throws -> [String: Int] {
        let all = try JSONSerialization.jsonObject(with: sandbox.control(platform, "/_sandbox/info")) as! [String: Any]
        return ((all[platform] as? [String: Any])?["data"] as? [String: Int]) ?? [:]
    }

    /// What a kill and a re-run left on the server: the route counts, and what each data count grew by.
    struct Resumed {
        let routes: [String: Int]
        let grew: [String: Int]
    }

    /// Uploads `files` files of `mib` MiB in all to `platform`, kills flowctl (SIGKILL) once `fraction`
    /// of the bytes arrived, runs the job again, and checks that it finished with < 5 % sent twice.
    static func killAndResume(platform: String, mib: Int, files: Int = 1, fraction: Double) throws -> Resumed {
        let size = Int64(mib) << 20
        let sandbox = try SandboxProcess(["--platforms", platform])
        defer { sandbox.stop() }
        let workspace = try Self.workspace(platform: platform, mib: mib, files: files)
        defer { workspace.remove() }
        let env = sandbox.environment.merging(["XDG_STATE_HOME": workspace.root + "/state"]) { $1 }
        let before = try Self.info(sandbox, platform)

        let atKill = try #require(try Self.killMidUpload(workspace.job("upload-resume.yml"), sandbox: sandbox, platform: platform,
                                                         env: env, bytes: size, fraction: fraction),
                                  "the upload ended before it could be killed")
        #expect(atKill < size, "killed after \(atKill) of \(size) bytes")

        let again = try flowctl(["run", workspace.job("upload-resume.yml")], environment: env)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("\(files) done"), "\(again.stderr)")
        let stats = try sandbox.stats(platform)
        let received = (stats["bytesReceived"] as? NSNumber)?.int64Value ?? 0
        // Sent twice: what the killed run had in flight, and anything the second run re-sent.
        let twice = Double(received - size) / Double(size)
        print("upload resume, \(platform), \(files) file(s): killed at \(atKill) of \(size) bytes; \(received) received in all, \(String(format: "%.2f", twice * 100)) % sent twice")
        #expect(received >= size)
        #expect(twice < 0.05, "received \(received) bytes for \(size): \(Int(twice * 100)) % sent twice")

        let after = try Self.info(sandbox, platform)
        return Resumed(routes: stats["routes"] as? [String: Int] ?? [:],
                       grew: after.reduce(into: [:]) { $0[$1.key] = $1.value - (before[$1.key] ?? 0) })
    }

    @Test(arguments: ["gc", "agora"])
    func aKilledUploadResumesFromWhatTheServerHolds(platform: String) throws {
        let resumed = try Self.killAndResume(platform: platform, mib: platform == "gc" ? 256 : 96, fraction: 0.3)
        // No orphan, no duplicate: one new image / datafile, and (GC) one upload, the resumed one.
        if platform == "gc" {
            #expect(resumed.grew["images"] == 1)
            #expect(resumed.grew["archiveItems"] == 1)
            #expect(resumed.grew["uploads"] == 1)
        } else {
            #expect(resumed.grew["files"] == 1)
            #expect(resumed.routes["POST /api/v1/import/"] == 1, "\(resumed.routes)")
        }
    }

    /// Several files go to Agora as one import package; a kill in the middle of it resumes the
    /// package by its chunks (its id is in the journal), not by sending the whole package again.
    @Test func aKilledAgoraPackageResumesByItsChunks() throws {
        let files = 4
        let resumed = try Self.killAndResume(platform: "agora", mib: 96, files: files, fraction: 0.5)
        #expect(resumed.grew["files"] == files)
        #expect(resumed.routes["POST /api/v1/import/"] == 1, "\(resumed.routes)")
    }
}
}
