import Foundation
import GRDB
import FlowModel

/// What the journal remembers of one task.
public struct TaskRecord: Sendable, Hashable, Codable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "tasks"

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

    public init(id: String, action: String, kind: String, state: State, attempts: Int = 0, bytesTransferred: Int64 = 0,
                size: Int64? = nil, sha256: String? = nil, serverChecksum: String? = nil, source: String? = nil, remoteID: String? = nil,
                remoteVersion: String? = nil, destination: String? = nil, remoteState: String? = nil,
                error: String? = nil, startedAt: Double? = nil, finishedAt: Double? = nil) {
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
    }
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
            if !db.configuration.readonly {
                try db.execute(sql: "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL")
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
        try migrator.migrate(db)
    }

    /// Every record, by task id.
    public func records() throws -> [String: TaskRecord] {
        try db.read { db in
            Dictionary(uniqueKeysWithValues: try TaskRecord.fetchAll(db).map { ($0.id, $0) })
        }
    }

    /// Writes records in one transaction (the executor batches completions: group commit).
    public func save(_ records: [TaskRecord], transfers: [(taskID: String, bytes: Int64, resumed: Bool)] = []) throws {
        guard !records.isEmpty || !transfers.isEmpty else { return }
        try db.write { db in
            for record in records { try record.save(db) }
            let now = Date().timeIntervalSince1970
            for t in transfers {
                try db.execute(sql: "INSERT INTO transfers (taskID, bytes, resumed, at) VALUES (?, ?, ?, ?)",
                               arguments: [t.taskID, t.bytes, t.resumed, now])
            }
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
