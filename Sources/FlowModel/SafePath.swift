/// Keeps every rendered path inside the output root, whatever a server puts in a name:
/// `/`, `\`, NUL, control characters and over-long names are made safe (and the change is
/// reported, see `LayoutTemplate.render`); `.`, `..` and empty names are refused, since no safe
/// rewrite of them says what the server meant.
public enum SafePath {
    /// Longest path component in bytes that common filesystems accept.
    public static let maxComponentBytes = 255

    /// One value made into a single safe path component; `.`, `..` and empty are refused.
    public static func component(_ value: String) throws(LayoutTemplate.RenderError) -> String {
        // Most values are fine as they are: say so in one pass over the bytes, without a new string.
        isClean(value, slashes: false) ? value : try componentByCharacter(value)
    }

    /// `component` the long way, character by character (what the fast path must agree with).
    static func componentByCharacter(_ value: String) throws(LayoutTemplate.RenderError) -> String {
        if value.isEmpty || value == "." || value == ".." { throw .unsafe("the name \(ErrorText.quoted(value)) is not a file name") }
        let text = String(value.map { ch -> Character in
            if ch == "/" || ch == "\\" { return "_" }
            if ch.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) { return "_" }
            return ch
        })
        return shorten(text)
    }

    /// A server-given relative path (`DICOM/1/img.dcm`) with each part made safe;
    /// `..` is refused rather than rewritten, because it always means something went wrong.
    public static func relativePath(_ value: String) throws(LayoutTemplate.RenderError) -> String {
        isClean(value, slashes: true) ? value : try relativePathByCharacter(value)
    }

    /// `relativePath` the long way, part by part.
    static func relativePathByCharacter(_ value: String) throws(LayoutTemplate.RenderError) -> String {
        var parts: [String] = []
        for raw in value.split(separator: "/", omittingEmptySubsequences: true) {
            if raw == "." { continue }
            if raw == ".." { throw .unsafe("`..` in \(ErrorText.quoted(value))") }
            parts.append(try component(String(raw)))
        }
        guard !parts.isEmpty else { throw .unsafe("empty path \(ErrorText.quoted(value))") }
        return parts.joined(separator: "/")
    }

    /// The final check of a rendered relative path: no absolute path, no `..`, no empty parts.
    public static func normalize(_ path: String) throws(LayoutTemplate.RenderError) -> String {
        isClean(path, slashes: true) ? path : try normalizeByCharacter(path)
    }

    /// `normalize` the long way, part by part.
    static func normalizeByCharacter(_ path: String) throws(LayoutTemplate.RenderError) -> String {
        var parts: [String] = []
        for raw in path.split(separator: "/", omittingEmptySubsequences: true) {
            if raw == "." { continue }
            if raw == ".." { throw .unsafe("`..` in the layout's output \(ErrorText.quoted(path))") }
            if raw.utf8.contains(0) { throw .unsafe("NUL in \(ErrorText.quoted(path))") }
            parts.append(shorten(String(raw)))
        }
        guard !parts.isEmpty else { throw .unsafe("the layout rendered an empty path") }
        return parts.joined(separator: "/")
    }

    /// Whether `value` is already what `component` (`slashes: false`) or `relativePath` and
    /// `normalize` (`slashes: true`) would make of it: printable ASCII without `\\`, no `/` unless
    /// `slashes` (and then no empty, `.` or `..` part), every part at most `maxComponentBytes` long.
    /// Other text takes the character-by-character path: in ASCII a byte is a character, beyond it
    /// a `/` may belong to a larger character.
    static func isClean(_ value: String, slashes: Bool) -> Bool {
        var partLength = 0
        var dots = 0
        for byte in value.utf8 {
            if byte == UInt8(ascii: "/") {
                // An empty, `.` or `..` part (or a `/` at all in a single component) needs the slow path.
                guard slashes, partLength > 0, dots != partLength || partLength > 2 else { return false }
                partLength = 0
                dots = 0
                continue
            }
            if byte < 0x20 || byte >= 0x7F || byte == UInt8(ascii: "\\") { return false }
            partLength += 1
            if byte == UInt8(ascii: ".") { dots += 1 }
            if partLength > maxComponentBytes { return false }
        }
        return partLength > 0 && (dots != partLength || partLength > 2)
    }

    /// A component cut to `maxComponentBytes`, keeping its extension and a short hash of the rest
    /// so that two long names stay distinct.
    static func shorten(_ text: String) -> String {
        guard text.utf8.count > maxComponentBytes else { return text }
        let ext = FileName.extension(of: text)
        let hash = String(fnv1a(text), radix: 16)
        let budget = maxComponentBytes - ext.utf8.count - hash.utf8.count - 1
        var head = ""
        for ch in text.dropLast(ext.count) {
            if head.utf8.count + String(ch).utf8.count > budget { break }
            head.append(ch)
        }
        return head + "~" + hash + ext
    }

    /// A fast, stable (not cryptographic) 64-bit hash for names.
    public static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf29ce484222325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100000001b3
        }
        return hash
    }
}
