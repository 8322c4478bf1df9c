import Foundation
import Testing

/// `flowctl run --keep-going` against `flowctl-sandbox serve --hostile` (Sources/FlowSandbox/Hostile/README.md):
/// whatever the server sends, flowctl writes only inside its output root, sends credentials only
/// to their origin, keeps no file whose bytes are not the resource's, names every bad item, keeps
/// every good one, and ends in bounded time and memory. Each test selects the good subject plus
/// one family of attacks, so a failure says which family broke.
extension EndToEnd {
@Suite struct HostileTests {
    @Test func unsafeNamesStayInsideTheRoot() throws {
        let run = try HostileRun(subjects: ["GOOD", "NAMES"])
        try run.checkAll()
        // Error text is ours and escaped: the name's raw ESC sequence never reaches the terminal.
        #expect(!run.result.output.contains("\u{1B}[31m"), "flowctl printed a server-supplied control sequence raw")
    }

    /// Empty, `.`, `..` and NUL names: each is renamed or refused alone, never the whole job.
    @Test func degenerateNamesCostOnlyThemselves() throws {
        try HostileRun(subjects: ["GOOD", "NAMES_DEGENERATE"]).checkAll()
    }

    /// `CASE-TWIN.dcm`/`case-twin.dcm` and `été.dcm` in NFC/NFD: distinct files, none overwrites
    /// another, and a clash costs only the twins.
    @Test func twinNamesNeverOverwriteEachOther() throws {
        try HostileRun(subjects: ["GOOD", "NAMES_TWINS"]).checkAll()
    }

    @Test func redirectsNeverCarryCredentialsElsewhere() throws {
        let run = try HostileRun(subjects: ["GOOD", "REDIRECTS"])
        try run.checkAll()
        #expect(!run.workspaceHolds("root:x:0:0"), "a redirect to file:///etc/passwd was read into the output root")
        #expect(!run.result.output.contains("root:x:0:0"), "a redirect to file:///etc/passwd was read and printed")
    }

    /// With `netrc: true` curl found the password by host name alone, so a redirect to another
    /// port of the same host (the elsewhere origin) and a file URI there got it as Basic auth.
    @Test func netrcCredentialsNeverFollowARedirectElsewhere() throws {
        let run = try HostileRun(subjects: ["GOOD", "REDIRECTS", "BODIES"], netrc: true)
        try run.checkAll()
    }

    /// `tls: {insecure: true}` is for the source's own server: a redirect to another HTTPS origin
    /// (whose certificate this job does not trust either) used to be fetched unverified too.
    @Test func anInsecureSourceStillVerifiesTheHostsItIsRedirectedTo() throws {
        let run = try HostileRun(subjects: ["GOOD", "REDIRECTS"], sourceOptions: ["tls: {insecure: true}"],
                                 sandboxArguments: ["--tls", "hostile-xnat,hostile-elsewhere"])
        try run.checkAll()
        #expect(run.names("redirect-elsewhere", keywords: ["tls", "certificate"]),
                "fetched from another origin without verifying it: \(run.lines(mentioning: "redirect-elsewhere"))")
        #expect(run.result.output.contains("TLS verification is off for source `hostile`"))
    }

    @Test func lyingBodiesAreNeverKept() throws {
        try HostileRun(subjects: ["GOOD", "BODIES"]).checkAll()
    }

    /// A row with an impossible size, a row without URI: each named, their siblings kept.
    @Test func badRowsCostOnlyThemselves() throws {
        try HostileRun(subjects: ["GOOD", "ROWS"]).checkAll()
    }

    @Test func stormsEndWithinTheRetryBudget() throws {
        try HostileRun(subjects: ["GOOD", "STORMS"]).checkAll()
    }

    @Test func brokenListingsCostOnlyTheirBranch() throws {
        try HostileRun(subjects: ["GOOD", "LISTING_NOT_JSON", "LISTING_NOT_UTF8", "LISTING_DEEP", "LISTING_GZIP_BOMB",
                                  "LISTING_HUGE"]).checkAll()
    }

    /// Archive transfers (`archive: zip`): members under climbing, absolute, `\` and `~` names,
    /// a symbolic-link member, a member with other bytes and an unlisted one are never written
    /// (each listed file then arrives on its own, exact), and a zip bomb trips its cap in seconds,
    /// named; the good members arrive from their archives.
    @Test func archiveMembersStayInsideTheRootAndBombsTripFast() throws {
        try Self.checkArchiveAttacks(format: "zip", named: [("archive-climbing", "refused")])
    }

    /// The same attacks in a tar.gz (`archive: tar.gz`), where links are tar entries: the symbolic
    /// and the hard link to `/etc/passwd` are refused by name and never made, the climbing names
    /// never written, the bomb (one gzip stream) trips its cap in seconds; every listed file arrives.
    @Test func tarGzMembersStayInsideTheRootAndBombsTripFast() throws {
        try Self.checkArchiveAttacks(format: "tar.gz", named: [("archive-climbing", "refused"), ("archive-symlink", "symbolic link"),
                                                               ("archive-hardlink", "hard link")])
    }

    /// One run over the `ARCHIVES` subject with `archive: format`; `named`: (file, what its
    /// warning must say).
    static func checkArchiveAttacks(format: String, named: [(slug: String, why: String)]) throws {
        let run = try HostileRun(subjects: ["GOOD", "ARCHIVES"], archive: format)
        try run.checkAll()
        #expect(run.finalFiles[Array("archive-unlisted.dcm".utf8)] == nil, "a member no listing names was written")
        let bomb = run.lines(mentioning: "archive-bomb")
        #expect(bomb.contains { $0.contains("failed") && $0.contains("archive bomb") }, "\(bomb)")
        #expect(run.result.seconds < 60, "the run took \(run.result.seconds) s")
        for (slug, why) in named {
            #expect(run.lines(mentioning: slug).contains { $0.contains(why) }, "\(slug) is not named as \(why): \(run.lines(mentioning: slug))")
        }
    }

    /// A job can say sooner: its source's `timeout` and `retry`.
    @Test func aSilentListingTimesOutWithinTheJobsLimits() throws {
        try HostileRun(subjects: ["GOOD", "LISTING_SILENT"],
                       sourceOptions: ["timeout: 10s", "retry: {attempts: 2, max-time: 30s}"]).checkAll()
    }
}
}

/// One `flowctl run --keep-going` of a hostile job and the checks of the promise against it.
struct HostileRun {
    static let timeLimit = 180.0
    static let memoryLimitKiB = 64 * 1024
    /// Where the absolute and deeply climbing names of the catalogue point.
    static let absoluteTarget = "/tmp/flowctl-hostile"

    let subjects: [String]
    let catalogue: [String: Any]
    let result: MeasuredRun
    let root: String
    let workspace: String
    /// Final files under the root (relative path bytes -> sha256), the journal, manifest and `.part` files left out.
    let finalFiles: [[UInt8]: String]
    /// Paths found outside the root, symlinks anywhere, and other breaches of containment.
    let breaches: [String]
    let elsewhere: [String: Any]
    let servedGoodSHA: String

    /// Starts the hostile sandbox, runs the job over `subjects`, and gathers what the checks need.
    /// `netrc`: the job logs in with `netrc: true` and a `~/.netrc` (in the workspace) instead of `user`/`password`.
    init(subjects: [String], sourceOptions: [String] = [], archive: String? = nil, netrc: Bool = false,
         sandboxArguments: [String] = []) throws {
        self.subjects = subjects
        let sandbox = try SandboxProcess(["--hostile", "--platforms", "hostile-xnat"] + sandboxArguments)
        defer { sandbox.stop() }
        catalogue = try JSONSerialization.jsonObject(with: sandbox.control("hostile-xnat", "/_sandbox/hostile/catalogue")) as! [String: Any]

        workspace = FileManager.default.temporaryDirectory.appendingPathComponent("flowctl-hostile-\(UUID().uuidString)").path
        root = workspace + "/out/hostile"
        let fm = FileManager.default
        try fm.createDirectory(atPath: workspace + "/jobs", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: workspace + "/out/canary", withIntermediateDirectories: true)
        try HostileRun.canaryText.write(toFile: workspace + "/out/canary/canary.txt", atomically: false, encoding: .utf8)
        try? fm.removeItem(atPath: HostileRun.absoluteTarget)
        let job = workspace + "/jobs/hostile.yml"
        var environment = sandbox.environment
        var text = HostileRun.jobText(subjects: subjects, sourceOptions: sourceOptions, archive: archive)
        if netrc {
            try fm.createDirectory(atPath: workspace + "/home", withIntermediateDirectories: true)
            let host = URL(string: environment["HOSTILE_XNAT_URL"] ?? "")?.host ?? "127.0.0.1"
            try "machine \(host) login \(environment["HOSTILE_XNAT_USER"] ?? "") password \(environment["HOSTILE_XNAT_PASS"] ?? "")\n"
                .write(toFile: workspace + "/home/.netrc", atomically: false, encoding: .utf8)
            chmod(workspace + "/home/.netrc", 0o600)
            environment["HOME"] = workspace + "/home"
            text = text.replacingOccurrences(of: "    user: ${env.HOSTILE_XNAT_USER}\n    password: ${env.HOSTILE_XNAT_PASS}\n",
                                             with: "    netrc: true\n")
        }
        try text.write(toFile: job, atomically: false, encoding: .utf8)

        result = try runMeasured(try builtProduct("flowctl"), ["run", "--keep-going", job], environment: environment,
                                 deadline: 200)
        elsewhere = try JSONSerialization.jsonObject(with: sandbox.control("hostile-xnat", "/_sandbox/hostile/elsewhere")) as! [String: Any]
        // What the sandbox serves for a good file, fetched here: the catalogue's digests are checked against it.
        servedGoodSHA = try HostileRun.fetchSHA256(sandbox, uri: "/data/experiments/GOOD_E1/scans/1/resources/DICOM/files/good-01")
        (finalFiles, breaches) = try HostileRun.survey(workspace: workspace, root: root)
    }

    static let canaryText = "the canary: nothing may write beside the output root\n"

    static func jobText(subjects: [String], sourceOptions: [String], archive: String? = nil) -> String {
        """
        flowctl: 1
        name: hostile
        sources:
          hostile:
            type: xnat
            url: ${env.HOSTILE_XNAT_URL}
            user: ${env.HOSTILE_XNAT_USER}
            password: ${env.HOSTILE_XNAT_PASS}
        \(sourceOptions.map { "    " + $0 + "\n" }.joined())select:
          attacks:
            source: hostile
            project: hostile
            subjects: [\(subjects.joined(separator: ", "))]
            resource: DICOM
        actions:
          pull:
            download: attacks
            to: ../out/hostile
            layout: "{file.name}"
        \(archive.map { "    archive: \($0)\n" } ?? "")
        """
    }

    static func fetchSHA256(_ sandbox: SandboxProcess, uri: String) throws -> String {
        let platform = sandbox.platform("hostile-xnat")
        let user = platform["username"] as! String, password = platform["password"] as! String
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("flowctl-hostile-fetch-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        let ca = sandbox.caPath.isEmpty ? [] : ["--cacert", sandbox.caPath]
        let fetched = try run("/usr/bin/curl", ["-sS", "--fail", "-u", "\(user):\(password)", "-o", file] + ca + [(platform["url"] as! String) + uri])
        guard fetched.status == 0 else { throw HarnessError("fetching \(uri): \(fetched.stderr)") }
        return String(try run("/usr/bin/sha256sum", [file]).stdout.prefix(64))
    }

    /// Walks the whole workspace without following links: final files under the root, and every breach.
    static func survey(workspace: String, root: String) throws -> ([[UInt8]: String], [String]) {
        var files: [[UInt8]: String] = [:]
        var breaches: [String] = []
        let allowedOutside: Set<String> = ["jobs", "jobs/hostile.yml", "out", "out/canary", "out/canary/canary.txt", "out/hostile",
                                           "home", "home/.netrc"]
        func walk(_ relative: String) throws {
            let path = relative.isEmpty ? workspace : workspace + "/" + relative
            for entry in try FileManager.default.contentsOfDirectory(atPath: path) {
                let child = relative.isEmpty ? entry : relative + "/" + entry
                var info = stat()
                guard lstat(workspace + "/" + child, &info) == 0 else { breaches.append("cannot stat \(child.debugDescription)"); continue }
                let type = info.st_mode & S_IFMT
                let insideRoot = child.hasPrefix("out/hostile/")
                if type == S_IFLNK { breaches.append("symlink \(child.debugDescription)"); continue }
                if !insideRoot && !allowedOutside.contains(child) { breaches.append("outside the root: \(child.debugDescription)") }
                if type == S_IFDIR { try walk(child); continue }
                guard insideRoot, type == S_IFREG else { continue }
                let inRoot = String(child.dropFirst("out/hostile/".count))
                if inRoot.hasPrefix(".flowctl/") || inRoot == "flowctl-manifest.json" || inRoot.hasSuffix(".part") { continue }
                files[Array(inRoot.utf8)] = String(try run("/usr/bin/sha256sum", ["--", workspace + "/" + child]).stdout.prefix(64))
            }
        }
        try walk("")
        if let canary = try? String(contentsOfFile: workspace + "/out/canary/canary.txt", encoding: .utf8), canary != canaryText {
            breaches.append("the canary file was changed")
        }
        if FileManager.default.fileExists(atPath: absoluteTarget) { breaches.append("\(absoluteTarget) was created") }
        return (files, breaches)
    }

    func workspaceHolds(_ text: String) -> Bool {
        finalFiles.keys.contains { key in
            let path = root + "/" + String(decoding: key, as: UTF8.self)
            return (try? String(contentsOfFile: path, encoding: .isoLatin1))?.contains(text) ?? false
        }
    }

    /// The output lines that mention `word` as a whole (`name-climbing` is not in `name-climbing-deep`).
    func lines(mentioning word: String) -> [Substring] {
        result.output.split(separator: "\n").filter { line in
            var rest = line[...]
            while let found = rest.range(of: word) {
                let next = line[found.upperBound...].first
                if next.map({ !($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) ?? true { return true }
                rest = line[found.upperBound...]
            }
            return false
        }
    }

    /// Whether flowctl's output names `word` (a file's slug, a subject) with one of `keywords` in the same line.
    func names(_ word: String, keywords: [String]) -> Bool {
        let mentions = lines(mentioning: word)
        if keywords.isEmpty { return !mentions.isEmpty }
        return mentions.contains { line in keywords.contains { line.lowercased().contains($0) } }
    }

    /// A name that is a safe single path component as it is (so flowctl has no reason to change it).
    static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && name.utf8.count <= 255
            && name.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7F && $0 != "/" && $0 != "\\" }
    }

    func checkAll(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let transcript = "flowctl output (tail):\n" + String(result.output.suffix(6000))
        // Ended by itself, with failures (1), within time and memory.
        let killed = result.killedAtDeadline
        #expect(!killed, "flowctl was killed at the harness deadline (200 s)\n\(transcript)", sourceLocation: sourceLocation)
        #expect(result.signal == nil, "flowctl died of signal \(result.signal ?? 0)\n\(transcript)", sourceLocation: sourceLocation)
        // 1 when something must fail; a family whose items may all be made safe may also end with 0.
        let files = (catalogue["files"] as! [[String: Any]]).filter { subjects.contains($0["subject"] as! String) }
        let listings = (catalogue["listings"] as! [[String: Any]]).filter { subjects.contains($0["subject"] as! String) }
        let mustFail = !listings.isEmpty || files.contains { $0["expectation"] as? String == "fails" }
        let allowed: [Int32] = mustFail ? [1] : [0, 1]
        #expect(result.exitStatus.map(allowed.contains) == true,
                "exit status \(result.exitStatus.map(String.init) ?? "none"), want \(allowed)\n\(transcript)",
                sourceLocation: sourceLocation)
        #expect(result.seconds <= HostileRun.timeLimit, "the run took \(Int(result.seconds)) s", sourceLocation: sourceLocation)
        #expect(result.peakRSSKiB <= HostileRun.memoryLimitKiB, "peak RSS \(result.peakRSSKiB / 1024) MiB",
                sourceLocation: sourceLocation)

        // (1) Containment.
        #expect(breaches.isEmpty, "\(breaches)", sourceLocation: sourceLocation)

        // (2) No credential reached the elsewhere origin.
        let leaks = ["withAuthorization", "withCookie", "withCredentials"].filter { (elsewhere[$0] as? Int ?? -1) != 0 }
        #expect(leaks.isEmpty, "the elsewhere origin saw credentials (\(leaks)): \(elsewhere["entries"] ?? [])",
                sourceLocation: sourceLocation)

        // (4), (5), (6) File by file.
        #expect(!files.isEmpty, sourceLocation: sourceLocation)
        let presentSHAs = Set(finalFiles.values)
        for file in files {
            let slug = file["slug"] as! String, name = file["name"] as! String, sha = file["sha256"] as! String
            let keywords = file["keywords"] as? [String] ?? []
            let atName = finalFiles[Array(name.utf8)]
            let named = names(slug, keywords: [])
            switch file["expectation"] as! String {
            case "arrives":
                #expect(atName == sha, "\(slug): a good file, want \(name) with sha256 \(sha), have \(atName ?? "nothing")\n\(transcript)",
                        sourceLocation: sourceLocation)
                if slug == "good-01" { #expect(sha == servedGoodSHA, "the catalogue's sha256 is not what the sandbox serves") }
            case "fails":
                #expect(atName == nil, "\(slug): a bad file was kept as \(name)", sourceLocation: sourceLocation)
                let wanted = keywords.isEmpty ? "" : " with one of \(keywords)"
                #expect(names(slug, keywords: keywords),
                        "\(slug): not named as failed\(wanted); lines: \(lines(mentioning: slug))\n\(transcript)",
                        sourceLocation: sourceLocation)
            case "exactOrFails":
                #expect(atName == sha || (atName == nil && named),
                        "\(slug): want exact bytes at \(name) or a failure naming it; have \(atName ?? "nothing"), named: \(named)\n\(transcript)",
                        sourceLocation: sourceLocation)
            case "safeOrFails":
                #expect(presentSHAs.contains(sha) || named,
                        "\(slug): neither present under a safe name nor named as failed\n\(transcript)", sourceLocation: sourceLocation)
                if HostileRun.isPlainName(name), let atName {
                    #expect(atName == sha, "\(slug): \(name) holds another file's bytes", sourceLocation: sourceLocation)
                }
            default:
                Issue.record("unknown expectation \(file)", sourceLocation: sourceLocation)
            }
        }
        // Broken listing branches are named; the checks above show they cost nothing else.
        for listing in listings {
            let subject = listing["subject"] as! String
            #expect(names(subject, keywords: listing["keywords"] as? [String] ?? []),
                    "\(subject): the broken listing is not named\n\(transcript)", sourceLocation: sourceLocation)
        }
        try? FileManager.default.removeItem(atPath: workspace)
    }
}
