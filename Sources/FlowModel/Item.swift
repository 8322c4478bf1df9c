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
///
/// Its values live in one shared, copy-on-write box: a plan's tasks and its item lists hold the
/// same item without a copy of it each (a million items are planned).
public struct RemoteItem: Sendable, Hashable, Codable {
    /// Name of the source in the job.
    public var source: String {
        get { storage.source }
        set { unique().source = newValue }
    }
    /// Stable remote identity (path of ids on the platform), unique within the source.
    public var id: String {
        get { storage.fullID }
        set {
            let box = unique()
            box.materializeDerived()
            box.id = newValue
        }
    }
    /// Where its bytes are: an absolute URL, or a file path for `local`.
    public var url: String {
        get { storage.urlFromPath ? storage.url + storage.id : storage.url }
        set {
            let box = unique()
            box.unsplit()
            box.url = newValue
            box.urlFromPath = false
        }
    }
    public var size: Int64? {
        get { storage.size }
        set {
            let box = unique()
            box.materializeDerived()
            box.size = newValue
        }
    }
    /// Checksums the server gives (XNAT MD5, Agora SHA-1...).
    public var checksums: [Checksum] {
        get { storage.checksums }
        set { unique().checksums = newValue }
    }
    /// Changes when the content changes (ETag, modification time), when the server says.
    public var version: String? {
        get { storage.version ?? storage.versionNumber.map { String($0) } }
        set {
            let box = unique()
            box.version = newValue
            box.versionNumber = nil
        }
    }
    /// Template fields: `subject.label`, `scan.type`, `file.name`...
    public var fields: [String: String] {
        get { storage.fieldsFromPath ? RemoteItem.fileFields(path: id, size: size, over: storage.fields) : storage.fields }
        set {
            let box = unique()
            box.fields = newValue
            box.fieldsFromPath = false
        }
    }

    private var storage: Storage

    /// The values, shared by the copies of an item until one of them changes.
    private final class Storage: @unchecked Sendable {  // changed only while uniquely referenced
        var source: String
        var id: String
        var url: String
        var version: String?
        var checksums: [Checksum]
        var fields: [String: String]
        // The optional numbers as a value and a flag each, the flags together: 116 bytes an
        // item (a 128-byte block), where `Int64?`s padded to 129 (a 144-byte block).
        private var sizeValue: Int64 = 0
        private var versionValue: Int64 = 0
        private var hasSize = false
        private var hasVersionNumber = false
        /// `file.path`, `file.name`, `file.dir`, `file.stem`, `file.ext` and `file.size` are not
        /// stored but derived from `id` (a path) and `size`: a listing of a million local files
        /// keeps no dictionary per file.
        var fieldsFromPath = false
        /// `url` is the folder's URL (one string shared by its files) followed by `id`.
        var urlFromPath = false
        /// When not 0, `id` is the file's name alone, and the folder part of the path (`a/b/`)
        /// is the last `folderLength` bytes of `url`, one string per folder: the path is not
        /// stored per file (`RemoteItem.file(source:folderURL:folder:name:...)`).
        var folderLength: Int32 = 0

        /// The item's id: the path, put together when it is kept in parts.
        var fullID: String {
            guard folderLength != 0 else { return id }
            var path = folderPart
            path += id
            return path
        }

        /// `a/b/` of a path kept in parts.
        var folderPart: String {
            String(decoding: url.utf8.suffix(Int(folderLength)), as: UTF8.self)
        }

        /// The path kept whole again (before `url` changes).
        func unsplit() {
            guard folderLength != 0 else { return }
            let length = Int(folderLength)
            id = fullID
            url = String(decoding: url.utf8.dropLast(length), as: UTF8.self)
            folderLength = 0
        }

        var size: Int64? {
            get { hasSize ? sizeValue : nil }
            set {
                hasSize = newValue != nil
                sizeValue = newValue ?? 0
            }
        }
        /// A version that is a number is kept as one, and written out when asked.
        var versionNumber: Int64? {
            get { hasVersionNumber ? versionValue : nil }
            set {
                hasVersionNumber = newValue != nil
                versionValue = newValue ?? 0
            }
        }

        init(source: String, id: String, url: String, size: Int64?, checksums: [Checksum], version: String?,
             fields: [String: String]) {
            self.source = source
            self.id = id
            self.url = url
            self.checksums = checksums
            self.version = version
            self.fields = fields
            self.size = size
        }

        func copy() -> Storage {
            let copy = Storage(source: source, id: id, url: url, size: size, checksums: checksums, version: version, fields: fields)
            copy.fieldsFromPath = fieldsFromPath
            copy.urlFromPath = urlFromPath
            copy.versionNumber = versionNumber
            copy.folderLength = folderLength
            return copy
        }

        /// What comes from `id` and `size` is stored (before either changes under it).
        func materializeDerived() {
            let path = fullID
            if fieldsFromPath { fields = RemoteItem.fileFields(path: path, size: size, over: fields) }
            // The folder's URL and the name, or the source's URL and the path: the file's URL.
            if urlFromPath { url += id }
            id = path
            folderLength = 0
            fieldsFromPath = false
            urlFromPath = false
        }
    }

    /// The box, made this item's own before a change.
    private mutating func unique() -> Storage {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        return storage
    }

    public init(source: String, id: String, url: String, size: Int64? = nil, checksums: [Checksum] = [],
                version: String? = nil, fields: [String: String] = [:]) {
        storage = Storage(source: source, id: id, url: url, size: size, checksums: checksums, version: version, fields: fields)
    }

    /// A file whose id is its `/`-separated path, with the `file.*` fields that path and its size
    /// give (what `fields` returns, computed when asked instead of stored), at `folderURL` + path,
    /// its version a number (a modification time): a million of them keep one string each.
    public static func file(source: String, path: String, folderURL: String, size: Int64?, version: Int64?) -> RemoteItem {
        let item = RemoteItem(source: source, id: path, url: folderURL, size: size)
        item.storage.fieldsFromPath = true
        item.storage.urlFromPath = true
        item.storage.versionNumber = version
        return item
    }

    /// `file(source:path:...)` of the file `name` in `folder` (empty at the top), kept in parts:
    /// `folderURL` is the folder's own URL, ending in `folder + "/"`, one string its files share,
    /// so that no path is stored per file. What `id` and `fields` return is the same.
    public static func file(source: String, folderURL: String, folder: String, name: String, size: Int64?,
                            version: Int64?) -> RemoteItem {
        guard !folder.isEmpty else { return file(source: source, path: name, folderURL: folderURL, size: size, version: version) }
        assert(folderURL.hasSuffix(folder + "/"), "the folder's URL ends with the folder")
        let item = file(source: source, path: name, folderURL: folderURL, size: size, version: version)
        item.storage.folderLength = Int32(folder.utf8.count + 1)
        return item
    }

    /// Feeds the id's UTF-8 bytes to `hasher`, as the whole id would, without putting a path
    /// kept in parts together (the task graph files a million ids).
    func hashID(into hasher: inout Hasher) {
        let box = storage
        if box.folderLength != 0 {
            box.url.withContiguousUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: $0.suffix(Int(box.folderLength))))) }
        }
        box.id.withContiguousUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Whether the id is `bytes`, byte for byte, without putting a path kept in parts together.
    func idIs(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
        let box = storage
        let folderLength = Int(box.folderLength)
        return box.id.withContiguousUTF8 { name in
            guard bytes.count == folderLength + name.count, bytes.suffix(name.count).elementsEqual(name) else { return false }
            guard folderLength != 0 else { return true }
            return box.url.withContiguousUTF8 { bytes.prefix(folderLength).elementsEqual($0.suffix(folderLength)) }
        }
    }

    /// Whether both ids are the same bytes (files of one folder listing compare their names alone).
    func hasSameID(as other: RemoteItem) -> Bool {
        let (a, b) = (storage, other.storage)
        if a === b { return true }
        if a.folderLength == b.folderLength, a.folderLength != 0, a.url.utf8.count == b.url.utf8.count,
           a.url.withContiguousUTF8({ x in b.url.withContiguousUTF8 { y in x.elementsEqual(y) } }) {
            return a.id.withContiguousUTF8 { x in b.id.withContiguousUTF8 { y in x.elementsEqual(y) } }
        }
        return a.fullID.withContiguousUTF8 { x in b.fullID.withContiguousUTF8 { y in x.elementsEqual(y) } }
    }

    /// One field of `allFields`, without building that dictionary (the planner asks per item).
    public func field(_ name: String) -> String? {
        let box = storage
        let storedFields = box.fields
        if box.fieldsFromPath, storedFields.isEmpty || storedFields[name] == nil {
            // A path kept in parts gives its name and folder without being put together.
            if box.folderLength != 0 {
                switch name {
                case "file.name": return box.id
                case "file.dir": return String(decoding: box.folderPart.utf8.dropLast(), as: UTF8.self)
                case "file.stem": return FileName.stem(of: box.id)
                case "file.ext": return FileName.extension(of: box.id)
                case "file.path", "file.size": return RemoteItem.fileField(name, path: box.fullID, size: box.size)
                default: break
                }
            } else if let value = RemoteItem.fileField(name, path: box.id, size: box.size) {
                return value
            }
        }
        switch name {
        case "item.id": return box.fullID
        case "source.name": return box.source
        case "file.size": return storedFields[name] ?? box.size.map { String($0) }
        case "file.ext": return storedFields[name] ?? storedFields["file.name"].map(FileName.extension(of:))
        case "file.stem": return storedFields[name] ?? storedFields["file.name"].map(FileName.stem(of:))
        default: return storedFields[name]
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

    /// The `file.*` fields a path gives, over `stored` (which wins).
    static func fileFields(path: String, size: Int64?, over stored: [String: String]) -> [String: String] {
        var all = stored
        for name in ["file.path", "file.name", "file.dir", "file.stem", "file.ext", "file.size"] where all[name] == nil {
            all[name] = fileField(name, path: path, size: size)
        }
        return all
    }

    /// One `file.*` field of a path: `file.dir` is empty at the top; nil for other names.
    static func fileField(_ name: String, path: String, size: Int64?) -> String? {
        switch name {
        case "file.path": return path
        case "file.name": return FileName.last(of: path)
        case "file.dir": return FileName.folder(of: path)
        case "file.stem": return FileName.stem(of: FileName.last(of: path))
        case "file.ext": return FileName.extension(of: FileName.last(of: path))
        case "file.size": return size.map { String($0) }
        default: return nil
        }
    }

    // Equal, hashed and coded by what they hold, however their fields are kept.
    public static func == (a: RemoteItem, b: RemoteItem) -> Bool {
        if a.storage === b.storage { return true }
        guard a.source == b.source, a.id == b.id, a.url == b.url, a.size == b.size, a.checksums == b.checksums,
              a.version == b.version else { return false }
        if a.storage.fieldsFromPath == b.storage.fieldsFromPath && a.storage.fields == b.storage.fields { return true }
        return a.fields == b.fields
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(source)
        hasher.combine(id)
        hasher.combine(url)
        hasher.combine(size)
        hasher.combine(checksums)
        hasher.combine(version)
        hasher.combine(fields)
    }

    enum CodingKeys: String, CodingKey { case source, id, url, size, checksums, version, fields }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(source: try c.decode(String.self, forKey: .source), id: try c.decode(String.self, forKey: .id),
                  url: try c.decode(String.self, forKey: .url), size: try c.decodeIfPresent(Int64.self, forKey: .size),
                  checksums: try c.decode([Checksum].self, forKey: .checksums),
                  version: try c.decodeIfPresent(String.self, forKey: .version),
                  fields: try c.decode([String: String].self, forKey: .fields))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(source, forKey: .source)
        try c.encode(id, forKey: .id)
        try c.encode(url, forKey: .url)
        try c.encodeIfPresent(size, forKey: .size)
        try c.encode(checksums, forKey: .checksums)
        try c.encodeIfPresent(version, forKey: .version)
        try c.encode(fields, forKey: .fields)
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

    /// The last component of a `/`-separated path: `T1w.nii.gz` for `sub-01/anat/T1w.nii.gz`.
    public static func last(of path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return path }
        return String(path[path.utf8.index(after: slash)...])
    }

    /// The folder part of a `/`-separated path: `sub-01/anat`, empty at the top.
    public static func folder(of path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return "" }
        return String(path[..<slash])
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

extension String {
    /// Calls `body` with the UTF-8 bytes, in place when the string holds them contiguously (a
    /// native string does), else copied out first.
    func withContiguousUTF8<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if let result = utf8.withContiguousStorageIfAvailable(body) { return result }
        return Array(utf8).withUnsafeBufferPointer(body)
    }
}
