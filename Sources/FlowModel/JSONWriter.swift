/// Writes JSON straight into UTF-8 bytes: no `[String: Any]` tree, no bridging, no per-value
/// boxing, so 100,000 plan tasks or events take milliseconds instead of seconds.
///
/// `.pretty` lays JSON out as Foundation's `.prettyPrinted` does (two-space indents,
/// `"key" : value`, an empty container as `{` blank line `}`), so plans keep their bytes;
/// `.compact` writes one line (NDJSON events). Callers write an object's keys in ascending UTF-8
/// byte order themselves (as `.sortedKeys` would); debug builds check it. Strings are escaped
/// as `JSONSerialization` escapes them with `.withoutEscapingSlashes`.
public struct JSONWriter: Sendable {
    /// How the JSON is laid out.
    public enum Layout: Sendable {
        case pretty
        case compact
    }

    public let layout: Layout
    /// What has been written and not yet taken.
    public private(set) var bytes: [UInt8] = []
    /// One entry per open container: whether it has a member yet.
    private var hasMembers: [Bool] = []
    /// A key has been written and its value is next (no separator before it).
    private var valueFollowsKey = false
    #if DEBUG
    private var lastKeys: [String?] = []
    #endif

    public init(_ layout: Layout = .pretty, reservingCapacity capacity: Int = 0) {
        self.layout = layout
        bytes.reserveCapacity(capacity)
    }

    /// Hands over what has been written so far, for streaming; the writer goes on with a buffer
    /// of the same capacity.
    public mutating func take() -> [UInt8] {
        defer { bytes.removeAll(keepingCapacity: true) }
        return bytes
    }

    /// Hands over everything written, ending the writer: the buffer moves out, uncopied (`take`
    /// would allocate a second buffer of the same capacity, 3 MB for a 10,000-file manifest).
    public consuming func finish() -> [UInt8] {
        bytes
    }

    /// A writer for further members of the container this one has open, written elsewhere (on
    /// another thread) and handed out by the caller after what this writer wrote before them:
    /// same layout, same depth. `first`: its first member is the container's first (no separator
    /// before it). Call `membersWrittenElsewhere()` on this writer once there were some.
    public func members(first: Bool, reservingCapacity capacity: Int = 0) -> JSONWriter {
        var writer = JSONWriter(layout, reservingCapacity: capacity)
        writer.hasMembers = hasMembers
        writer.hasMembers[writer.hasMembers.count - 1] = !first
        #if DEBUG
        writer.lastKeys = lastKeys
        #endif
        return writer
    }

    /// The open container has members, written by writers from `members(first:)`.
    public mutating func membersWrittenElsewhere() {
        hasMembers[hasMembers.count - 1] = true
    }

    // MARK: containers

    public mutating func openObject() { open(UInt8(ascii: "{")) }
    public mutating func closeObject() { close(UInt8(ascii: "}")) }
    public mutating func openArray() { open(UInt8(ascii: "[")) }
    public mutating func closeArray() { close(UInt8(ascii: "]")) }

    /// Starts an object member; its value comes next.
    public mutating func key(_ name: String) {
        #if DEBUG
        if let last = lastKeys[lastKeys.count - 1] {
            assert(last.utf8.lexicographicallyPrecedes(name.utf8), "JSON keys out of order: `\(last)` before `\(name)`")
        }
        lastKeys[lastKeys.count - 1] = name
        #endif
        startMember()
        appendString(name)
        if layout == .pretty { bytes.append(contentsOf: " : ".utf8) } else { bytes.append(UInt8(ascii: ":")) }
        valueFollowsKey = true
    }

    /// A key written many times (every task of a plan has the same ones): quoted, escaped and
    /// followed by its separator once, not at each use.
    public struct Key: Sendable {
        public let name: String
        fileprivate let pretty: [UInt8]
        fileprivate let compact: [UInt8]

        public init(_ name: String) {
            self.name = name
            var quoted = JSONWriter(.compact)
            quoted.appendString(name)
            pretty = quoted.bytes + Array(" : ".utf8)
            compact = quoted.bytes + [UInt8(ascii: ":")]
        }
    }

    /// `key(_:)` for a key made once.
    public mutating func key(_ key: Key) {
        #if DEBUG
        if let last = lastKeys[lastKeys.count - 1] {
            assert(last.utf8.lexicographicallyPrecedes(key.name.utf8), "JSON keys out of order: `\(last)` before `\(key.name)`")
        }
        lastKeys[lastKeys.count - 1] = key.name
        #endif
        startMember()
        bytes.append(contentsOf: layout == .pretty ? key.pretty : key.compact)
        valueFollowsKey = true
    }

    // MARK: values

    public mutating func value(_ text: String) {
        startValue()
        appendString(text)
    }

    public mutating func value<Number: BinaryInteger>(_ number: Number) {
        startValue()
        bytes.append(contentsOf: String(number).utf8)
    }

    /// A number in the shortest form that reads back the same (`null` for NaN and infinities,
    /// which JSON cannot express).
    public mutating func value(_ number: Double) {
        startValue()
        bytes.append(contentsOf: (number.isFinite ? number.description : "null").utf8)
    }

    public mutating func value(_ flag: Bool) {
        startValue()
        bytes.append(contentsOf: (flag ? "true" : "false").utf8)
    }

    /// An object of strings, keys in UTF-8 byte order.
    public mutating func value(_ object: [String: String]) {
        sortedObject(object) { $0.value($1) }
    }

    /// An object of counts, keys in UTF-8 byte order.
    public mutating func value(_ object: [String: Int]) {
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

    public mutating func value(_ array: [String]) {
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
        guard layout == .pretty else {
            bytes.append(bracket)
            return
        }
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
        guard layout == .pretty else { return }
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
