import Foundation

/// Where commands write: results to stdout, diagnostics and progress to stderr.
enum Console {
    static func out(_ text: String) {
        print(text)
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// Whether stderr is a terminal (live progress) or a file/pipe (plain lines).
    static var stderrIsTerminal: Bool { isatty(2) == 1 }
}
