import FlowModel

/// The archive formats flowctl reads as they stream in.
public enum ArchiveFormat: String, Sendable, Hashable, Codable, CaseIterable {
    case zip
    case tarGz = "tar.gz"
}

/// One member of an archive, as its header names it (the name already checked: see `ArchiveName`).
public struct ArchiveMember: Sendable, Hashable {
    /// The member's path inside the archive, `/`-separated, relative and free of `..`.
    public var name: String
    /// Its size once expanded, when the header says (zip without a data descriptor, tar).
    public var declaredSize: Int64?
    public init(name: String, declaredSize: Int64?) {
        self.name = name
        self.declaredSize = declaredSize
    }
}

/// Where a reader sends members: `begin`, any number of `write`s, `end` (sizes and CRC checked).
/// A member refused by name (`refused`) gets no `begin`. An error thrown here stops the reader.
public protocol ArchiveSink: AnyObject {
    /// A member starts; false: skip its bytes (no `write` and no `end` for it).
    func begin(_ member: ArchiveMember) throws -> Bool
    func write(_ bytes: UnsafeRawBufferPointer) throws
    /// The member's last byte arrived, and its size and CRC (zip) matched.
    func end(_ member: ArchiveMember, size: Int64) throws
    /// A member no file may be made of (climbing, absolute, a link...): named, never written.
    func refused(_ rawName: String, reason: String)
    /// Whether the sink checks the member it just began against a digest of its own (a listed
    /// MD5): the zip reader then skips that member's CRC-32, a third pass over the same bytes.
    func checksBytes(of member: ArchiveMember) -> Bool
}

extension ArchiveSink {
    /// By default the reader checks every member's CRC-32.
    public func checksBytes(of member: ArchiveMember) -> Bool { false }
}

/// Caps that stop an archive bomb within seconds, whatever its headers claim.
public struct ArchiveLimits: Sendable, Hashable {
    /// Members (entries of any kind) in one archive.
    public var maxMembers: Int
    /// Bytes of all members once expanded.
    public var maxExpandedBytes: Int64
    /// Expanded bytes per compressed byte over the whole archive, checked once
    /// `ratioGraceBytes` have expanded (small files compress well and prove nothing).
    public var maxRatio: Int64
    public var ratioGraceBytes: Int64

    public init(maxMembers: Int = 1_000_000, maxExpandedBytes: Int64 = 1 << 40, maxRatio: Int64 = 200,
                ratioGraceBytes: Int64 = 16 << 20) {
        self.maxMembers = maxMembers
        self.maxExpandedBytes = maxExpandedBytes
        self.maxRatio = maxRatio
        self.ratioGraceBytes = ratioGraceBytes
    }
}

/// Why an archive could not be read; the message is ours, bounded and escaped.
public struct ArchiveError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// A cap of `ArchiveLimits` tripped.
        case limit
        /// The bytes are not a well-formed archive (or a feature we do not read).
        case malformed
        /// The sink refused to go on.
        case sink
    }
    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    public var description: String { message }
}

/// The same path rules as listed files (`SafePath`), applied to a member's raw name: nothing
/// absolute, nothing climbing, no `\` separators, no `~` home names, no control characters.
public enum ArchiveName {
    /// The member's name as a safe relative path, or the reason it is refused.
    public static func check(_ raw: String) -> Result<String, ArchiveError> {
        func refuse(_ why: String) -> Result<String, ArchiveError> { .failure(ArchiveError(.malformed, why)) }
        if raw.isEmpty { return refuse("an empty name") }
        if raw.hasPrefix("/") { return refuse("an absolute path") }
        if raw.contains("\\") { return refuse("a `\\` separator (a Windows path)") }
        if raw.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) { return refuse("a control character") }
        let parts = raw.split(separator: "/", omittingEmptySubsequences: true)
        if parts.first?.hasPrefix("~") == true { return refuse("a `~` (home folder) name") }
        if parts.contains("..") { return refuse("a `..` part (climbs out of the folder)") }
        if parts.first.map({ $0.count == 2 && $0.hasSuffix(":") }) == true { return refuse("a drive letter") }
        do { return .success(try SafePath.relativePath(raw)) } catch { return refuse("\(error)") }
    }
}

/// Counts members and bytes against `ArchiveLimits` (shared by the zip and tar readers).
struct ArchiveBudget {
    let limits: ArchiveLimits
    var members = 0
    var expanded: Int64 = 0
    /// Bytes of the archive itself read so far.
    var compressed: Int64 = 0

    init(_ limits: ArchiveLimits) { self.limits = limits }

    mutating func member() throws(ArchiveError) {
        members += 1
        if members > limits.maxMembers {
            throw ArchiveError(.limit, "the archive holds more than \(limits.maxMembers) members (the cap on members)")
        }
    }

    mutating func expand(_ count: Int) throws(ArchiveError) {
        expanded += Int64(count)
        if expanded > limits.maxExpandedBytes {
            throw ArchiveError(.limit, "the archive expands past \(Quantities.formatBytes(limits.maxExpandedBytes)) (the cap on expanded bytes)")
        }
        if expanded > limits.ratioGraceBytes, expanded > limits.maxRatio * max(compressed, 1) {
            throw ArchiveError(.limit, "the archive expands more than \(limits.maxRatio) times its size "
                + "(\(Quantities.formatBytes(expanded)) from \(Quantities.formatBytes(compressed))): an archive bomb?")
        }
    }
}

/// A reader of one archive format, fed the archive's bytes as they arrive.
public protocol ArchiveReader: AnyObject {
    /// Takes the next bytes of the archive.
    func feed(_ bytes: UnsafeRawBufferPointer) throws
    /// The archive ended: throws when it ended in the middle of something.
    func finish() throws
    /// Members seen so far.
    var memberCount: Int { get }
}

extension ArchiveFormat {
    /// A reader of this format sending members to `sink`.
    public func reader(limits: ArchiveLimits = .init(), sink: any ArchiveSink) -> any ArchiveReader {
        switch self {
        case .zip: return ZipReader(limits: limits, sink: sink)
        case .tarGz: return TarGzReader(limits: limits, sink: sink)
        }
    }
}
