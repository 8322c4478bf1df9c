import Foundation
import FlowModel

/// Secrets that need not sit in the job file or the environment: a `password-command:` (e.g.
/// `pass show xnat`) is run when the source is connected, and on a terminal a missing password
/// is asked for without echo (as the seed scripts did with `getpass`).
enum Credentials {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The spec with its credential commands run and, on a terminal, its missing password asked for.
    static func complete(_ spec: SourceSpec, prompt: Bool = isatty(0) == 1 && isatty(2) == 1) throws -> SourceSpec {
        var spec = spec
        for (key, command) in spec.credentialCommands.sorted(by: { $0.key < $1.key }) {
            spec.credentials[key] = Secret(try output(of: command, key: key))
        }
        if prompt, needsPassword(spec) {
            let user = spec.credentials["user"]?.revealed ?? ""
            let host = URL(string: spec.url)?.host ?? spec.url
            guard let password = readWithoutEcho("Password for \(user) at \(host) (source `\(spec.name)`): ") else {
                throw Failure(description: "no password given")
            }
            spec.credentials["password"] = Secret(password)
        }
        return spec
    }

    /// What is wrong with the netrc file curl reads for a `netrc: true` source (`$HOME/.netrc`):
    /// missing, or readable by other users (curl reads it all the same; `ssh` would refuse such a key).
    static func netrcWarning(home: String) -> String? {
        let path = (home.hasSuffix("/") ? String(home.dropLast()) : home) + "/.netrc"
        var info = stat()
        guard stat(path, &info) == 0 else { return "`netrc: true`, but there is no \(path): the source gets no credentials" }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 != 0 else { return nil }
        return "\(path) holds passwords and other users may read it (mode \(String(mode, radix: 8))): `chmod 600 \(path)`"
    }

    /// The home folder curl looks in for `.netrc`.
    static var home: String {
        ProcessInfo.processInfo.environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
    }

    /// A user is named but no secret is: a password is what the platform will ask for.
    static func needsPassword(_ spec: SourceSpec) -> Bool {
        let catalog = PlatformCatalog.of(spec.type)
        guard catalog.credentialKeys.contains("password"), !spec.netrc,
              let user = spec.credentials["user"], !user.isEmpty else { return false }
        return catalog.credentialKeys.allSatisfy { key in key == "user" || spec.credentials[key]?.isEmpty ?? true }
    }

    /// The first line the command prints. Its stderr goes to the user (`pass` may ask for a
    /// passphrase); its stdout is never echoed, not even in an error.
    static func output(of command: String, key: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let stdout = Pipe()
        process.standardOutput = stdout
        do { try process.run() } catch {
            throw Failure(description: "`\(key)-command` (\(command)) cannot start: \(error.localizedDescription)")
        }
        let data = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw Failure(description: "`\(key)-command` (\(command)) failed with exit status \(process.terminationStatus)")
        }
        let line = String(decoding: data, as: UTF8.self).split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
            .first.map { String($0.hasSuffix("\r") ? $0.dropLast() : $0) } ?? ""
        guard !line.isEmpty else { throw Failure(description: "`\(key)-command` (\(command)) printed nothing") }
        return line
    }

    /// Reads a line from the terminal with echo off; nil at end of input.
    private static func readWithoutEcho(_ prompt: String) -> String? {
        FileHandle.standardError.write(Data(prompt.utf8))
        var saved = termios()
        let fd: Int32 = 0
        let haveTerminal = tcgetattr(fd, &saved) == 0
        if haveTerminal {
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(fd, TCSAFLUSH, &quiet)
        }
        defer {
            if haveTerminal { tcsetattr(fd, TCSAFLUSH, &saved) }
            FileHandle.standardError.write(Data("\n".utf8))
        }
        return readLine(strippingNewline: true)
    }
}
