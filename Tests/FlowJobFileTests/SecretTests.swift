import Foundation
import Testing
@testable import FlowJobFile
import FlowModel

/// Credentials a job names stay out of everything flowctl prints or writes: a URL's
/// `user:password@` becomes the source's credentials, and diagnostics never quote a secret.
@Suite struct SecretTests {
    static func job(type: String = "xnat", url: String, extra: String = "") -> String {
        """
        flowctl: 1
        name: t
        sources:
          x:
            type: \(type)
            url: \(url)
        \(extra)select:
          s:
            source: x
        \(type == "xnat" ? "    project: p\n" : type == "grand-challenge" ? "    archive: a\n" : "")actions:
          pull:
            download: s
            to: out
        """
    }

    static func load(_ text: String, environment: [String: String] = [:], overrides: [String] = []) -> LoadResult {
        JobLoader(environment: environment, overrides: overrides).load(path: "t.yml", bytes: Array(text.utf8))
    }

    /// The lock file, the plan and every message showed a URL's password (the lock file is
    /// meant for git): now the URL is bare and the password a credential.
    @Test func aURLsUserAndPasswordBecomeTheSourcesCredentials() throws {
        let result = Self.load(Self.job(url: "${env.XNAT_URL}"),
                               environment: ["XNAT_URL": "https://alice:p%40ss:w0rd@xnat.example.org:8443/xnat/"])
        let source = try #require(result.job?.source(named: "x"), "\(result.rendered())")
        #expect(source.url == "https://xnat.example.org:8443/xnat/")
        #expect(source.credentials["user"]?.revealed == "alice")
        #expect(source.credentials["password"]?.revealed == "p@ss:w0rd")
        #expect(result.warnings.isEmpty, "\(result.rendered())")

        // A `--set` URL too; written out in the job file, it is warned about like any password.
        let set = Self.load(Self.job(url: "https://example.org"), overrides: ["sources.x.url=https://bob:hunter2@h.example.org"])
        #expect(set.job?.source(named: "x")?.url == "https://h.example.org")
        #expect(set.job?.source(named: "x")?.credentials["password"]?.revealed == "hunter2")
        let written = Self.load(Self.job(url: "https://bob:hunter2@h.example.org"))
        #expect(written.warnings.contains { $0.message.contains("`url` holds a password written in the job file") })
        #expect(!written.rendered().contains("hunter2"), "\(written.rendered())")
    }

    @Test func aURLsCredentialsAreRefusedWhereThePlatformDoesNotTakeThemOrTwice() {
        let gc = Self.load(Self.job(type: "grand-challenge", url: "https://u:gc-secret@grand-challenge.org/api/v1/"))
        #expect(errors(gc).contains { $0.contains("does not log in with: give its `token` instead") }, "\(errors(gc))")
        let agora = Self.load(Self.job(type: "agora", url: "https://u:agora-secret@agora.example.org"))
        #expect(errors(agora).contains { $0.contains("give its `api-key` instead") }, "\(errors(agora))")
        let twice = Self.load(Self.job(url: "https://u:one-secret@xnat.example.org", extra: "    password: ${env.P}\n"),
                              environment: ["P": "two"])
        #expect(errors(twice).contains { $0.contains("give them once") }, "\(errors(twice))")
        for result in [gc, agora, twice] {
            let text = result.rendered()
            #expect(!text.contains("secret"), "\(text)")
        }
    }

    /// The warning about a password written in the job quoted the very line holding it, and a
    /// URL error printed the URL whole: every rendering now masks the secret.
    @Test func diagnosticsNeverQuoteASecret() {
        let written = Self.load(Self.job(url: "https://xnat.example.org",
                                         extra: "    user: alice\n    password: \"hunter2\"\n    token: 'tok3n'\n    secret: s3cr3t-value\n"))
        let text = written.rendered()
        #expect(text.contains("credential `password` is written in the job file"), "\(text)")
        for secret in ["hunter2", "tok3n", "s3cr3t-value"] { #expect(!text.contains(secret), "\(text)") }
        #expect(text.contains(" 8 |     password: ***\n   |               ^"), "\(text)")  // the caret still under the value

        let ftp = Self.load(Self.job(url: "ftp://alice:url-secret@xnat.example.org"))
        #expect(errors(ftp).contains { $0.contains("must start with https:// or http://") })
        #expect(!ftp.rendered().contains("url-secret"), "\(ftp.rendered())")

        // A line that does not even parse, and a `--set` with a broken value.
        let unterminated = Self.load(Self.job(url: "https://x.example.org", extra: "    password: \"hunter2\n"))
        #expect(!unterminated.errors.isEmpty)
        #expect(!unterminated.rendered().contains("hunter2"), "\(unterminated.rendered())")
        let set = Self.load(Self.job(url: "https://x.example.org"), overrides: ["sources.x.password=[hunter2"])
        #expect(!set.errors.isEmpty)
        #expect(!set.rendered().contains("hunter2"), "\(set.rendered())")
    }

    @Test func maskingKeepsWhatIsNoSecret() {
        #expect(Diagnostic.masked("    password: ${env.XNAT_PASS}") == "    password: ${env.XNAT_PASS}")
        #expect(Diagnostic.masked("    user: alice") == "    user: alice")
        #expect(Diagnostic.masked("    password:") == "    password:")
        #expect(Diagnostic.masked("  x: {type: gc, \"token\": abc, url: u}") == "  x: {type: gc, \"token\": ***")
        #expect(Diagnostic.masked("--set sources.x.api-key=k3y") == "--set sources.x.api-key=***")
        #expect(Diagnostic.masked("    client-secret-name: visible") == "    client-secret-name: visible")
        #expect(Diagnostic.masked("    url: https://u:p@h.org/x and http://h2/@y") == "    url: https://***@h.org/x and http://h2/@y")
    }
}

@Suite struct ClearTextTests {
    @Test func credentialsOverPlainHTTPAreWarnedAboutOffThisMachineOnly() {
        func warned(_ url: String, _ extra: String = "    password: ${env.P}\n    user: u\n") -> Bool {
            SecretTests.load(SecretTests.job(url: url, extra: extra), environment: ["P": "p"]).warnings
                .contains { $0.message.contains("over plain http://") }
        }
        #expect(warned("http://xnat.example.org"))
        #expect(warned("http://xnat.example.org", "    netrc: true\n"))
        #expect(!warned("https://xnat.example.org"))
        #expect(!warned("http://127.0.0.1:8080"))
        #expect(!warned("http://localhost:8080"))
        #expect(!warned("http://xnat.example.org", ""))  // public data, no credentials
    }
}
