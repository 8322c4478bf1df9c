import Foundation
import Testing

/// Issue #26 item 5: `scripts/install.sh` puts flowctl, its man page and its completions under
/// a prefix.
extension EndToEnd {
@Suite struct InstallTests {
    @Test func installPutsBinariesManPageAndCompletionsUnderThePrefix() throws {
        let flowctlPath = try builtProduct("flowctl")
        _ = try builtProduct("flowctl-sandbox")
        let prefix = FileManager.default.temporaryDirectory.appendingPathComponent("flowctl-install-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: prefix) }
        // --from: the binaries this test run uses; no SwiftPM call (it holds the build folder).
        let install = try run("/bin/bash", [repositoryRoot + "/scripts/install.sh", "--from",
                                            (flowctlPath as NSString).deletingLastPathComponent, prefix],
                              environment: ["FLOWCTL_INSTALL_PLUGIN": "0"])
        #expect(install.status == 0, "\(install.stderr)")
        for product in ["flowctl", "flowctl-sandbox"] {
            #expect(FileManager.default.isExecutableFile(atPath: prefix + "/bin/" + product), "\(product)")
        }
        let version = try run(prefix + "/bin/flowctl", ["--version"])
        #expect(version.stdout.contains("0."), "\(version.stdout)")

        let page = prefix + "/share/man/man1/flowctl.1"
        let man = try run("/usr/bin/man", ["--warnings", "-l", page], environment: ["MANPAGER": "cat", "MANWIDTH": "100", "LC_ALL": "C"])
        #expect(man.status == 0, "\(man.stderr)")
        #expect(man.stderr.isEmpty, "man warns: \(man.stderr)")
        let shown = man.stdout.replacingOccurrences(of: "\u{8}", with: "")
        for word in ["NAME", "flowctl", "SYNOPSIS", "COMMANDS", "validate", "explore", "report", "--jobs", "--report-to"] {
            #expect(shown.contains(word), "the man page lacks \(word)")
        }

        let sandboxPage = try run("/usr/bin/man", ["--warnings", "-l", prefix + "/share/man/man1/flowctl-sandbox.1"],
                                  environment: ["MANPAGER": "cat", "MANWIDTH": "100", "LC_ALL": "C"])
        #expect(sandboxPage.status == 0 && sandboxPage.stderr.isEmpty, "\(sandboxPage.stderr)")
        #expect(sandboxPage.stdout.replacingOccurrences(of: "\u{8}", with: "").contains("serve"))

        let completions = [
            "/share/bash-completion/completions/flowctl", "/share/zsh/site-functions/_flowctl",
            "/share/fish/vendor_completions.d/flowctl.fish",
        ]
        for file in completions {
            let script = try String(contentsOfFile: prefix + file, encoding: .utf8)
            for subcommand in ["validate", "explore", "plan", "run", "status", "report", "lock", "verify", "schema"] {
                #expect(script.contains(subcommand), "\(file) lacks \(subcommand)")
            }
        }
        let bash = try run("/bin/bash", ["-n", prefix + completions[0]])
        #expect(bash.status == 0, "\(bash.stderr)")
    }
}
}
