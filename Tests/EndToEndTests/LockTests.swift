import Foundation
import Testing

extension EndToEnd {
@Suite struct LockTests {
    /// Lock; add, remove and modify one file upstream; plan shows exactly those three drifts;
    /// run --locked fails naming them, with zero listing requests; lock --update and run
    /// converge; verify catches one byte flipped on disk.
    @Test func lockDriftLockedRunAndVerify() throws {
        let sandbox = try SandboxProcess(["--platforms", "xnat"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["xnat-session.yml"])
        defer { workspace.remove() }
        let job = workspace.job("xnat-session.yml")
        let env = sandbox.environment

        let lock = try flowctl(["lock", job], environment: env)
        #expect(lock.status == 0, "\(lock.stderr)")
        let lockText = try String(contentsOfFile: workspace.root + "/jobs/xnat-session.lock.json", encoding: .utf8)
        #expect(lockText.contains("\"sha256\""))
        #expect(lockText.contains("\"md5\""))
        #expect(!lockText.contains(env["XNAT_PASS"]!))

        // A locked run makes no listing request at all.
        try sandbox.resetStats("xnat")
        let locked = try flowctl(["run", "--locked", job], environment: env)
        #expect(locked.status == 0, "\(locked.stderr)")
        #expect(try sandbox.stats("xnat")["listingRequests"] as? Int == 0)

        let base = "testenv/SUBJ_001/SUBJ_001_MR1"
        _ = try sandbox.control("xnat", "/_sandbox/items", method: "POST",
                                body: #"{"op":"add","path":"\#(base)/1/DICOM/extra.dcm","size":1000}"#)
        _ = try sandbox.control("xnat", "/_sandbox/items", method: "POST",
                                body: #"{"op":"remove","path":"\#(base)/2/DICOM/SUBJ_001_MR1.MR.2.0001.dcm"}"#)
        _ = try sandbox.control("xnat", "/_sandbox/items", method: "POST",
                                body: #"{"op":"modify","path":"\#(base)/4/DICOM/SUBJ_001_MR1.MR.4.0002.dcm","content":"changed"}"#)

        let plan = try flowctl(["plan", job, "--detailed-exitcode"], environment: env)
        #expect(plan.status == 2)
        #expect(plan.stdout.contains("drift against the lock: 1 added, 1 removed, 1 changed"), "\(plan.stdout)")
        #expect(plan.stdout.contains("+ session: ") && plan.stdout.contains("extra.dcm"))
        #expect(plan.stdout.contains("- session: ") && plan.stdout.contains("MR.2.0001.dcm"))
        #expect(plan.stdout.contains("~ session: ") && plan.stdout.contains("MR.4.0002.dcm"))

        // The locked run re-fetches into a fresh folder and names what changed upstream.
        let fresh = try flowctl(["run", "--locked", job, "--set", "actions.pull.to=../fresh"], environment: env)
        #expect(fresh.status == 1)
        #expect(fresh.stderr.contains("changed or vanished upstream"))
        #expect(fresh.stderr.contains("MR.2.0001.dcm"))
        #expect(fresh.stderr.contains("MR.4.0002.dcm"))

        let update = try flowctl(["lock", "--update", job], environment: env)
        #expect(update.status == 0, "\(update.stderr)")
        let converged = try flowctl(["run", "--locked", job], environment: env)
        #expect(converged.status == 0, "\(converged.stderr)")
        #expect(try flowctl(["plan", job, "--detailed-exitcode"], environment: env).status == 0)

        let out = workspace.root + "/out/xnat-session"
        #expect(try flowctl(["verify", out]).status == 0)
        let victim = try run("/usr/bin/find", [out, "-name", "*.dcm"]).stdout.split(separator: "\n").sorted()[3]
        var bytes = try Data(contentsOf: URL(fileURLWithPath: String(victim)))
        bytes[10] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: String(victim)))
        let verify = try flowctl(["verify", out])
        #expect(verify.status == 1)
        #expect(verify.stdout.contains("changed  "))
        #expect(verify.stdout.contains("1 changed"))
    }

    /// Issue #27: after a complete run, `lock` and `lock --update` fetched every LORIS file body
    /// again (the listing gives no size, so the journal's sha256 was not trusted), and LORIS
    /// lock items had no size. Now they fetch nothing and every item has its size.
    @Test func lockAfterACompleteRunFetchesNoBody() throws {
        let sandbox = try SandboxProcess(["--platforms", "loris,xnat", "--loris-candidates", "3"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["preventad-mri.yml", "xnat-session.yml"])
        defer { workspace.remove() }
        let env = sandbox.environment
        for (job, platform) in [("preventad-mri.yml", "loris"), ("xnat-session.yml", "xnat")] {
            let path = workspace.job(job)
            let run = try flowctl(["run", path], environment: env)
            #expect(run.status == 0, "\(run.stderr)")
            for arguments in [["lock", path], ["lock", "--update", path]] {
                try sandbox.resetStats(platform)
                let lock = try flowctl(arguments, environment: env)
                #expect(lock.status == 0, "\(lock.stderr)")
                #expect(try sandbox.stats(platform)["downloadRequests"] as? Int == 0, "\(arguments) \(job)")
            }
            let data = try Data(contentsOf: URL(fileURLWithPath: path.replacingOccurrences(of: ".yml", with: ".lock.json")))
            let lock = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let selections = try #require(lock["selections"] as? [String: [String: Any]])
            let items = selections.values.flatMap { $0["items"] as? [[String: Any]] ?? [] }
            #expect(!items.isEmpty)
            #expect(items.allSatisfy { ($0["size"] as? Int).map { $0 > 0 } ?? false }, "\(job): an item without its size")
        }
    }
}
}
