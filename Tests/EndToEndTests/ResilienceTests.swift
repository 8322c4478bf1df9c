import Foundation
import Testing

extension EndToEnd {
@Suite struct ResilienceTests {
    /// Kill -9 at 20 random moments, re-run each time: the tree ends byte-identical, no `.part`
    /// is left, and the journal shows no file transferred in full twice (resumes only).
    @Test func survivesTwentyKills() throws {
        // Slow bodies keep transfers in flight, so kills land mid-file.
        let sandbox = try SandboxProcess(["--platforms", "xnat", "--xnat-subjects", "6", "--slow-body-bps", "400000"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["xnat-session.yml"])
        defer { workspace.remove() }
        let job = workspace.job("xnat-session.yml")
        let args = ["run", job, "--set", "select.session.subjects=*", "-q"]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let process = try startFlowctl(args, environment: sandbox.environment)
            usleep(UInt32.random(in: 50_000...400_000, using: &generator))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        let last = try flowctl(args, environment: sandbox.environment)
        #expect(last.status == 0, "\(last.stderr)")
        let parts = try run("/usr/bin/find", [workspace.root + "/out", "-name", "*.part"]).stdout
        #expect(parts.isEmpty, "left over: \(parts)")

        // Byte-identical to a clean run into another folder.
        let clean = try flowctl(["run", job, "--set", "select.session.subjects=*", "--set", "actions.pull.to=../clean", "-q"],
                                environment: sandbox.environment)
        #expect(clean.status == 0, "\(clean.stderr)")
        #expect(try workspace.listing("out/xnat-session") == workspace.listing("clean"))

        let sql = "SELECT taskID FROM transfers WHERE resumed = 0 GROUP BY taskID HAVING COUNT(*) > 1"
        let twice = try run("/usr/bin/sqlite3", [workspace.root + "/out/xnat-session/.flowctl/journal.sqlite", sql])
        #expect(twice.status == 0, "\(twice.stderr)")
        #expect(twice.stdout.isEmpty, "transferred in full twice: \(twice.stdout)")
    }

    /// Files above the unnamed-file limit (4 MiB) are written to `.part` files: a run killed
    /// mid-file leaves them, and the next run continues each with `Range` instead of starting over.
    @Test func killedBigDownloadsResumeFromTheirPartFiles() throws {
        let sandbox = try SandboxProcess(["--platforms", "xnat", "--xnat-subjects", "1", "--xnat-dicom-files", "1",
                                          "--file-size", "6MiB", "--slow-body-bps", "4000000"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["xnat-session.yml"])
        defer { workspace.remove() }
        let args = ["run", workspace.job("xnat-session.yml"), "-q"]
        let process = try startFlowctl(args, environment: sandbox.environment)
        // 6 MiB at 4 MB/s takes 1.6 s: wait until some .part holds part of a file, then kill.
        let out = workspace.root + "/out/xnat-session"
        var partial: [String] = []
        let deadline = Date().addingTimeInterval(20)
        while partial.isEmpty && Date() < deadline {
            usleep(50_000)
            let parts = try run("/usr/bin/find", [out, "-name", "*.part", "-size", "+256k"]).stdout
            partial = parts.split(separator: "\n").map(String.init)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try #require(!partial.isEmpty, "no .part file appeared")

        let rest = try flowctl(args, environment: sandbox.environment)
        #expect(rest.status == 0, "\(rest.stderr)")
        #expect(try run("/usr/bin/find", [out, "-name", "*.part"]).stdout.isEmpty)
        let sql = "SELECT COUNT(*) FROM transfers WHERE resumed = 1"
        let resumed = try run("/usr/bin/sqlite3", [out + "/.flowctl/journal.sqlite", sql])
        #expect(Int(resumed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 >= 1,
                "no transfer resumed: \(resumed.stdout) \(resumed.stderr)")
        // XNAT lists an MD5 per file and the run checks it: a wrong splice would have failed it.
        let verify = try flowctl(["verify", out])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }

    /// A disk that fills up (here: a file-size limit, which fails writes the same way): the run
    /// fails with the file system's error, names no file that is not whole, keeps what it wrote
    /// in `.part` files, and the next run, with room again, resumes them.
    @Test func aFullDiskFailsClearlyAndLosesNothing() throws {
        let sandbox = try SandboxProcess(["--platforms", "xnat", "--xnat-subjects", "1", "--xnat-dicom-files", "1",
                                          "--file-size", "6MiB"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["xnat-session.yml"])
        defer { workspace.remove() }
        let args = ["run", workspace.job("xnat-session.yml"), "-q"]
        let command = "ulimit -f 3000; exec \"$0\" \"$@\""  // bash counts -f in KiB: about 3 MiB per file
        let limited = try run("/bin/bash", ["-c", command, try builtProduct("flowctl")] + args,
                              environment: sandbox.environment)
        #expect(limited.status == 1)
        #expect(limited.stderr.contains("File too large"), "\(limited.stderr)")
        let out = workspace.root + "/out/xnat-session"
        let named = try run("/usr/bin/find", [out, "-type", "f", "-not", "-name", "*.part", "-not", "-path", "*/.flowctl/*",
                                              "-not", "-name", "flowctl-manifest.json"]).stdout
        #expect(named.isEmpty, "files named before they were whole: \(named)")
        let parts = try run("/usr/bin/find", [out, "-name", "*.part", "-size", "+1M"]).stdout
        #expect(!parts.isEmpty, "the bytes written before the disk filled are kept")

        let rest = try flowctl(args, environment: sandbox.environment)
        #expect(rest.status == 0, "\(rest.stderr)")
        #expect(try run("/usr/bin/find", [out, "-name", "*.part"]).stdout.isEmpty)
        let resumed = try run("/usr/bin/sqlite3", [out + "/.flowctl/journal.sqlite", "SELECT COUNT(*) FROM transfers WHERE resumed = 1"])
        #expect(Int(resumed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 >= 1)
        #expect(try flowctl(["verify", out]).status == 0)
    }

    /// SIGINT: the run stops starting work, keeps partial files, exits 130; the next run finishes.
    @Test func ctrlCStopsCleanlyAndTheNextRunFinishes() throws {
        let sandbox = try SandboxProcess(["--platforms", "xnat", "--xnat-subjects", "4", "--slow-body-bps", "200000"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["xnat-session.yml"])
        defer { workspace.remove() }
        let args = ["run", workspace.job("xnat-session.yml"), "--set", "select.session.subjects=*"]
        let process = try startFlowctl(args, environment: sandbox.environment)
        usleep(700_000)
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        let rest = try flowctl(args, environment: sandbox.environment)
        #expect(rest.status == 0, "\(rest.stderr)")
        #expect(try run("/usr/bin/find", [workspace.root + "/out", "-name", "*.part"]).stdout.isEmpty)
    }
}
}

extension EndToEnd {
/// Archive transfers (`archive: zip`) killed mid-run: the next run fetches again only the scans
/// whose archive had not finished, and the tree ends as a per-file pull makes it, verified.
@Suite struct ArchiveResumeTests {
    @Test func aKilledArchivePullRefetchesOnlyUnfinishedScans() throws {
        // 4 scans of 12 DICOM files (~1.5 MB each), paced: about a second per scan, one at a time.
        let sandbox = try SandboxProcess(["--platforms", "xnat", "--xnat-subjects", "1", "--xnat-dicom-files", "12",
                                          "--slow-body-bps", "1500000"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["xnat-session.yml"])
        defer { workspace.remove() }
        let job = workspace.job("xnat-session.yml")
        let args = ["run", job, "--set", "actions.pull.archive=zip", "--set", "sources.xnat.concurrency=1", "-q"]
        let process = try startFlowctl(args, environment: sandbox.environment)
        // Kill once the journal holds a finished archive (some scans done, some not).
        let journal = workspace.root + "/out/xnat-session/.flowctl/journal.sqlite"
        let sql = "SELECT COUNT(*) FROM tasks WHERE kind = 'download-archive' AND state = 'done'"
        var finished = 0
        let deadline = Date().addingTimeInterval(30)
        while finished == 0 && Date() < deadline {
            usleep(100_000)
            finished = Int((try? run("/usr/bin/sqlite3", [journal, sql]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? "") ?? 0
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try #require(finished >= 1 && finished < 4, "killed with \(finished) of 4 archives done")

        // The killed run's archive in flight is counted when the sandbox notices: wait for that.
        let quiet = Date().addingTimeInterval(5)
        while (try sandbox.stats("xnat")["inFlightRequests"] as? Int ?? 0) > 0 && Date() < quiet { usleep(50_000) }
        try sandbox.resetStats("xnat")
        let rest = try flowctl(args, environment: sandbox.environment)
        #expect(rest.status == 0, "\(rest.stdout)\(rest.stderr)")
        // Only archives (no file fetched on its own), and none of the finished scans again.
        let downloads = try sandbox.stats("xnat")["downloadRequests"] as? Int ?? -1
        let transfers = try run("/usr/bin/sqlite3", [journal, "SELECT taskID FROM transfers"]).stdout
        #expect(downloads >= 1 && downloads <= 4 - finished,
                "archives fetched again: \(downloads), finished before: \(finished); transfers: \(transfers)\n\(rest.stdout)\(rest.stderr)")
        #expect(try run("/usr/bin/find", [workspace.root + "/out", "-name", "*.part"]).stdout.isEmpty)
        let verify = try flowctl(["verify", workspace.root + "/out/xnat-session"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")

        // The same tree as a per-file pull.
        let clean = try flowctl(["run", job, "--set", "actions.pull.to=../clean", "-q"], environment: sandbox.environment)
        #expect(clean.status == 0, "\(clean.stderr)")
        #expect(try workspace.listing("out/xnat-session") == workspace.listing("clean"))
    }

    /// A symbolic link at a file's place (pointing out of the root) is replaced by the member,
    /// never written through; the lock after the pull fetches no body and pins every member's
    /// sha256, and `run --locked` of it into a fresh folder goes through archives too.
    @Test func aLinkAtAFilesPlaceIsReplacedAndTheLockPinsEveryMember() throws {
        let sandbox = try SandboxProcess(["--platforms", "xnat", "--xnat-subjects", "1", "--xnat-dicom-files", "3",
                                          "--xnat-zip-deflate", "1"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["xnat-session-zip.yml"])
        defer { workspace.remove() }
        let job = workspace.job("xnat-session-zip.yml")
        let env = sandbox.environment
        let folder = workspace.root + "/out/xnat-session-zip/session-SUBJ_001_MR1/scan-1_T1"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let outside = workspace.root + "/outside.txt"
        try "outside\n".write(toFile: outside, atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: folder + "/SUBJ_001_MR1.MR.1.0001.dcm", withDestinationPath: outside)

        let pull = try flowctl(["run", job, "-q"], environment: env)
        #expect(pull.status == 0, "\(pull.stdout)\(pull.stderr)")
        #expect(try String(contentsOfFile: outside, encoding: .utf8) == "outside\n", "written through the link")
        let attributes = try FileManager.default.attributesOfItem(atPath: folder + "/SUBJ_001_MR1.MR.1.0001.dcm")
        #expect(attributes[.type] as? FileAttributeType == .typeRegular)
        #expect(try sandbox.stats("xnat")["downloadRequests"] as? Int == 4, "one archive per scan, no file on its own")

        try sandbox.resetStats("xnat")
        let lock = try flowctl(["lock", job], environment: env)
        #expect(lock.status == 0, "\(lock.stderr)")
        #expect(try sandbox.stats("xnat")["downloadRequests"] as? Int == 0, "the lock fetched bodies")
        let lockText = try String(contentsOfFile: workspace.root + "/jobs/xnat-session-zip.lock.json", encoding: .utf8)
        // An item's checksums sit deeper than the lock's own header.
        let pinned = try NSRegularExpression(pattern: "\n {10,}\"sha256\" : \"[0-9a-f]{64}\"")
            .numberOfMatches(in: lockText, range: NSRange(lockText.startIndex..., in: lockText))
        #expect(pinned == 12, "every member pinned with its sha256: \(pinned)")

        try sandbox.resetStats("xnat")
        let locked = try flowctl(["run", "--locked", job, "--set", "actions.pull.to=../fresh", "-q"], environment: env)
        #expect(locked.status == 0, "\(locked.stderr)")
        #expect(try sandbox.stats("xnat")["downloadRequests"] as? Int == 4)
        #expect(try flowctl(["verify", workspace.root + "/fresh"]).status == 0)
    }
}
}
