import Testing
import FlowConnector

@Suite struct URLTextTests {
    /// The character-by-character encoder `segment` replaced, kept as the reference.
    static func referenceSegment(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            let c = Character(Unicode.Scalar(byte))
            if c.isASCII && (c.isLetter || c.isNumber || "-._~".contains(c)) { out.append(c) }
            else { out += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true) }
        }
        return out
    }

    @Test func segmentEncodesEveryByteAsTheReferenceDoes() {
        for byte in UInt8.min...UInt8.max {
            let text = String(decoding: [UInt8(ascii: "a"), byte], as: UTF8.self)
            #expect(URLText.segment(text) == Self.referenceSegment(text), "byte \(byte)")
        }
        for text in ["", "plain-name_1.2~", "a b", "é", "e\u{301}", "😀.dcm", "100%", "a/b", "?x=1&y", "..", "\u{0}"] {
            #expect(URLText.segment(text) == Self.referenceSegment(text), "\(text.debugDescription)")
        }
        #expect(URLText.segment("scan 1/é.dcm") == "scan%201%2F%C3%A9.dcm")
    }

    @Test func aPathKeepsItsSlashesAndEncodesEachSegment() {
        for path in ["sub-01/a.dcm", "deep/x y/b.dcm", "é/😀.dcm", "a", "100%/?x=1"] {
            let segments = path.split(separator: "/").map { URLText.segment(String($0)) }
            #expect(URLText.path(path) == segments.joined(separator: "/"), "\(path.debugDescription)")
        }
        #expect(URLText.path("deep/x y/b.dcm") == "deep/x%20y/b.dcm")
    }
}

@Suite struct URLRedactionTests {
    /// A password with a raw `@` left its tail in messages (`ss@host`): the first `@` was taken
    /// for the end of the userinfo.
    @Test func redactedCutsTheWholeUserinfoAndTheQuery() {
        #expect(URLText.redacted("https://u:p@ss@h.org/x?token=t") == "https://h.org/x")
        #expect(URLText.redacted("https://u:pw@h.org") == "https://h.org")
        #expect(URLText.redacted("https://h.org/a@b") == "https://h.org/a@b")
    }
}
