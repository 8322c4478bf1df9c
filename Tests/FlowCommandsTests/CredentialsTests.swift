import FlowModel
import Foundation
import Testing
@testable import FlowCommands

/// Issue #26: a password need not sit in the environment.
@Suite struct CredentialsTests {
    func xnat(_ credentials: [String: Secret] = ["user": Secret("alice")], commands: [String: String] = [:]) -> SourceSpec {
        var spec = SourceSpec(name: "xnat", type: .xnat, url: "https://xnat.example.org", credentials: credentials)
        spec.credentialCommands = commands
        return spec
    }

    @Test func aPasswordCommandGivesItsFirstLine() throws {
        let spec = try Credentials.complete(xnat(commands: ["password": "printf 's3cret\\nmetadata: x\\n'"]), prompt: false)
        #expect(spec.credentials["password"]?.revealed == "s3cret")
        #expect(spec.credentials["user"]?.revealed == "alice")
    }

    @Test func aFailingCommandIsNamedAndItsOutputIsNotShown() throws {
        let error = #expect(throws: Credentials.Failure.self) {
            // Prints "hunter2", a string the command's own text does not hold.
            try Credentials.complete(xnat(commands: ["password": "echo hun\"\"ter2; exit 3"]), prompt: false)
        }
        #expect(error?.description.contains("exit status 3") == true)
        #expect(error?.description.contains("hunter2") == false)
        #expect(throws: Credentials.Failure.self) {
            try Credentials.complete(xnat(commands: ["password": "true"]), prompt: false)
        }
    }

    @Test func onlyAUserWithoutASecretIsAskedForAPassword() {
        #expect(Credentials.needsPassword(xnat()))
        #expect(!Credentials.needsPassword(xnat(["user": Secret("alice"), "password": Secret("x")])))
        #expect(!Credentials.needsPassword(xnat(["user": Secret("alice"), "token": Secret("t")])))
        #expect(!Credentials.needsPassword(xnat([:])))
        #expect(!Credentials.needsPassword(SourceSpec(name: "gc", type: .grandChallenge, url: "https://gc")))
    }
}

/// A `netrc: true` source reads `~/.netrc`: flowctl says when it is missing or others may read it.
@Suite struct NetrcWarningTests {
    @Test func aNetrcOthersMayReadIsWarnedAbout() throws {
        let home = NSTemporaryDirectory() + "flowctl-netrc-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        #expect(Credentials.netrcWarning(home: home)?.contains("there is no \(home)/.netrc") == true)
        try "machine h login u password p\n".write(toFile: home + "/.netrc", atomically: false, encoding: .utf8)
        chmod(home + "/.netrc", 0o644)
        let warning = try #require(Credentials.netrcWarning(home: home))
        #expect(warning.contains("mode 644") && warning.contains("chmod 600"))
        #expect(!warning.contains("password p"))
        chmod(home + "/.netrc", 0o600)
        #expect(Credentials.netrcWarning(home: home) == nil)
    }
}
