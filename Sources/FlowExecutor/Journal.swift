import Foundation
import GRDB
import GRDBSQLite
import CSQLiteOptions
import FlowModel

/// What the journal remembers of one task.
public struct TaskRecord: Sendable, Hashable, Codable {
    public enum State: String, Sendable, Codable, CaseIterable {
        case running, done, failed
    }

    public var id: String
    public var action: String
    public var kind: String
    public var state: State
    public var attempts: Int
    /// Bytes moved by the last successful attempt (0 when nothing had to move).
    public var bytesTransferred: Int64
    /// Size of the resulting file.
    public var size: Int64?
    public var sha256: String?
    /// A server digest that was verified (`md5:…`, `sha1:…`).
    public var serverChecksum: String?
    /// Name of the source the task's item came from.
    public var source: String?
    public var remoteID: String?
    public var remoteVersion: String?
    /// Absolute destination of a download.
    public var destination: String?
    /// Upload ids, job ids, job outputs: JSON the next run needs to avoid redoing work.
    public var remoteState: String?
    public var error: String?
    public var startedAt: Double?
    public var finishedAt: Double?
    /// The file is known to be on stable storage (a filesystem sync finished after it was
    /// renamed). Until then it lives in the page cache, which a crash or power cut can lose.
    public var durable: Bool
    /// The boot (Linux `boot_id`) during which the file was written: within the same boot the
    /// page cache is authoritative, after a reboot a file that was not `durable` is re-hashed.
    public var bootID: String?

    public init(id: String, action: String, kind: String, state: State, attempts: Int = 0, bytesTransferred: Int64 = 0,
                size: Int64? = nil, sha256: String? = nil, serverChecksum: String? = nil, source: String? = nil, remoteID: String? = nil,
                remoteVersion: String? = nil, destination: String? = nil, remoteState: String? = nil,
                error: String? = nil, startedAt: Double? = nil, finishedAt: Double? = nil,
                durable: Bool = true, bootID: String? = nil) {
        self.id = id
        self.action = action
        self.kind = kind
        self.state = state
        self.attempts = attempts
        self.bytesTransferred = bytesTransferred
        self.size = size
        self.sha256 = sha256
        self.serverChecksum = serverChecksum
        self.source = source
        self.remoteID = remoteID
        self.remoteVersion = remoteVersion
        self.destination = destination
        self.remoteState = remoteState
        self.error = error
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.durable = durable
        self.bootID = bootID
    }

    /// Reads a row by column position: every run and every manifest reads the whole table, and
    /// the Codable path costs several times more per row.
    public init(row: Row) throws {
        id = row[Column.id]
        action = row[Column.action]
        kind = row[Column.kind]
        state = State(rawValue: row[Column.state]) ?? .failed
        attempts = row[Column.attempts]
        bytesTransferred = row[Column.bytesTransferred]
        size = row[Column.size]
        sha256 = row[Column.sha256]
        serverChecksum = row[Column.serverChecksum]
        source = row[Column.source]
        remoteID = row[Column.remoteID]
        remoteVersion = row[Column.remoteVersion]
        destination = row[Column.destination]
        remoteState = row[Column.remoteState]
        error = row[Column.error]
        startedAt = row[Column.startedAt]
        finishedAt = row[Column.finishedAt]
        durable = row[Column.durable]
        bootID = row[Column.bootID]
    }

    /// The columns, in the order `Journal.records()` selects them.
    enum Column: Int {
        case id, action, kind, state, attempts, bytesTransferred, size, sha256, serverChecksum, source, remoteID,
             remoteVersion, destination, remoteState, error, startedAt, finishedAt, durable, bootID
    }
}

private extension Row {
    subscript<Value: DatabaseValueConvertible>(_ column: TaskRecord.Column) -> Value { self[column.rawValue] }
}

/// The SQLite journal of a job's runs, under `<output root>/.flowctl/journal.sqlite`: every task's
/// state, attempts, bytes, checksums and remote identity, so that a killed run continues where it
/// stopped and a re-run touches nothing already done. WAL mode keeps it consistent across kills.
public final class Journal: Sendable {
    public let path: String
    private let db: DatabaseQueue

    /// The journal's file for an output root.
    public static func path(forRoot root: String) -> String {
        (root.hasSuffix("/") ? root : root + "/") + ".flowctl/journal.sqlite"
    }

    /// Opens (creating when `create`) the journal at `path`.
    public init(path: String, create: Bool = true) throws {
        self.path = path
        if create {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
        }
        var config = Configuration()
        config.readonly = !create
        config.prepareDatabase { db in
            // A 512 KiB page cache, not 2 MB: rows are appended and read in one scan, so a
            // small cache costs no disk reads (the OS caches the file), and the run's peak
            // memory stays lower.
            try db.execute(sql: "PRAGMA cache_size = -512")
            if !db.configuration.readonly {
                try db.execute(sql: "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL")
                // No checkpoint when the run closes the journal: its fsync made ext4 (ordered
                // data) write out every file the run left in the page cache first, 0.5 s after a
                // 1 GiB download. The log stays beside the database, as after a kill, and the
                // next open reads it; checkpoints during a run happen on the commit queue.
                if let connection = db.sqliteConnection {
                    _ = flow_sqlite_no_checkpoint_on_close(UnsafeMutableRawPointer(connection))
                }
            }
        }
        db = try DatabaseQueue(path: path, configuration: config)
        if create { try migrate() }
    }

    private func migrate() throws {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "tasks") { t in
                t.primaryKey("id", .text)
                t.column("action", .text).notNull()
                t.column("kind", .text).notNull()
                t.column("state", .text).notNull()
                t.column("attempts", .integer).notNull()
                t.column("bytesTransferred", .integer).notNull()
                t.column("size", .integer)
                t.column("sha256", .text)
                t.column("serverChecksum", .text)
                t.column("source", .text)
                t.column("remoteID", .text)
                t.column("remoteVersion", .text)
                t.column("destination", .text)
                t.column("remoteState", .text)
                t.column("error", .text)
                t.column("startedAt", .double)
                t.column("finishedAt", .double)
            }
            try db.create(table: "transfers") { t in
                // One row per completed byte transfer: proves no file moved in full twice.
                t.autoIncrementedPrimaryKey("seq")
                t.column("taskID", .text).notNull().indexed()
                t.column("bytes", .integer).notNull()
                t.column("resumed", .boolean).notNull()
                t.column("at", .double).notNull()
            }
            try db.create(table: "runs") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("job", .text).notNull()
                t.column("startedAt", .double).notNull()
                t.column("finishedAt", .double)
                t.column("outcome", .text)
            }
        }
        migrator.registerMigration("v2: durability") { db in
            // Rows of earlier versions were synced before they were written: durable.
            try db.alter(table: "tasks") { t in
                t.add(column: "durable", .boolean).notNull().defaults(to: true)
                t.add(column: "bootID", .text)
            }
        }
        migrator.registerMigration("v3: upload resume") { db in
            // What an interrupted upload needs to go on (see `UploadResumeStore`), by upload key.
            try db.create(table: "uploadResume") { t in
                t.primaryKey("key", .text)
                t.column("value", .text).notNull()
                t.column("at", .double).notNull()
            }
        }
        try migrator.migrate(db)
    }

    /// What an interrupted upload saved under `key` (nil before the table exists).
    public func uploadResumeValue(_ key: String) throws -> String? {
        try db.read { db in
            guard try db.tableExists("uploadResume") else { return nil }
            return try String.fetchOne(db, sql: "SELECT value FROM uploadResume WHERE key = ?", arguments: [key])
        }
    }

    /// Saves (or with nil, forgets) what an upload needs to go on after a kill.
    public func setUploadResumeValue(_ key: String, _ value: String?) throws {
        try db.write { db in
            if let value {
                try db.execute(sql: "INSERT OR REPLACE INTO uploadResume (key, value, at) VALUES (?, ?, ?)",
                               arguments: [key, value, Date().timeIntervalSince1970])
            } else {
                try db.execute(sql: "DELETE FROM uploadResume WHERE key = ?", arguments: [key])
            }
        }
    }

    /// The records of the journal at `path`, for commands that only look (`status`, `plan`):
    /// nil when there is no journal, none when a run died before it made its tables. Read-only
    /// first; a journal whose write-ahead log must be recovered is opened for writing.
    public static func existingRecords(at path: String) throws -> [String: TaskRecord]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let journal: Journal
        do { journal = try Journal(path: path, create: false) } catch { journal = try Journal(path: path, create: true) }
        do { return try journal.records() } catch {
            guard access(path, W_OK) == 0 else { throw error }
            return try Journal(path: path, create: true).records()
        }
    }

    /// Every record, by task id (none before the tables exist).
    public func records() throws -> [String: TaskRecord] {
        try db.read { db in
            guard try db.tableExists("tasks") else { return [:] }
            var records: [String: TaskRecord] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT \(Self.columns) FROM tasks")
            while let row = try rows.next() {
                let record = try TaskRecord(row: row)
                records[record.id] = record
            }
            return records
        }
    }

    /// Writes records in one transaction (the executor batches completions: group commit).
    public func save(_ records: [TaskRecord], transfers: [(taskID: String, bytes: Int64, resumed: Bool)] = []) throws {
        guard !records.isEmpty || !transfers.isEmpty else { return }
        try db.write { db in
            // One prepared statement bound through SQLite's own calls: thousands of rows per
            // batch, so the per-row cost of Codable, GRDB's `save` and even its argument arrays
            // (a boxed value per column) shows.
            let upsert = try db.cachedStatement(sql: Self.upsertSQL)
            for r in records {
                var row = RowBinder(upsert.sqliteStatement)
                row.bind(r.id); row.bind(r.action); row.bind(r.kind); row.bind(r.state.rawValue)
                row.bind(Int64(r.attempts)); row.bind(r.bytesTransferred); row.bind(r.size); row.bind(r.sha256)
                row.bind(r.serverChecksum); row.bind(r.source); row.bind(r.remoteID); row.bind(r.remoteVersion)
                row.bind(r.destination); row.bind(r.remoteState); row.bind(r.error); row.bind(r.startedAt)
                row.bind(r.finishedAt); row.bind(Int64(r.durable ? 1 : 0)); row.bind(r.bootID)
                try row.step(db)
            }
            let now = Date().timeIntervalSince1970
            let insertTransfer = try db.cachedStatement(sql: "INSERT INTO transfers (taskID, bytes, resumed, at) VALUES (?, ?, ?, ?)")
            for t in transfers {
                var row = RowBinder(insertTransfer.sqliteStatement)
                row.bind(t.taskID); row.bind(t.bytes); row.bind(Int64(t.resumed ? 1 : 0)); row.bind(now)
                try row.step(db)
            }
        }
    }

    /// The task columns in `TaskRecord.Column` order.
    private static let columns = """
        id, action, kind, state, attempts, bytesTransferred, size, sha256, serverChecksum, source, remoteID,
        remoteVersion, destination, remoteState, error, startedAt, finishedAt, durable, bootID
        """
    private static let upsertSQL = """
        INSERT OR REPLACE INTO tasks (\(columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    /// Marks durable every record of this boot that finished before a filesystem sync began at
    /// `syncStart`. Records of an earlier boot are left alone: a crash may have lost their data
    /// before this sync, and only re-hashing them (`JournalState`) can tell.
    public func markDurable(finishedBefore syncStart: Double, boot: String?) throws {
        guard let boot else { return }
        try db.write { db in
            try db.execute(sql: "UPDATE tasks SET durable = 1 WHERE durable = 0 AND finishedAt <= ? AND bootID = ?",
                           arguments: [syncStart, boot])
        }
    }

    /// Records the start of a run; returns its id.
    public func beginRun(job: String) throws -> Int64 {
        try db.write { db in
            try db.execute(sql: "INSERT INTO runs (job, startedAt) VALUES (?, ?)", arguments: [job, Date().timeIntervalSince1970])
            return db.lastInsertedRowID
        }
    }

    public func endRun(_ id: Int64, outcome: String) throws {
        try db.write { db in
            try db.execute(sql: "UPDATE runs SET finishedAt = ?, outcome = ? WHERE id = ?",
                           arguments: [Date().timeIntervalSince1970, outcome, id])
        }
    }

    /// One row of the `runs` table: when a run of the job began and ended, and how.
    public struct RunRow: Sendable, Hashable {
        public var id: Int64
        public var job: String
        public var startedAt: Double
        public var finishedAt: Double?
        public var outcome: String?

        public init(id: Int64, job: String, startedAt: Double, finishedAt: Double? = nil, outcome: String? = nil) {
            (self.id, self.job, self.startedAt, self.finishedAt, self.outcome) = (id, job, startedAt, finishedAt, outcome)
        }
    }

    /// Every run the journal recorded, oldest first (none before the tables exist).
    public func runs() throws -> [RunRow] {
        try db.read { db in
            guard try db.tableExists("runs") else { return [] }
            return try Row.fetchAll(db, sql: "SELECT id, job, startedAt, finishedAt, outcome FROM runs ORDER BY id").map {
                RunRow(id: $0["id"], job: $0["job"], startedAt: $0["startedAt"], finishedAt: $0["finishedAt"], outcome: $0["outcome"])
            }
        }
    }

    /// Completed transfers per task: (count of full transfers, count of resumed ones).
    public func transferCounts() throws -> [String: (full: Int, resumed: Int)] {
        try db.read { db in
            var out: [String: (full: Int, resumed: Int)] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT taskID, resumed, COUNT(*) AS n FROM transfers GROUP BY taskID, resumed") {
                let id: String = row["taskID"]
                let resumed: Bool = row["resumed"]
                let n: Int = row["n"]
                var entry = out[id] ?? (0, 0)
                if resumed { entry.resumed += n } else { entry.full += n }
                out[id] = entry
            }
            return out
        }
    }
}

/// Binds one row's values to a prepared statement in column order, then runs it.
private struct RowBinder {
    let statement: SQLiteStatement
    var column: Int32 = 0
    var failure: Int32 = SQLITE_OK

    init(_ statement: SQLiteStatement) { self.statement = statement }

    /// SQLite copies the text before the call returns (SQLITE_TRANSIENT).
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    mutating func bind(_ value: String?) {
        column += 1
        guard let text = value else { return record(sqlite3_bind_null(statement, column)) }
        let (statement, column) = (statement, column)
        record(text.withCString { sqlite3_bind_text(statement, column, $0, Int32(text.utf8.count), Self.transient) })
    }

    mutating func bind(_ number: Int64?) {
        column += 1
        record(number.map { sqlite3_bind_int64(statement, column, $0) } ?? sqlite3_bind_null(statement, column))
    }

    mutating func bind(_ number: Double?) {
        column += 1
        record(number.map { sqlite3_bind_double(statement, column, $0) } ?? sqlite3_bind_null(statement, column))
    }

    private mutating func record(_ code: Int32) {
        if failure == SQLITE_OK { failure = code }
    }

    /// Runs the statement and resets it for the next row.
    func step(_ db: Database) throws {
        defer { sqlite3_reset(statement) }
        var code = failure
        if code == SQLITE_OK { code = sqlite3_step(statement) }
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
        }
    }
}
