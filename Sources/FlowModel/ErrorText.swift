/// Error text is ours, bounded and escaped: a server's name, header or URL goes into a message
/// only through here, so no control character reaches a terminal and no reply floods a log.
public enum ErrorText {
    /// Longest message kept (a journal row, a report line).
    public static let maxMessage = 600
    /// Longest piece of server-supplied text quoted in a message.
    public static let maxQuoted = 160

    /// Server text as a quoted, escaped, bounded piece of a message: `"a\u{1b}b…"`.
    public static func quoted(_ text: some StringProtocol) -> String {
        "\"" + escaped(text, limit: maxQuoted) + "\""
    }

    /// A whole message made safe to print: control characters escaped, cut at `maxMessage`.
    public static func clean(_ message: some StringProtocol) -> String {
        escaped(message, limit: maxMessage)
    }

    /// Control characters (C0, DEL, C1) and unpaired format characters shown as `\u{..}`;
    /// at most `limit` characters, `…` marking a cut.
    /// A registered credential (`SecretValues`) shows as `***`, before anything is cut.
    static func escaped(_ text: some StringProtocol, limit: Int) -> String {
        var out = ""
        var count = 0
        for scalar in SecretValues.scrub(String(text)).unicodeScalars {
            if count >= limit { return out + "…" }
            let v = scalar.value
            if v < 0x20 || v == 0x7F || (0x80...0x9F).contains(v) || (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v) {
                out += "\\u{\(String(v, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
            count += 1
        }
        return out
    }
}
