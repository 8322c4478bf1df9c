import Foundation

/// A range of synthetic file sizes in bytes; each file gets a size drawn deterministically from it.
public struct FileSizeRange: Sendable, Codable, Equatable, CustomStringConvertible {
    public var min: Int64
    public var max: Int64
    public init(min: Int64, max: Int64) { self.min = Swift.min(min, max); self.max = Swift.max(min, max) }
    /// Every file exactly `size` bytes.
    public static func fixed(_ size: Int64) -> FileSizeRange { FileSizeRange(min: size, max: size) }
    /// The default: modest files so demos are fast.
    public static let `default` = FileSizeRange(min: 4 * 1024, max: 256 * 1024)

    /// Parses `4KiB..256KiB`, `1GiB`, `65536`, `10MB` (KB/MB/GB are decimal, KiB/MiB/GiB binary).
    public init?(parsing text: String) {
        let parts = text.components(separatedBy: "..")
        guard parts.count == 1 || parts.count == 2,
              let a = FileSizeRange.parseSize(parts[0]) else { return nil }
        let b = parts.count == 2 ? FileSizeRange.parseSize(parts[1]) : a
        guard let b else { return nil }
        self.init(min: a, max: b)
    }

    static func parseSize(_ raw: String) -> Int64? {
        let s = raw.trimmingCharacters(in: .whitespaces)
        let units: [(String, Int64)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40),
                                         ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("K", 1 << 10),
                                         ("M", 1 << 20), ("G", 1 << 30), ("B", 1)]
        for (suffix, factor) in units where s.hasSuffix(suffix) {
            guard let n = Double(s.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), n >= 0 else { return nil }
            return Int64(n * Double(factor))
        }
        return Int64(s).flatMap { $0 >= 0 ? $0 : nil }
    }

    public var description: String { min == max ? "\(min)" : "\(min)..\(max)" }

    /// Size for item `key`: deterministic, uniform in the range.
    func size(for key: UInt64) -> Int64 {
        if min == max { return min }
        return min + Int64(SplitMix64.mix(key ^ 0x5151_5151) % UInt64(max - min + 1))
    }
}

/// Per-platform server options.
public struct PlatformOptions: Sendable, Codable, Equatable {
    /// Serve over HTTPS (nil: the platform's default; XNAT and LORIS default to plain HTTP).
    public var tls: Bool?
    /// Port to bind (0 = ephemeral).
    public var port: Int
    public init(tls: Bool? = nil, port: Int = 0) { self.tls = tls; self.port = port }
}

/// Everything that shapes a sandbox run: data, scale, servers and initial faults.
public struct SandboxConfiguration: Sendable, Codable, Equatable {
    /// Seed of all synthetic data (names, sizes, bytes) and of fault decisions.
    public var seed: UInt64 = 0
    /// Host to bind; loopback by default.
    public var host: String = "127.0.0.1"
    /// Platforms to start (all registered ones by default).
    public var platforms: [PlatformID]? = nil
    /// Per-platform server options, keyed by platform name.
    public var platformOptions: [String: PlatformOptions] = [:]
    /// Serve every platform over HTTPS (overrides platform defaults unless set per platform).
    public var tlsEverywhere: Bool = false
    /// Multiplies subject/candidate counts (1 = defaults below).
    public var scale: Double = 1
    /// Size range of synthetic files.
    public var fileSize: FileSizeRange = .default
    /// Faults active from the start.
    public var faults: SandboxFaults = SandboxFaults()
    /// Where to write the CA certificate (PEM); a temporary folder when nil.
    public var caCertificatePath: String? = nil

    // XNAT data shape
    /// Number of XNAT subjects in project `testenv` (before `scale`).
    public var xnatSubjects: Int = 20
    /// DICOM files per scan's DICOM resource.
    public var xnatDicomFilesPerScan: Int = 4
    /// Scans per XNAT session (4: T1, DWI, reversed DWI, FLAIR; more repeat those kinds).
    public var xnatScansPerSession: Int = 4
    /// Answer a duplicate upload without `overwrite=true` with 409 instead of 200 `{"duplicates":[...]}`.
    public var xnatDuplicateUploadConflict: Bool = false
    /// How archives (`format=zip`, `format=tar.gz`) are written: stored or deflated, Zip64 or not.
    public var xnatArchiveStyle = ArchiveStyle()

    // LORIS data shape
    /// Number of LORIS candidates (before `scale`); PREVENT-AD has 233.
    public var lorisCandidates: Int = 233
    /// Minimum and maximum number of MINC files per visit (PREVENT-AD seed: 9..19).
    public var lorisFilesPerVisit: ClosedRange<Int> = 9...19
    /// `v0.0.3-dev` behaves like PREVENT-AD's legacy scripts (true) or like LORIS 22 module code (false).
    public var lorisLegacyDev: Bool = true

    // Hostile platforms (Hostile/README.md)
    /// Start the hostile platforms too (`flowctl-sandbox serve --hostile`).
    public var hostile: Bool = false
    /// Bytes a hostile gzip bomb inflates to (small in tests of the emulator itself).
    public var hostileGzipInflatedBytes: Int64 = 1 << 30
    /// How long a hostile listing that never answers keeps silent before giving up (seconds).
    public var hostileSilenceSeconds: Int = 240

    public init() {}

    /// Options for one platform (defaults when not set).
    public func options(for id: PlatformID) -> PlatformOptions { platformOptions[id.rawValue] ?? PlatformOptions() }

    func scaled(_ n: Int) -> Int { Swift.max(0, Int((Double(n) * scale).rounded())) }
}
