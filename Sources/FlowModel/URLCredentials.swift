import Foundation

/// The `user:password@` of a URL. A job may write credentials there (curl and browsers take
/// them), but a source's URL is printed, planned, locked and reported: the job loader takes them
/// out into the source's credentials, and messages cut them out (`URLText.redacted`).
public enum URLCredentials {
    /// Where `user:password@` sits in `url` (the `@` included): between `scheme://` and the
    /// host, up to the authority's last `@` (a password with a raw `@` is still all cut out).
    public static func range(in url: String) -> Range<String.Index>? {
        guard let scheme = url.range(of: "://") else { return nil }
        let authorityEnd = url[scheme.upperBound...].firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? url.endIndex
        guard let at = url[scheme.upperBound..<authorityEnd].lastIndex(of: "@") else { return nil }
        return scheme.upperBound..<url.index(after: at)
    }

    /// `url` without its userinfo, and the user and password it held (percent-decoded; nil when absent).
    public static func split(_ url: String) -> (url: String, user: String?, password: String?) {
        guard let range = range(in: url) else { return (url, nil, nil) }
        var bare = url
        bare.removeSubrange(range)
        let info = url[range].dropLast()  // the `@`
        let colon = info.firstIndex(of: ":")
        func decoded(_ text: Substring) -> String { String(text).removingPercentEncoding ?? String(text) }
        let user = decoded(info[..<(colon ?? info.endIndex)])
        let password = colon.map { decoded(info[info.index(after: $0)...]) }
        return (bare, user.isEmpty ? nil : user, password)
    }
}

extension URLCredentials {
    /// `text` with the userinfo of every URL in it (`scheme://user:password@host`) shown as
    /// `***@`: for text that quotes what a user wrote (a job file's line, a `--set`).
    public static func masked(_ text: String) -> String {
        guard text.contains("://") else { return text }
        var out = ""
        var rest = text[...]
        while let scheme = rest.range(of: "://") {
            out += rest[..<scheme.upperBound]
            let after = rest[scheme.upperBound...]
            let end = after.firstIndex { "/?#`'\"<>".contains($0) || $0.isWhitespace } ?? after.endIndex
            if let at = after[..<end].lastIndex(of: "@") {
                out += "***"
                rest = after[at...]
            } else {
                rest = after
            }
        }
        return out + rest
    }
}
