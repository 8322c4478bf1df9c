import FlowModel

/// Reads a gzip-compressed tar archive as it streams in: gzip (several members too) through
/// zlib, then ustar/pax/GNU headers. Regular files go to the sink; folders are skipped; links
/// (symbolic and hard), devices and FIFOs are refused by name: no link is ever made.
final class TarGzReader: ArchiveReader {
    private let inflater: Inflater?
    private let tar: TarReader
    private var failure: ArchiveError?

    init(limits: ArchiveLimits, sink: any ArchiveSink) {
        tar = TarReader(limits: limits, sink: sink)
        do { inflater = try Inflater(raw: false) } catch {
            inflater = nil
            failure = error
        }
    }

    var memberCount: Int { tar.memberCount }

    func feed(_ bytes: UnsafeRawBufferPointer) throws {
        if let failure { throw failure }
        guard let inflater else { return }
        tar.compressed += Int64(bytes.count)
        var rest = bytes
        while !rest.isEmpty {
            if inflater.ended {
                // Another gzip member follows (concatenated gzip), or padding.
                if rest.allSatisfy({ $0 == 0 }) { return }
                inflater.reset()
            }
            let used = try inflater.inflate(rest) { piece in try self.tar.feed(piece) }
            rest = UnsafeRawBufferPointer(rebasing: rest[used...])
            if used == 0 && !inflater.ended { break }
        }
    }

    func finish() throws {
        if let failure { throw failure }
        guard inflater?.ended == true else { throw ArchiveError(.malformed, "the gzip stream ended early") }
        try tar.finish()
    }
}

/// The tar layer: 512-byte headers, data padded to 512 bytes, two zero blocks at the end.
final class TarReader {
    private let sink: any ArchiveSink
    private var budget: ArchiveBudget
    var compressed: Int64 {
        get { budget.compressed }
        set { budget.compressed = newValue }
    }
    private var header: [UInt8] = []
    /// Bytes of the current member's data still to come, and padding after it.
    private var remaining: Int64 = 0
    private var padding = 0
    private var member: ArchiveMember?
    /// The bytes of a pax or GNU long-name header being read (its data is the name).
    private var extended: [UInt8]?
    private var extendedKind: UInt8 = 0
    private var nextName: String?
    private var nextSize: Int64?
    private var produced: Int64 = 0
    private var ended = false

    init(limits: ArchiveLimits, sink: any ArchiveSink) {
        self.sink = sink
        budget = ArchiveBudget(limits)
    }

    var memberCount: Int { budget.members }

    func feed(_ input: UnsafeRawBufferPointer) throws {
        var rest = input
        while !rest.isEmpty {
            if ended { return }
            if remaining > 0 {
                let n = Int(min(Int64(rest.count), remaining))
                let piece = UnsafeRawBufferPointer(rebasing: rest[..<n])
                do { try budget.expand(n) } catch {
                    throw ArchiveError(error.kind, (member.map { "member \(ErrorText.quoted($0.name)): " } ?? "") + error.message)
                }
                if extended != nil {
                    guard extended!.count + n <= 1 << 20 else { throw ArchiveError(.limit, "a tar extended header over 1 MiB") }
                    extended!.append(contentsOf: piece)
                } else if member != nil {
                    try sink.write(piece)
                }
                produced += Int64(n)
                remaining -= Int64(n)
                rest = UnsafeRawBufferPointer(rebasing: rest[n...])
                if remaining == 0 { try endData() }
                continue
            }
            if padding > 0 {
                let n = min(padding, rest.count)
                padding -= n
                rest = UnsafeRawBufferPointer(rebasing: rest[n...])
                continue
            }
            let n = min(512 - header.count, rest.count)
            header.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest[..<n]))
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            if header.count == 512 {
                try beginHeader()
                header.removeAll(keepingCapacity: true)
            }
        }
    }

    func finish() throws {
        guard ended || (remaining == 0 && padding == 0 && header.isEmpty && member == nil && budget.members > 0) else {
            throw ArchiveError(.malformed, "the tar archive ended in the middle of " + (member.map { "member \(ErrorText.quoted($0.name))" } ?? "a header"))
        }
    }

    private func beginHeader() throws {
        if header.allSatisfy({ $0 == 0 }) { ended = true; return }  // the end-of-archive blocks
        // The header's checksum: its bytes summed with the checksum field as spaces.
        let stored = Self.octal(header[148..<156])
        var sum: Int64 = 0
        for (i, b) in header.enumerated() { sum += (148..<156).contains(i) ? 32 : Int64(b) }
        guard stored == sum else { throw ArchiveError(.malformed, "a damaged tar header (checksum)") }
        try budget.member()
        let type = header[156]
        let size = Self.size(header[124..<136])
        guard size >= 0 else { throw ArchiveError(.malformed, "a tar header with a bad size") }
        var name = Self.text(header[0..<100])
        if header[257..<262].elementsEqual("ustar".utf8) {
            let prefix = Self.text(header[345..<500])
            if !prefix.isEmpty { name = prefix + "/" + name }
        }
        if let long = nextName { name = long }
        let realSize = nextSize ?? size
        nextName = nil
        nextSize = nil
        remaining = type == UInt8(ascii: "5") ? 0 : size
        produced = 0
        switch type {
        case UInt8(ascii: "x"), UInt8(ascii: "L"):
            extended = []
            extendedKind = type
            remaining = size
        case UInt8(ascii: "g"):
            extended = nil  // global pax header: nothing of it matters here; its bytes are skipped
        case UInt8(ascii: "0"), 0, UInt8(ascii: "7"):
            remaining = realSize
            switch ArchiveName.check(name) {
            case .failure(let why): sink.refused(name, reason: why.message)
            case .success(let safe):
                let candidate = ArchiveMember(name: safe, declaredSize: realSize)
                if try sink.begin(candidate) { member = candidate }
            }
        case UInt8(ascii: "5"):
            break
        case UInt8(ascii: "1"): sink.refused(name, reason: "a hard link (no link is made)")
        case UInt8(ascii: "2"): sink.refused(name, reason: "a symbolic link (no link is made)")
        default: sink.refused(name, reason: "a tar member of type \(ErrorText.quoted(String(UnicodeScalar(type))))")
        }
        padding = Int((512 - remaining % 512) % 512)
        if remaining == 0 { try endData() }
    }

    private func endData() throws {
        if let bytes = extended {
            extended = nil
            if extendedKind == UInt8(ascii: "L") {
                nextName = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            } else {
                for (key, value) in Self.pax(bytes) {
                    if key == "path" { nextName = value }
                    if key == "size", let n = Int64(value), n >= 0 { nextSize = n }
                }
            }
            return
        }
        if let m = member {
            member = nil
            try sink.end(m, size: produced)
        }
    }

    /// `length key=value\n` records.
    static func pax(_ bytes: [UInt8]) -> [(String, String)] {
        var out: [(String, String)] = []
        var i = 0
        while i < bytes.count {
            guard let space = bytes[i...].firstIndex(of: 32), let length = Int(String(decoding: bytes[i..<space], as: UTF8.self)),
                  length > 0, i + length <= bytes.count else { break }
            let record = bytes[(space + 1)..<(i + length - 1)]
            if let eq = record.firstIndex(of: UInt8(ascii: "=")) {
                out.append((String(decoding: record[..<eq], as: UTF8.self), String(decoding: record[(eq + 1)...], as: UTF8.self)))
            }
            i += length
        }
        return out
    }

    static func text(_ field: ArraySlice<UInt8>) -> String {
        String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
    }

    static func octal(_ field: ArraySlice<UInt8>) -> Int64 {
        var value: Int64 = 0
        for b in field {
            if b == 0 || b == 32 { if value > 0 { break } else { continue } }
            guard b >= 48, b <= 55 else { return -1 }
            value = value * 8 + Int64(b - 48)
            if value > Int64.max / 16 { return -1 }
        }
        return value
    }

    /// Octal, or GNU base-256 (first byte 0x80) for sizes over 8 GiB.
    static func size(_ field: ArraySlice<UInt8>) -> Int64 {
        guard field.first == 0x80 else { return octal(field) }
        var value: Int64 = 0
        for b in field.dropFirst() {
            if value > Int64.max >> 8 { return -1 }
            value = value << 8 | Int64(b)
        }
        return value
    }
}
