import Foundation
import FlowModel

/// The text of a job file, checked before YAML sees it: size, binary garbage, UTF-8, tabs.
public struct SourceText: Sendable {
    public let path: String
    public let text: String
    private let lines: [Substring]

    /// Job files are small; anything bigger is a mistake (a data file passed by accident).
    public static let maxBytes = 4 << 20

    init(path: String, text: String) {
        self.path = path
        self.text = text
        self.lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    }

    /// The 1-based line, without its line ending.
    public func line(_ number: Int) -> String? {
        guard number >= 1, number <= lines.count else { return nil }
        var line = lines[number - 1]
        if line.hasSuffix("\r") { line.removeLast() }
        return String(line)
    }

    /// Checks raw bytes and decodes them; problems come back as diagnostics at their place.
    static func decode(path: String, bytes: [UInt8]) -> (SourceText?, [Diagnostic]) {
        // Editors on Windows save UTF-8 with a byte-order mark; it is not part of the text.
        let bytes = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(bytes.dropFirst(3)) : bytes
        func at(_ line: Int, _ column: Int) -> SourceLocation { SourceLocation(file: path, line: line, column: column) }
        if bytes.count > maxBytes {
            return (nil, [Diagnostic(.error, "file is \(Quantities.formatBytes(Int64(bytes.count))), more than a job file can be "
                + "(limit \(Quantities.formatBytes(Int64(maxBytes)))); is this the right file?", at: at(1, 1))])
        }
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            return (nil, [Diagnostic(.error, "file is empty; a job file starts with `flowctl: 1`", at: at(1, 1))])
        }
        // Find line and column of a byte offset, for the two byte-level checks below.
        func position(of offset: Int) -> SourceLocation {
            var line = 1, column = 1
            for b in bytes[..<offset] {
                if b == 0x0A { line += 1; column = 1 } else if b & 0xC0 != 0x80 { column += 1 }
            }
            return at(line, column)
        }
        if let nul = bytes.firstIndex(of: 0) {
            return (nil, [Diagnostic(.error, "file contains a NUL byte: this is binary data, not a YAML job file",
                                     at: position(of: nul))])
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            let bad = firstInvalidUTF8(bytes)
            return (nil, [Diagnostic(.error, "file is not valid UTF-8 (byte 0x\(String(bytes[bad], radix: 16, uppercase: true))); "
                + "save it as UTF-8", at: position(of: bad))])
        }
        let source = SourceText(path: path, text: text)
        var diagnostics: [Diagnostic] = []
        // YAML forbids tabs in indentation; libyaml's own message for it is cryptic.
        for (i, line) in source.lines.enumerated() {
            let indent = line.prefix { $0 == " " || $0 == "\t" }
            if let tab = indent.firstIndex(of: "\t") {
                diagnostics.append(Diagnostic(.error, "tab character in indentation; YAML indents with spaces only",
                                              at: at(i + 1, line.distance(from: line.startIndex, to: tab) + 1)))
            }
        }
        return (source, diagnostics)
    }

    private static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int {
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            let length = b < 0x80 ? 1 : b >> 5 == 0b110 ? 2 : b >> 4 == 0b1110 ? 3 : b >> 3 == 0b11110 ? 4 : 0
            guard length > 0, i + length <= bytes.count,
                  bytes[(i + 1)..<(i + length)].allSatisfy({ $0 & 0xC0 == 0x80 }),
                  String(validating: bytes[i..<(i + length)], as: UTF8.self) != nil
            else { return i }
            i += length
        }
        return max(0, bytes.count - 1)
    }
}
