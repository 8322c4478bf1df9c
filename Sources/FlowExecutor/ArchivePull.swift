import FlowArchive
import FlowConnector
import FlowFiles
import FlowModel
import FlowPlanner
import Foundation

extension Executor {
    /// One archive (a scan's, resource's or session's files) streamed and extracted as it arrives:
    /// each member that is a pending listed file goes to that file's place through `<dest>.part`,
    /// checked against the listing's size and digests, then renamed. Its download task then
    /// journals it without a request; a file the archive did not bring is fetched on its own.
    func downloadArchive(_ task: PlannedTask, connector: any Connector, retries: Int,
                         record: inout TaskRecord) async throws -> Outcome {
        guard let spec = plan.job.action(named: task.action)?.archive, let format = ArchiveFormat(rawValue: spec.format) else {
            throw ExecutionError("archive task of an action without `archive:`")
        }
        let members = (archiveMembers[task.id] ?? []).map { plan.graph.tasks[$0] }
        var targets: [String: ArchiveTarget] = [:]
        for member in members where !member.isSkipped {
            guard let item = member.item, let destination = member.destination, let key = connector.archiveKey(of: item) else { continue }
            try folders.ensureParent(of: destination)
            targets[key] = ArchiveTarget(item: item, destination: destination)
        }
        let defaults = ArchiveLimits()
        let limits = ArchiveLimits(maxMembers: spec.maxMembers ?? defaults.maxMembers, maxExpandedBytes: spec.maxBytes ?? defaults.maxExpandedBytes,
                                   maxRatio: Int64(spec.maxRatio ?? Int(defaults.maxRatio)))
        let extractor = ArchiveExtractor(targets: targets, keys: { connector.archiveKeys(ofMember: $0) })
        let feed = ArchiveFeed(format.reader(limits: limits, sink: extractor))
        let sink = events, taskID = task.id
        let bytes: Int64
        do {
            do {
                bytes = try await connector.streamArchive(of: members.compactMap(\.item), format: spec.format,
                                                          maxBytes: limits.maxExpandedBytes) { chunk in
                    sink.emit(.progress(taskID: taskID, bytes: try feed.take(chunk)))
                }
            } catch {
                _ = try? await offThePool { try feed.finish(completed: false) }
                throw error
            }
            // The last queued pieces are read on the feed's thread: waited for off the pool.
            try await offThePool { try feed.finish(completed: true) }
        } catch let error as ArchiveError {
            extractor.abandon()
            throw ConnectorError.badReply("the \(spec.format) archive of \(task.parameters["unit"] ?? task.id): \(error.message)")
        } catch {
            extractor.abandon()
            throw error
        }
        for warning in extractor.warnings() { events.emit(.warning(task, warning)) }
        record.bytesTransferred = bytes
        record.size = bytes
        record.finishedAt = Date().timeIntervalSince1970
        return .done(record, outputs: extractor.arrived, transferred: bytes, resumed: false, retries: retries, wroteFile: true)
    }

    /// What an archive brought for `item` (already at `destination`, size and digests checked).
    static func extracted(_ item: RemoteItem, at destination: String, from inputs: [RemoteItem]) -> FetchResult? {
        guard !inputs.isEmpty, let got = inputs.first(where: { $0.id == item.id }), got.checksum(.sha256) != nil,
              let size = FileStat.size(destination), size == got.size else { return nil }
        return FetchResult(bytesTransferred: 0, fileSize: size, checksums: got.checksums)
    }
}

/// The reader of one archive on a thread of its own: the curl thread that receives the archive
/// only appends each piece to a buffer (at most `queueLimit` bytes; past it, the curl thread
/// waits), so creating, writing and hashing the members never holds up the other transfers of
/// that thread, and the archives of a run are extracted side by side. The reader's thread is
/// woken once `batch` bytes have gathered and takes them all at once: a few wake-ups per MiB
/// instead of one per TLS record, and members written whole with one `write` each.
final class ArchiveFeed: @unchecked Sendable {
    static let queueLimit = 1 << 20
    static let batch = 256 << 10
    private let reader: any ArchiveReader
    private let condition = NSCondition()
    private var queue: [UInt8] = []
    private var ended = false
    private var drained = false
    private var failure: (any Error)?
    private var received: Int64 = 0

    init(_ reader: any ArchiveReader) {
        self.reader = reader
        queue.reserveCapacity(Self.queueLimit + Self.batch)  // pieces are at most 128 KiB (CURLOPT_BUFFERSIZE): no regrowth
        let thread = Thread { [self] in drain() }
        thread.name = "flowctl-archive"
        thread.start()
    }

    /// Queues a piece (on the curl thread); returns the bytes received so far. Throws the reader's
    /// error once it has one: the transfer then stops.
    func take(_ chunk: UnsafeRawBufferPointer) throws -> Int64 {
        condition.lock()
        defer { condition.unlock() }
        while failure == nil && queue.count >= Self.queueLimit { condition.wait() }
        if let failure { throw failure }
        let before = queue.count
        queue.append(contentsOf: chunk)
        received += Int64(chunk.count)
        if before < Self.batch && queue.count >= Self.batch { condition.broadcast() }
        return received
    }

    /// The archive ended (or failed, `completed` false): waits until every queued piece is read,
    /// then (when completed) has the reader check that the archive ended whole.
    func finish(completed: Bool) throws {
        condition.lock()
        ended = true
        if !completed && failure == nil { failure = CancellationError() }
        condition.broadcast()
        while !drained { condition.wait() }
        let failure = self.failure
        condition.unlock()
        if let failure, completed { throw failure }
        if completed { try reader.finish() }
    }

    private func drain() {
        var taken: [UInt8] = []
        taken.reserveCapacity(Self.queueLimit + Self.batch)
        while true {
            condition.lock()
            while queue.count < Self.batch && !ended && failure == nil { condition.wait() }
            if queue.isEmpty || failure != nil {
                drained = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let wasFull = queue.count >= Self.queueLimit
            swap(&queue, &taken)
            if wasFull { condition.broadcast() }  // the curl thread may be waiting for room
            condition.unlock()
            var error: (any Error)?
            do { try taken.withUnsafeBytes { try reader.feed($0) } } catch let thrown { error = thrown }
            taken.removeAll(keepingCapacity: true)
            if let error {
                condition.lock()
                if failure == nil { failure = error }
                condition.broadcast()
                condition.unlock()
            }
        }
    }
}

/// Where a listed file's member goes.
struct ArchiveTarget {
    var item: RemoteItem
    var destination: String
}

/// Writes the members that are listed files to their places (on the thread that receives the
/// archive: one open, writes, one rename per member). Nothing else is written: a member whose
/// name is no listed file's is read past, so a member can only land where the layout puts a
/// listed file, and a rename replaces whatever is there (a symlink too) instead of writing through it.
final class ArchiveExtractor: ArchiveSink, @unchecked Sendable {
    private let targets: [String: ArchiveTarget]
    private let keys: (String) -> [String]
    private let lock = NSLock()
    /// The member being written: a class, so its digests are updated in place (a copy of a
    /// `Hashers` value would make libcrypto copy each context on every write).
    private final class OpenMember {
        let target: ArchiveTarget
        let part: String
        let fd: Int32
        let unnamed: UnnamedFile?
        var hashers: Hashers
        /// The listing gives a digest that `end` checks (XNAT's MD5): the zip's CRC-32 adds nothing.
        let checked: Bool
        var written: Int64 = 0
        var bad: String?
        init(target: ArchiveTarget, part: String, fd: Int32, unnamed: UnnamedFile?, listed: Set<DigestAlgorithm>) {
            self.target = target
            self.part = part
            self.fd = fd
            self.unnamed = unnamed
            hashers = Hashers(listed.union([.sha256]))
            checked = !listed.isEmpty
        }
    }
    private var current: OpenMember?
    /// Members go to disk around the page cache (see `DirectWriter`): one at a time, so one buffer.
    private let writer = DirectWriter()
    private var done = Set<String>()
    private var items: [RemoteItem] = []
    private var refusals: [String] = []
    private var problems: [String] = []
    private var unlisted = 0
    static let namedAtMost = 20

    init(targets: [String: ArchiveTarget], keys: @escaping (String) -> [String]) {
        self.targets = targets
        self.keys = keys
    }

    /// The listed files that arrived whole, each with its digests (sha256 and the listed ones).
    var arrived: [RemoteItem] { lock.withLock { items } }

    func begin(_ member: ArchiveMember) throws -> Bool {
        guard let key = keys(member.name).first(where: { targets[$0] != nil }), let target = targets[key] else {
            unlisted += 1
            return false
        }
        guard !done.contains(target.item.id) else {
            note("member \(ErrorText.quoted(member.name)) comes twice; the first one is kept")
            return false
        }
        if let declared = member.declaredSize, let listed = target.item.size, declared != listed {
            note("member \(ErrorText.quoted(member.name)) is \(declared) bytes, the listing says \(listed): fetched on its own")
            return false
        }
        let part = target.destination + ".part"
        let wanted = Set(target.item.checksums.compactMap { DigestAlgorithm(rawValue: $0.algorithm.rawValue) })
        // A small file goes to an unnamed file linked into place once checked (as listed files
        // do: one directory operation instead of a create and a rename).
        if let size = target.item.size, size <= UnnamedFile.sizeLimit,
           let slash = target.destination.lastIndex(of: "/"),
           let (file, fd) = try? UnnamedFile.create(in: String(target.destination[..<slash])) {
            current = OpenMember(target: target, part: part, fd: fd, unnamed: file, listed: wanted)
            writer.start(fd)
            return true
        }
        unlink(part)
        // O_NOFOLLOW|O_EXCL: never through a link someone put at the `.part` name.
        let fd = open(part, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ArchiveError(.sink, "cannot create \(part): \(String(cString: strerror(errno)))") }
        current = OpenMember(target: target, part: part, fd: fd, unnamed: nil, listed: wanted)
        writer.start(fd)
        return true
    }

    func checksBytes(of member: ArchiveMember) -> Bool { current?.checked ?? false }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard let c = current, c.bad == nil else { return }
        if let listed = c.target.item.size, c.written + Int64(bytes.count) > listed {
            c.bad = "more bytes than the \(listed) listed"
            return
        }
        do throws(FileSystemError) { try writer.write(bytes) } catch {
            throw ArchiveError(.sink, "cannot write \(c.part): \(error.message)")
        }
        c.hashers.update(bytes)
        c.written += Int64(bytes.count)
    }

    func end(_ member: ArchiveMember, size: Int64) throws {
        guard let c = current else { return }
        // Written out while `current` still holds it: on a failure, `abandon` drops the `.part`.
        if c.bad == nil {
            do throws(FileSystemError) { try writer.finish() } catch { throw ArchiveError(.sink, "cannot write \(c.part): \(error.message)") }
        } else {
            writer.discard()
        }
        current = nil
        if c.unnamed == nil { close(c.fd) }  // an unnamed file closes its own when linked or dropped
        let digests = c.hashers.finalize()
        var why = c.bad
        if why == nil, let listed = c.target.item.size, listed != c.written { why = "\(c.written) bytes, the listing says \(listed)" }
        if why == nil {
            for checksum in c.target.item.checksums {
                if let algorithm = DigestAlgorithm(rawValue: checksum.algorithm.rawValue), let got = digests[algorithm], got != checksum.value {
                    why = "\(checksum.algorithm.rawValue) is \(got), the listing says \(checksum.value)"
                }
            }
        }
        if let why {
            if c.unnamed == nil { unlink(c.part) }
            note("member \(ErrorText.quoted(member.name)): \(why): fetched on its own")
            return
        }
        if let file = c.unnamed {
            // linkat, or a link beside it renamed over what is there (a symlink is replaced, never followed).
            do { try file.link(as: c.target.destination) } catch {
                throw ArchiveError(.sink, "cannot link \(c.target.destination): \(error)")
            }
        } else if rename(c.part, c.target.destination) != 0 {
            throw ArchiveError(.sink, "cannot rename \(c.part): \(String(cString: strerror(errno)))")
        }
        var item = c.target.item
        item.checksums = digests.map { Checksum(ChecksumAlgorithm(rawValue: $0.key.rawValue)!, $0.value) }.sorted { $0.algorithm < $1.algorithm }
        done.insert(item.id)
        lock.withLock { items.append(item) }
    }

    func refused(_ rawName: String, reason: String) {
        lock.withLock { refusals.append("member \(ErrorText.quoted(rawName)) refused: \(reason)") }
    }

    private func note(_ message: String) { lock.withLock { problems.append(message) } }

    /// The member being written when the archive failed: its `.part` goes.
    func abandon() {
        guard let c = current else { return }
        current = nil
        writer.discard()
        if c.unnamed == nil {
            close(c.fd)
            unlink(c.part)
        }
    }

    /// What the user should hear of: refused members, members fetched again on their own, and how
    /// many members were no listed file (bounded: the first `namedAtMost` of each by name).
    func warnings() -> [String] {
        lock.withLock {
            var out = Array(refusals.prefix(Self.namedAtMost))
            if refusals.count > Self.namedAtMost { out.append("... and \(refusals.count - Self.namedAtMost) more refused member(s)") }
            out += problems.prefix(Self.namedAtMost)
            if problems.count > Self.namedAtMost { out.append("... and \(problems.count - Self.namedAtMost) more member(s) fetched on their own") }
            if unlisted > 0 { out.append("\(unlisted) member(s) of the archive are no file the selection lists: not written") }
            return out
        }
    }
}
