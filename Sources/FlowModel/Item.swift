/// A checksum algorithm a server or flowctl computes.
public enum ChecksumAlgorithm: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case md5, sha1, sha256
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// A checksum: algorithm and lowercase hex value.
public struct Checksum: Sendable, Hashable, Codable {
    public var algorithm: ChecksumAlgorithm
    public var value: String
    public init(_ algorithm: ChecksumAlgorithm, _ value: String) {
        self.algorithm = algorithm
        // Digests are mostly lower-case hex already: no new string for each of them.
        self.value = value.utf8.contains(where: { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }) ? value.lowercased() : value
    }
}

/// One remote file a selection matched: the unit of download, upload and lock files.
public struct RemoteItem: Sendable, Hashable, Codable {
    /// Name of the source in the job.
    public var source: String
    /// Stable remote identity (path of ids on the platform), unique within the source.
    public var id: String
    /// Where its bytes are: an absolute URL, or a file path for `local`.
    public var url: String
    public var size: Int64?
    /// Checksums the server gives (XNAT MD5, Agora SHA-1...).
    public var checksums: [Checksum]
    /// Changes when the content changes (ETag, modification time), when the server says.
    public var version: String?
    /// Template fields: `subject.label`, `scan.type`, `file.name`...
    public var fields: [String: String]

    public init(source: String, id: String, url: String, size: Int64? = nil, checksums: [Checksum] = [],
                version: String? = nil, fields: [String: String] = [:]) {
        self.source = source
        self.id = id
        self.url = url
        self.size = size
        self.checksums = checksums
        self.version = version
        self.fields = fields
    }

    /// One field of `allFields`, without building that dictionary (the planner asks per item).
    public func field(_ name: String) -> String? {
        switch name {
        case "item.id": return id
        case "source.name": return source
        case "file.size": return fields[name] ?? size.map { String($0) }
        case "file.ext": return fields[name] ?? fields["file.name"].map(FileName.extension(of:))
        case "file.stem": return fields[name] ?? fields["file.name"].map(FileName.stem(of:))
        default: return fields[name]
        }
    }

    /// The fields with the common ones (`file.ext`, `item.id`, ...) filled in.
    public var allFields: [String: String] {
        var all = fields
        all["item.id"] = id
        all["source.name"] = source
        if let size, all["file.size"] == nil { all["file.size"] = String(size) }
        if let name = all["file.name"] {
            if all["file.ext"] == nil { all["file.ext"] = FileName.extension(of: name) }
            if all["file.stem"] == nil { all["file.stem"] = FileName.stem(of: name) }
        }
        return all
    }

    public func checksum(_ algorithm: ChecksumAlgorithm) -> String? {
        checksums.first { $0.algorithm == algorithm }?.value
    }
}

/// File-name helpers that know imaging's double extensions (`.nii.gz`, `.mnc.gz`, ...).
public enum FileName {
    static let doubleExtensions = [".nii.gz", ".mnc.gz", ".tar.gz", ".tar.bz2", ".mhd.gz", ".dcm.gz"]

    /// `.nii.gz` for `brain.nii.gz`, `.mnc` for `t1.mnc`, empty when there is none.
    public static func `extension`(of name: String) -> String {
        isPrintableASCII(name) ? asciiExtension(of: name) : extensionByCharacter(of: name)
    }

    /// `extension(of:)` for any name, character by character.
    static func extensionByCharacter(of name: String) -> String {
        let lower = name.lowercased()
        if let double = doubleExtensions.first(where: { lower.hasSuffix($0) && lower.count > $0.count }) {
            return String(name.suffix(double.count))
        }
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "" }
        return String(name[dot...])
    }

    /// The name without its extension: `brain` for `brain.nii.gz`.
    public static func stem(of name: String) -> String {
        let ext = self.extension(of: name)
        if isPrintableASCII(name) { return String(decoding: name.utf8.dropLast(ext.utf8.count), as: UTF8.self) }
        return String(name.dropLast(ext.count))
    }

    /// Printable ASCII: one byte is one character, so bytes can stand in for characters (which
    /// cost a grapheme-breaking pass each). Control characters are out: `\r\n` is one character.
    static func isPrintableASCII(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
    }

    /// `extension(of:)` for printable ASCII names, on their bytes.
    private static func asciiExtension(of name: String) -> String {
        let bytes = name.utf8
        let dot = UInt8(ascii: ".")
        guard let last = bytes.lastIndex(of: dot), last != bytes.startIndex else { return "" }
        // A double extension starts at the dot before, which must not start the name.
        if let before = bytes[..<last].lastIndex(of: dot), before != bytes.startIndex {
            let double = String(decoding: bytes[before...], as: UTF8.self)
            if doubleExtensions.contains(double.lowercased()) { return double }
        }
        return String(decoding: bytes[last...], as: UTF8.self)
    }
}
