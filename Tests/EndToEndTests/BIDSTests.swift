import Foundation
import Testing

/// From XNAT to BIDS, checked by the community's own tools: the official validator
/// (`bids-validator-deno`) and pybids' `BIDSLayout`, from the virtual environment that
/// `scripts/test.sh` makes and exports as `FLOWCTL_BIDS_VENV`; dcm2niix from Debian.
extension EndToEnd {
@Suite struct BIDSTests {
    /// The venv holding the validator and pybids. Missing tools fail the test, with how to get them.
    static func venv() throws -> String {
        let env = ProcessInfo.processInfo.environment
        let venv = env["FLOWCTL_BIDS_VENV"] ?? repositoryRoot + "/.venv-bids"
        guard FileManager.default.isExecutableFile(atPath: venv + "/bin/bids-validator-deno"),
              FileManager.default.isExecutableFile(atPath: venv + "/bin/python") else {
            throw HarnessError("no bids-validator-deno / pybids in \(venv): run `bash scripts/test.sh` (it makes the venv and "
                + "exports FLOWCTL_BIDS_VENV), or `python3 -m venv .venv-bids && .venv-bids/bin/pip install bids-validator-deno pybids`")
        }
        return venv
    }

    /// Runs the official validator: the errors (each `code: location`) and the warnings' counts
    /// by code (printed).
    static func validate(_ dataset: String) throws -> (errors: [String], warnings: [String: Int]) {
        let result = try run(try Self.venv() + "/bin/bids-validator-deno", ["--json", dataset])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
                                "validator said: \(result.stderr.prefix(2000))")
        let issues = ((json["issues"] as? [String: Any])?["issues"] as? [[String: Any]]) ?? []
        var warnings: [String: Int] = [:]
        var errors: [String] = []
        for issue in issues {
            let code = issue["code"] as? String ?? "?"
            if issue["severity"] as? String == "error" {
                errors.append("\(code): \(issue["location"] as? String ?? "") \(issue["issueMessage"] as? String ?? "")")
            } else {
                warnings[code, default: 0] += 1
            }
        }
        print("bids-validator-deno \(dataset): \(errors.count) error(s); warnings: "
            + warnings.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value)" }.joined(separator: ", "))
        return (errors, warnings)
    }

    /// What pybids' BIDSLayout finds among the images: subjects, sessions, datatypes, runs, suffixes.
    static func layout(_ dataset: String) throws -> [String: [String]] {
        let script = """
            import json, sys
            from bids import BIDSLayout
            l = BIDSLayout(sys.argv[1], validate=True)
            print(json.dumps({k: sorted(str(v) for v in l.get(return_type='id', target=k, extension='.nii.gz'))
                              for k in ['subject', 'session', 'datatype', 'run', 'suffix']}))
            """
        let result = try run(try Self.venv() + "/bin/python", ["-c", script, dataset])
        #expect(result.status == 0, "pybids: \(result.stderr.suffix(2000))")
        let last = result.stdout.split(separator: "\n").last.map(String.init) ?? "{}"
        return try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: [String]])
    }

    /// The finished events of one kind of task (`--events json`), by task id.
    static func finished(_ events: String, kind: String) -> [String] {
        events.split(separator: "\n").compactMap { line -> String? in
            guard let event = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  event["event"] as? String == "finished", event["kind"] as? String == kind else { return nil }
            return event["task"] as? String
        }
    }

    @Test func niftiJobGivesADatasetTheValidatorAndPybidsAccept() throws {
        let sandbox = try SandboxProcess(["--platforms", "xnat"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["xnat-bids.yml"])
        defer { workspace.remove() }
        // The dataset's authors and license, as a job gives them (here on the command line).
        let result = try flowctl(["run", workspace.job("xnat-bids.yml"), "-q",
                                  "--set", "layouts.bids.dataset={Authors: [Ada Lovelace, Alan Turing], License: CC0}"],
                                 environment: sandbox.environment)
        #expect(result.status == 0, "\(result.stderr)")
        let out = workspace.root + "/out/xnat-bids"
        for document in ["dataset_description.json", "participants.tsv", "participants.json", "README.md", ".bidsignore"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + document), "\(document)")
        }
        let verdict = try Self.validate(out)
        #expect(verdict.errors == [])
        #expect(verdict.warnings["NO_AUTHORS"] == nil && verdict.warnings["TOO_FEW_AUTHORS"] == nil, "\(verdict.warnings)")
        #expect(verdict.warnings["JSON_KEY_RECOMMENDED"] == 1, "only HEDVersion is left: \(verdict.warnings)")
        let found = try Self.layout(out)
        #expect(found["subject"] == (1...9).map { "SUBJ00\($0)" })
        #expect(found["session"]?.count == 9)
        #expect(found["datatype"] == ["anat", "dwi"])
        #expect(found["suffix"] == ["FLAIR", "T1w", "dwi"])
        #expect(found["run"] == ["1", "2", "3", "4"])
        let description = try String(contentsOfFile: out + "/dataset_description.json", encoding: .utf8)
        #expect(description.contains("\"DatasetType\" : \"raw\"") && description.contains("xnat-bids.yml"))
        #expect(!description.contains("sandbox-password") && !description.contains(sandbox.environment["XNAT_PASS"] ?? "-"))
        // The dataset's own files are in the manifest: verify finds nothing extra.
        let verify = try flowctl(["verify", out])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }

    @Test func dicomJobConvertsEachScanOnceAndAChangedScanAlone() throws {
        let sandbox = try SandboxProcess(["--platforms", "xnat"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["xnat-dicom-to-bids.yml"])
        defer { workspace.remove() }
        let job = workspace.job("xnat-dicom-to-bids.yml")
        let env = sandbox.environment
        let out = workspace.root + "/out/xnat-dicom-to-bids"

        let plan = try flowctl(["plan", job, "--detailed-exitcode"], environment: env)
        #expect(plan.status == 2, "\(plan.stderr)")
        #expect(plan.stdout.contains("80 to do (16 convert, 64 download)"), "\(plan.stdout)")
        let all = try flowctl(["plan", job, "--all"], environment: env)
        #expect(all.stdout.contains("dcm2niix sourcedata/sub-SUBJ001/ses-SUBJ001MR1/anat/sub-SUBJ001_ses-SUBJ001MR1_run-1_T1w (4 file(s))"),
                "\(all.stdout)")

        let first = try flowctl(["run", job, "-q", "--events", "json"], environment: env)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(Self.finished(first.stdout, kind: "convert").count == 16)  // 4 subjects x 4 scans
        let dwi = out + "/sub-SUBJ001/ses-SUBJ001MR1/dwi/sub-SUBJ001_ses-SUBJ001MR1_run-2_dwi"
        for ext in [".nii.gz", ".json", ".bval", ".bvec"] {
            #expect(FileManager.default.fileExists(atPath: dwi + ext), "\(ext)")
        }
        #expect(try String(contentsOfFile: dwi + ".bval", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) == "0 1000")
        #expect(try Self.validate(out).errors == [])
        let found = try Self.layout(out)
        #expect(found["subject"] == ["SUBJ001", "SUBJ002", "SUBJ003", "SUBJ004"])
        #expect(found["datatype"] == ["anat", "dwi"])
        #expect(found["suffix"] == ["FLAIR", "T1w", "dwi"])
        #expect(found["run"] == ["1", "2", "3", "4"])
        // The converted files are in the manifest, checksummed: verify covers them.
        let manifest = try String(contentsOfFile: out + "/flowctl-manifest.json", encoding: .utf8)
        #expect(manifest.contains("sub-SUBJ001_ses-SUBJ001MR1_run-2_dwi.bvec"))
        let verify = try flowctl(["verify", out])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        // status counts tasks as run does: 64 downloads and 16 conversions; converted files apart.
        let status = try flowctl(["status", job, "--format", "json"], environment: env)
        let journal = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        #expect(journal["done"] as? Int == 80, "\(status.stdout)")

        // A re-run converts nothing.
        let again = try flowctl(["run", job, "-q", "--events", "json"], environment: env)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(Self.finished(again.stdout, kind: "convert") == [])
        #expect(try flowctl(["plan", job, "--detailed-exitcode"], environment: env).status == 0)

        // One DICOM file changes upstream (the T1's last slice): only its scan downloads and converts again.
        _ = try sandbox.control("xnat", "/_sandbox/items", method: "POST",
                                body: #"{"op":"modify","path":"testenv/SUBJ_003/SUBJ_003_MR1/1/DICOM/SUBJ_003_MR1.MR.1.0004.dcm","size":2000}"#)
        let changed = try flowctl(["run", job, "-q", "--events", "json"], environment: env)
        #expect(changed.status == 0, "\(changed.stderr)")
        #expect(Self.finished(changed.stdout, kind: "convert") == ["bids/sub-SUBJ003/ses-SUBJ003MR1/anat/sub-SUBJ003_ses-SUBJ003MR1_run-1_T1w#convert"])
        #expect(Self.finished(changed.stdout, kind: "download").count == 1)
        #expect(try Self.validate(out).errors == [])
    }

    @Test func aScanTheConverterRejectsFailsAloneWithTheConvertersWords() throws {
        let sandbox = try SandboxProcess(["--platforms", "xnat", "--xnat-subjects", "2"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["xnat-dicom-to-bids.yml"])
        defer { workspace.remove() }
        let job = workspace.job("xnat-dicom-to-bids.yml")
        // Every file of SUBJ_002's FLAIR series becomes bytes that are no DICOM.
        for n in 1...4 {
            _ = try sandbox.control("xnat", "/_sandbox/items", method: "POST",
                                    body: #"{"op":"modify","path":"testenv/SUBJ_002/SUBJ_002_MR1/4/DICOM/SUBJ_002_MR1.MR.4.000\#(n).dcm","size":3000}"#)
        }
        let result = try flowctl(["run", job, "-q", "--keep-going", "--events", "json"], environment: sandbox.environment)
        #expect(result.status == 1)
        #expect(Self.finished(result.stdout, kind: "convert").count == 7)
        #expect(result.stderr.contains("failed bids/sub-SUBJ002/ses-SUBJ002MR1/anat/sub-SUBJ002_ses-SUBJ002MR1_run-4_FLAIR#convert: "
            + "dcm2niix exited with status 2: Error: Unable to find any DICOM images"), "\(result.stderr)")
        let out = workspace.root + "/out/xnat-dicom-to-bids"
        #expect(!FileManager.default.fileExists(atPath: out + "/sub-SUBJ002/ses-SUBJ002MR1/anat/sub-SUBJ002_ses-SUBJ002MR1_run-4_FLAIR.nii.gz"))
        #expect(try Self.validate(out).errors == [])
    }

    /// A converter this machine lacks is reported by `validate` and `plan`, before any listing.
    @Test func aMissingConverterIsReportedByValidateAndPlan() throws {
        let workspace = try Workspace(jobs: ["xnat-dicom-to-bids.yml"])
        defer { workspace.remove() }
        let job = workspace.job("xnat-dicom-to-bids.yml")
        let noTools = ["PATH": "/nonexistent", "XNAT_URL": "http://127.0.0.1:9", "XNAT_USER": "u", "XNAT_PASS": "p"]
        let validate = try flowctl(["validate", job], environment: noTools)
        #expect(validate.status == 1)
        #expect(validate.stderr.contains("converter `dcm2niix` (action `bids`) is not installed: install it (Debian/Ubuntu: `apt-get install dcm2niix`)"),
                "\(validate.stderr)")
        let plan = try flowctl(["plan", job], environment: noTools)
        #expect(plan.status == 1)
        #expect(plan.stderr.contains("converter `dcm2niix`"), "\(plan.stderr)")
    }
}
}
