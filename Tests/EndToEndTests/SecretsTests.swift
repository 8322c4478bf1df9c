import Foundation
import Testing

/// Every command over the four platforms, with credentials given every way a job takes them
/// (environment, a URL's `user:password@`, tokens, an API key), and then with wrong ones (the
/// logins refused): no byte flowctl prints or writes holds a secret.
extension EndToEnd {
@Suite struct SecretsTests {
    static let job = """
        flowctl: 1
        name: secrets
        sources:
          xnat:
            type: xnat
            url: ${env.SECRETS_XNAT_URL}
            tls: {ca: "${env.FLOWCTL_SANDBOX_CA:-}"}
          loris:
            type: loris
            url: ${env.LORIS_URL}
            api: ${env.LORIS_API_VERSION:-v0.0.3-dev}
            user: ${env.LORIS_USER}
            password: ${env.LORIS_PASS}
            tls: {ca: "${env.FLOWCTL_SANDBOX_CA:-}"}
          gc:
            type: grand-challenge
            url: ${env.GC_URL}
            token: ${env.GC_TOKEN}
            tls: {ca: "${env.FLOWCTL_SANDBOX_CA:-}"}
          agora:
            type: agora
            url: ${env.AGORA_URL}
            api-key: ${env.AGORA_API_KEY}
            tls: {ca: "${env.FLOWCTL_SANDBOX_CA:-}"}
        select:
          dwi: {source: xnat, project: testenv, subjects: [SUBJ_001], scans: {type: [DWI_ALFA1]}, resource: NIFTI}
          mri: {source: loris, candidates: "*", visits: "PRE*", files: "*.mnc"}
          ct: {source: gc, archive: coronacases.org, images: {name: "coronacases_001*"}}
          raw: {source: agora, project: Wrist Study, exams: {name: "Wrist*"}, datasets: {type: PHILIPS_RAW}}
        actions:
          x: {download: dwi, to: ../out/x}
          l: {download: mri, to: ../out/l}
          g: {download: ct, to: ../out/g}
          a: {download: raw, to: ../out/a}
        """

    @Test func noOutputHoldsACredential() throws {
        let sandbox = try SandboxProcess(["--platforms", "xnat,loris,gc,agora", "--xnat-subjects", "2",
                                          "--loris-candidates", "2"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: [])
        defer { workspace.remove() }
        let job = workspace.job("secrets.yml")
        try Self.job.write(toFile: job, atomically: false, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: workspace.root + "/tmp", withIntermediateDirectories: true)

        var good = sandbox.environment
        let xnat = sandbox.platform("xnat")
        let xnatUser = xnat["username"] as! String, xnatPassword = xnat["password"] as! String
        func withUser(_ url: String, _ password: String) -> String {
            url.replacingOccurrences(of: "://", with: "://\(xnatUser):\(password)@")
        }
        good["SECRETS_XNAT_URL"] = withUser(good["XNAT_URL"]!, xnatPassword)
        good["TMPDIR"] = workspace.root + "/tmp"
        var secrets = [xnatPassword, good["LORIS_PASS"]!, good["GC_TOKEN"]!, good["AGORA_API_KEY"]!,
                       Data("\(xnatUser):\(xnatPassword)".utf8).base64EncodedString()]
        // Wrong credentials of the same shapes: the failure paths (401, refused logins).
        var wrong = good
        wrong["SECRETS_XNAT_URL"] = withUser(good["XNAT_URL"]!, "wrong-xnat-secret")
        wrong["LORIS_PASS"] = "wrong-loris-secret"
        wrong["GC_TOKEN"] = "wrong-gc-secret"
        wrong["AGORA_API_KEY"] = "wrong-agora-secret"
        secrets += ["wrong-xnat-secret", "wrong-loris-secret", "wrong-gc-secret", "wrong-agora-secret"]

        var printed: [(String, String)] = []
        func flowctl(_ arguments: [String], _ environment: [String: String], want: Int32? = 0) throws {
            let result = try run(try builtProduct("flowctl"), arguments, environment: environment, currentDirectory: workspace.root)
            if let want { #expect(result.status == want, "flowctl \(arguments.joined(separator: " ")): \(result.stderr)") }
            printed.append((arguments.joined(separator: " "), result.stdout + result.stderr))
        }
        try flowctl(["validate", job], good)
        try flowctl(["plan", job], good)
        try flowctl(["plan", "--format", "json", job], good)
        try flowctl(["lock", job], good)
        try flowctl(["run", "--events", "json", job], good)
        try flowctl(["run", "--locked", job], good)
        try flowctl(["status", job], good)
        try flowctl(["status", "--format", "json", job], good)
        try flowctl(["report", workspace.root + "/out/x"], good)
        try flowctl(["verify", workspace.root + "/out/l"], good)
        try flowctl(["submit", "--slurm", "--shards", "2", "--dry-run", job], good)
        try flowctl(["explore", job, "xnat"], good)
        try flowctl(["explore", "--type", "loris", "--url", good["LORIS_URL"]!, "--credential", "user=\(good["LORIS_USER"]!)",
                     "--credential", "password=wrong-loris-secret", "--set", "sources.explored.tls.ca=\(good["FLOWCTL_SANDBOX_CA"]!)"], good, want: nil)
        // Refused everywhere: every listing fails, and says why.
        try flowctl(["plan", job], wrong, want: nil)
        try flowctl(["run", "--events", "json", "--keep-going", job], wrong, want: nil)
        try flowctl(["status", job], wrong, want: nil)

        #expect(try String(contentsOfFile: job.replacingOccurrences(of: ".yml", with: ".lock.json"), encoding: .utf8)
            .contains("\"url\" : \"\(good["XNAT_URL"]!)"))
        #expect(printed.contains { $0.1.contains("refused the login") }, "\(printed.map(\.1))")
        for (command, output) in printed {
            for secret in secrets { #expect(!output.contains(secret), "`flowctl \(command)` printed a credential: \(output)") }
        }
        // Every file written: the lock file, journals (SQLite and its WAL), reports, manifests, temporary files.
        let files = try FileManager.default.subpathsOfDirectory(atPath: workspace.root)
            .filter { $0 != "jobs/secrets.yml" }
        #expect(files.contains("jobs/secrets.lock.json"))
        #expect(files.contains { $0.hasSuffix("journal.sqlite") })
        for file in files {
            guard let data = FileManager.default.contents(atPath: workspace.root + "/" + file) else { continue }
            for secret in secrets {
                #expect(data.range(of: Data(secret.utf8)) == nil, "\(file) holds a credential")
            }
        }
    }
}
}
