import FlowModel
#if canImport(Glibc)
import Glibc
#endif

/// Reads a zip archive front to back as it streams in, without its central directory: local
/// headers, stored and deflated members, data descriptors (bit 3) and Zip64 sizes. A stored
/// member of unknown size (bit 3, sizes 0) ends where a data descriptor whose CRC and size match
/// the bytes so far begins. The central directory at the end is skipped: nothing in it is needed.
/// A plain value driven by `feed`: no I/O, tested byte by byte.
final class ZipReader: ArchiveReader {
    private enum State { case signature, header, data, descriptor, trailer }

    private struct Entry {
        var member: ArchiveMember?  // nil: skipped (refused or not wanted)
        var rawName: String
        var deflated: Bool
        var descriptor: Bool
        var zip64: Bool
        var crc: UInt32
        var compressedSize: Int64
        var size: Int64
        var compressedRead: Int64 = 0
        var produced: Int64 = 0
        var check = ZipCRC()
        /// The sink checks this member's bytes itself: no CRC-32 is computed.
        var unchecked = false
    }

    private let sink: any ArchiveSink
    private var budget: ArchiveBudget
    private var state = State.signature
    private var pending: [UInt8] = []
    private var entry: Entry?
    private var inflater: Inflater?
    /// Stored members of unknown size: bytes held back while a descriptor may be starting.
    private var held: [UInt8] = []

    static let localSignature: UInt32 = 0x0403_4B50
    static let descriptorSignature: UInt32 = 0x0807_4B50

    init(limits: ArchiveLimits, sink: any ArchiveSink) {
        self.sink = sink
        budget = ArchiveBudget(limits)
    }

    var memberCount: Int { budget.members }

    func feed(_ bytes: UnsafeRawBufferPointer) throws {
        budget.compressed += Int64(bytes.count)
        try process(bytes)
    }

    func finish() throws {
        switch state {
        case .trailer: return
        case .signature where budget.members == 0 && pending.isEmpty:
            throw ArchiveError(.malformed, "the archive is empty")
        default:
            throw ArchiveError(.malformed, "the archive ended in the middle of "
                + (entry?.member.map { "member \(ErrorText.quoted($0.name))" } ?? "a header"))
        }
    }

    // MARK: the state machine

    private func process(_ input: UnsafeRawBufferPointer) throws {
        var rest = input
        while !rest.isEmpty {
            switch state {
            case .trailer:
                return  // the central directory: not needed, not kept
            case .signature:
                guard gather(4, from: &rest) else { return }
                let signature = le32(pending, 0)
                if signature == Self.localSignature {
                    state = .header
                } else if signature == 0x0201_4B50 || signature == 0x0605_4B50 || signature == 0x0606_4B50 {
                    state = .trailer
                    pending.removeAll()
                } else {
                    throw ArchiveError(.malformed, budget.members == 0 ? "the body is not a zip archive"
                                       : "a damaged zip archive (no member header after member \(budget.members))")
                }
            case .header:
                guard gather(30, from: &rest) else { return }
                let total = 30 + Int(le16(pending, 26)) + Int(le16(pending, 28))
                guard gather(total, from: &rest) else { return }
                try beginEntry()
                pending.removeAll(keepingCapacity: true)
            case .data:
                rest = try data(rest)
            case .descriptor:
                guard let e = entry else { state = .signature; continue }
                guard gather(4, from: &rest) else { return }
                let signed = le32(pending, 0) == Self.descriptorSignature
                let length = (signed ? 4 : 0) + 4 + (e.zip64 ? 16 : 8)
                guard gather(length, from: &rest) else { return }
                let at = signed ? 4 : 0
                let crc = le32(pending, at)
                let compressed = e.zip64 ? Int64(bitPattern: le64(pending, at + 4)) : Int64(le32(pending, at + 4))
                let size = e.zip64 ? Int64(bitPattern: le64(pending, at + 12)) : Int64(le32(pending, at + 8))
                pending.removeAll(keepingCapacity: true)
                guard size == e.produced, compressed == e.compressedRead else {
                    throw ArchiveError(.malformed, "member \(name(e)) is \(e.produced) bytes, its data descriptor says \(size)")
                }
                try endEntry(crc: crc)
            }
        }
    }

    /// Moves bytes from `rest` into `pending` until it holds `count`; false when `rest` ran out first.
    private func gather(_ count: Int, from rest: inout UnsafeRawBufferPointer) -> Bool {
        let missing = count - pending.count
        if missing <= 0 { return true }
        let n = min(missing, rest.count)
        pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest[..<n]))
        rest = UnsafeRawBufferPointer(rebasing: rest[n...])
        return pending.count >= count
    }

    private func beginEntry() throws {
        try budget.member()
        let flags = le16(pending, 6)
        let method = le16(pending, 8)
        let nameLength = Int(le16(pending, 26)), extraLength = Int(le16(pending, 28))
        let rawName = String(decoding: pending[30..<(30 + nameLength)], as: UTF8.self)
        if flags & 1 != 0 { throw ArchiveError(.malformed, "member \(ErrorText.quoted(rawName)) is encrypted") }
        guard method == 0 || method == 8 else {
            throw ArchiveError(.malformed, "member \(ErrorText.quoted(rawName)) uses compression method \(method) (stored and deflate are read)")
        }
        var compressed = Int64(le32(pending, 18)), size = Int64(le32(pending, 22))
        var zip64 = false
        // The Zip64 extra field (0x0001) holds the sizes that did not fit in 32 bits.
        var at = 30 + nameLength
        let end = at + extraLength
        while at + 4 <= end {
            let id = le16(pending, at), length = Int(le16(pending, at + 2))
            if id == 0x0001 {
                zip64 = true
                var field = at + 4
                if size == 0xFFFF_FFFF, field + 8 <= at + 4 + length { size = Int64(bitPattern: le64(pending, field)); field += 8 }
                if compressed == 0xFFFF_FFFF, field + 8 <= at + 4 + length { compressed = Int64(bitPattern: le64(pending, field)) }
            }
            at += 4 + length
        }
        let descriptor = flags & 8 != 0
        var e = Entry(member: nil, rawName: rawName, deflated: method == 8, descriptor: descriptor, zip64: zip64, crc: le32(pending, 14),
                      compressedSize: compressed, size: size)
        let isFolder = rawName.hasSuffix("/")
        switch ArchiveName.check(rawName) {
        case .failure(let why): sink.refused(rawName, reason: why.message)
        case .success(let name):
            let known = !descriptor || size > 0
            let member = ArchiveMember(name: name, declaredSize: known ? size : nil)
            if !isFolder, try sink.begin(member) {
                e.member = member
                e.unchecked = sink.checksBytes(of: member)
            }
        }
        entry = e
        if e.deflated {
            if inflater == nil { inflater = try Inflater(raw: true) } else { inflater!.reset() }
        }
        state = .data
        // A stored member with its size known and nothing in it ends at once.
        if !e.deflated, !(descriptor && compressed == 0), compressed == 0 { try finishData() }
    }

    /// Member bytes; returns what follows them in `input`.
    private func data(_ input: UnsafeRawBufferPointer) throws -> UnsafeRawBufferPointer {
        guard var e = entry else { return input }
        if e.deflated {
            let used = try inflater!.inflate(input) { piece in try self.emit(piece, &e) }
            e.compressedRead += Int64(used)
            entry = e
            if inflater!.ended { try finishData() }
            return UnsafeRawBufferPointer(rebasing: input[used...])
        }
        if e.descriptor && e.compressedSize == 0 {
            return try scanStored(input)
        }
        let n = Int(min(Int64(input.count), e.compressedSize - e.compressedRead))
        try emit(UnsafeRawBufferPointer(rebasing: input[..<n]), &e)
        e.compressedRead += Int64(n)
        entry = e
        if e.compressedRead == e.compressedSize { try finishData() }
        return UnsafeRawBufferPointer(rebasing: input[n...])
    }

    /// A stored member of unknown size: its bytes up to a data descriptor that matches them.
    /// Returns what follows the descriptor in `input`. Only the few bytes held back from the last
    /// piece are copied: a large piece holding many members is scanned in place.
    private func scanStored(_ input: UnsafeRawBufferPointer) throws -> UnsafeRawBufferPointer {
        if held.isEmpty { return try scanStored(input, in: input, heldCount: 0) }
        var work = held
        work.append(contentsOf: input)
        held.removeAll(keepingCapacity: true)
        let heldCount = work.count - input.count
        return try work.withUnsafeBytes { try scanStored(input, in: $0, heldCount: heldCount) }
    }

    /// `work` is the held-back bytes (`heldCount` of them) followed by `input`.
    private func scanStored(_ input: UnsafeRawBufferPointer, in work: UnsafeRawBufferPointer, heldCount: Int) throws -> UnsafeRawBufferPointer {
        guard var e = entry, let base = work.baseAddress else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        let length = e.zip64 ? 24 : 16
        var i = 0
        var cut = max(0, work.count - 3)  // a signature may be starting in the last 3 bytes
        while i + 4 <= work.count {
            // The next `P` (memchr: this loop sees every byte of every such member).
            guard let hit = memchr(base + i, 0x50, work.count - i) else { break }
            i = base.distance(to: UnsafeRawPointer(hit))
            if i + 4 > work.count { break }
            guard work[i + 1] == 0x4B, work[i + 2] == 0x07, work[i + 3] == 0x08 else { i += 1; continue }
            if i + length > work.count { cut = i; break }  // may be the descriptor: wait for the rest of it
            let compressed = e.zip64 ? Int64(bitPattern: le64(work, i + 8)) : Int64(le32(work, i + 8))
            let size = e.zip64 ? Int64(bitPattern: le64(work, i + 16)) : Int64(le32(work, i + 12))
            var ends = size == e.produced + Int64(i) && compressed == size
            // A member the sink checks itself ends where both sizes match (its digest then
            // checks the bytes); any other also needs the CRC of the bytes so far.
            if ends && !e.unchecked {
                var check = e.check
                check.update(UnsafeRawBufferPointer(rebasing: work[0..<i]))
                ends = UInt32(truncatingIfNeeded: check.value) == le32(work, i + 4)
            }
            if ends {
                try emit(UnsafeRawBufferPointer(rebasing: work[0..<i]), &e)
                e.compressedRead = e.produced
                entry = e
                try endEntry(crc: le32(work, i + 4))
                // The descriptor ends inside `input` (the held bytes are fewer than a descriptor).
                return UnsafeRawBufferPointer(rebasing: input[(i + length - heldCount)...])
            }
            i += 1
        }
        // Everything before a possible descriptor start is the member's.
        if cut > 0 { try emit(UnsafeRawBufferPointer(rebasing: work[0..<cut]), &e) }
        held = Array(UnsafeRawBufferPointer(rebasing: work[cut...]))
        entry = e
        return UnsafeRawBufferPointer(start: nil, count: 0)
    }

    private func emit(_ piece: UnsafeRawBufferPointer, _ e: inout Entry) throws {
        guard !piece.isEmpty else { return }
        do { try budget.expand(piece.count) } catch {
            throw ArchiveError(error.kind, "member \(ErrorText.quoted(e.rawName)): \(error.message)")
        }
        e.produced += Int64(piece.count)
        if !e.descriptor || e.size > 0, e.produced > e.size {
            throw ArchiveError(.malformed, "member \(name(e)) expands past the \(e.size) bytes its header says")
        }
        if !e.unchecked { e.check.update(piece) }  // skipped members too: a stored one of unknown size ends by its CRC
        guard e.member != nil else { return }
        try sink.write(piece)
    }

    /// The member's data ended: its descriptor follows, or it is done.
    private func finishData() throws {
        guard let e = entry else { return }
        if e.descriptor { state = .descriptor; return }
        guard e.produced == e.size else {
            throw ArchiveError(.malformed, "member \(name(e)) is \(e.produced) bytes, its header says \(e.size)")
        }
        try endEntry(crc: e.crc)
    }

    private func endEntry(crc: UInt32) throws {
        guard let e = entry else { return }
        entry = nil
        state = .signature
        guard let member = e.member else { return }
        guard e.unchecked || UInt32(truncatingIfNeeded: e.check.value) == crc else {
            throw ArchiveError(.malformed, "member \(ErrorText.quoted(member.name)) fails its CRC-32 check")
        }
        try sink.end(member, size: e.produced)
    }

    private func name(_ e: Entry) -> String { e.member.map { ErrorText.quoted($0.name) } ?? "(skipped)" }
}

@inline(__always) func le16(_ b: [UInt8], _ i: Int) -> UInt16 { UInt16(b[i]) | UInt16(b[i + 1]) << 8 }
@inline(__always) func le32(_ b: [UInt8], _ i: Int) -> UInt32 {
    UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
}
@inline(__always) func le64(_ b: [UInt8], _ i: Int) -> UInt64 { UInt64(le32(b, i)) | UInt64(le32(b, i + 4)) << 32 }
@inline(__always) func le32(_ b: UnsafeRawBufferPointer, _ i: Int) -> UInt32 {
    UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
}
@inline(__always) func le64(_ b: UnsafeRawBufferPointer, _ i: Int) -> UInt64 { UInt64(le32(b, i)) | UInt64(le32(b, i + 4)) << 32 }
