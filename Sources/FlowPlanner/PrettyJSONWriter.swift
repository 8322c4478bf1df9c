/// Writes JSON straight into UTF-8 bytes, laid out as Foundation's `.prettyPrinted` lays it out
/// (two-space indents, `"key" : value`, an empty container as `{` blank line `}`), so that plans
/// keep their bytes while 100,000 tasks take milliseconds instead of seconds: no `[String: Any]`
/// tree, no bridging, no per-value boxing.
///
/// Callers write an object's keys in ascending UTF-8 byte order themselves (as `.sortedKeys`
/// would); debug builds check it. Strings are escaped as `JSONSerialization` escapes them with
/// `.withoutEscapingSlashes`.
struct PrettyJSONWriter {
    /// What has been written and not yet taken.
    private(set) var bytes: [UInt8] = []
    /// One entry per open container: whether it has a member yet.
    private var hasMembers: [Bool] = []
    /// A key has been written and its value is next (no separator before it).
    private var valueFollowsKey = false
    #if DEBUG
    private var lastKeys: [String?] = []
    #endif

    init(reservingCapacity capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    /// Hands over what has been written so far, for streaming.
    mutating func take() -> [UInt8] {
        defer { bytes.removeAll(keepingCapacity: true) }
        return bytes
    }

    // MARK: containers

    mutating func openObject() { open(UInt8(ascii: "{")) }
    mutating func closeObject() { close(UInt8(ascii: "}")) }
    mutating func openArray() { open(UInt8(ascii: "[")) }
    mutating func closeArray() { close(UInt8(ascii: "]")) }

    /// Starts an object member; its value comes next.
    mutating func key(_ name: String) {
        #if DEBUG
        if let last = lastKeys[lastKeys.count - 1] {
            assert(last.utf8.lexicographicallyPrecedes(name.utf8), "JSON keys out of order: `\(last)` before `\(name)`")
        }
        lastKeys[lastKeys.count - 1] = name
        #endif
        startMember()
        appendString(name)
        bytes.append(contentsOf: " : ".utf8)
        valueFollowsKey = true
    }

    // MARK: values

    mutating func value(_ text: String) {
        startValue()
        appendString(text)
    }

    mutating func value<Number: BinaryInteger>(_ number: Number) {
        startValue()
        bytes.append(contentsOf: String(number).utf8)
    }

    /// An object of strings, keys in UTF-8 byte order.
    mutating func value(_ object: [String: String]) {
        sortedObject(object) { $0.value($1) }
    }

    /// An object of counts, keys in UTF-8 byte order.
    mutating func value(_ object: [String: Int]) {
        sortedObject(object) { $0.value($1) }
    }

    private mutating func sortedObject<Value>(_ object: [String: Value], _ write: (inout Self, Value) -> Void) {
        openObject()
        for (name, member) in object.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            key(name)
            write(&self, member)
        }
        closeObject()
    }

    mutating func value(_ array: [String]) {
        openArray()
        for text in array { value(text) }
        closeArray()
    }

    // MARK: layout

    private mutating func open(_ bracket: UInt8) {
        startValue()
        bytes.append(bracket)
        hasMembers.append(false)
        #if DEBUG
        lastKeys.append(nil)
        #endif
    }

    private mutating func close(_ bracket: UInt8) {
        let hadMembers = hasMembers.removeLast()
        #if DEBUG
        lastKeys.removeLast()
        #endif
        // Foundation leaves a blank line inside an empty container.
        bytes.append(UInt8(ascii: "\n"))
        if !hadMembers { bytes.append(UInt8(ascii: "\n")) }
        indent()
        bytes.append(bracket)
    }

    /// Before a value: nothing after a key, a separator and a new line inside an array.
    private mutating func startValue() {
        if valueFollowsKey {
            valueFollowsKey = false
        } else if !hasMembers.isEmpty {
            startMember()
        }
    }

    private mutating func startMember() {
        if hasMembers[hasMembers.count - 1] { bytes.append(UInt8(ascii: ",")) }
        hasMembers[hasMembers.count - 1] = true
        bytes.append(UInt8(ascii: "\n"))
        indent()
    }

    /// Spaces to copy indents from (a copy of a slice beats appending a repeated element).
    private static let spaces = [UInt8](repeating: UInt8(ascii: " "), count: 64)

    private mutating func indent() {
        let width = 2 * hasMembers.count
        if width <= Self.spaces.count {
            bytes.append(contentsOf: Self.spaces[..<width])
        } else {
            bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: width))
        }
    }

    private mutating func appendString(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        let copied: Void? = text.utf8.withContiguousStorageIfAvailable { appendEscaped($0) }
        if copied == nil { appendEscaped(Array(text.utf8)) }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendEscaped<Bytes: Collection<UInt8>>(_ utf8: Bytes) {
        // Most values need no escape at all: copy them in one go.
        guard utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else {
            bytes.append(contentsOf: utf8)
            return
        }
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): bytes.append(contentsOf: #"\\"#.utf8)
            case 0x08: bytes.append(contentsOf: #"\b"#.utf8)
            case 0x0C: bytes.append(contentsOf: #"\f"#.utf8)
            case UInt8(ascii: "\n"): bytes.append(contentsOf: #"\n"#.utf8)
            case UInt8(ascii: "\r"): bytes.append(contentsOf: #"\r"#.utf8)
            case UInt8(ascii: "\t"): bytes.append(contentsOf: #"\t"#.utf8)
            case ..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: #"\u00"#.utf8)
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0xF)])
            default:
                bytes.append(byte)
            }
        }
    }
}
