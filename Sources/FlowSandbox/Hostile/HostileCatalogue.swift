import FlowFiles
import Foundation

/// What flowctl must do with one hostile item (Hostile/README.md, "Catalogue").
public enum HostileExpectation: String, Sendable, Codable {
    /// A good file: present at its own name with exactly the resource's bytes.
    case arrives
    /// Named among the failures with its reason; no final file at its name.
    case fails
    /// Present under a safe name inside the output root with exactly its bytes, or named as failed.
    case safeOrFails
    /// Present at its own name with exactly its bytes, or named as failed.
    case exactOrFails
    /// A listing branch: named (by its subject) while the rest of the job completes.
    case listingFails
}

/// Where a hostile redirect points.
enum HostileRedirect: Sendable, Equatable {
    /// The elsewhere origin, which serves the file's honest bytes (credentials must be dropped).
    case elsewhere
    /// `localhost` on the elsewhere origin's port: another origin too.
    case localhostElsewhere
    /// The elsewhere origin, which answers with a 401 Basic challenge.
    case elsewhereChallenge
    /// `hops` redirects on the same origin, then the honest bytes.
    case chain(hops: Int)
    /// The same URL again, for ever.
    case loop
    /// A literal `Location` (`file:///etc/passwd`, `ftp://...`); `{elsewhere-port}` is filled in.
    case literal(String)
}

/// How a hostile file's download misbehaves.
enum HostileBehaviour: Sendable, Equatable {
    /// Honest bytes, honest headers, Range and If-Range (FileServer).
    case honest
    /// Honest bytes plus `extra` more: the listing's size is the resource's, the body is longer.
    case longerBody(extra: Int)
    /// The body stops `missing` bytes short, with a Content-Length that agrees with it.
    case shorterBody(missing: Int)
    /// `Content-Length` says half the size, then the whole body is written after it.
    case contentLengthUnder
    /// `Content-Length` says the whole size, half is sent, then the connection closes, every time.
    case truncated
    /// The first GET is cut after half the body; later ones (and ranges) are honest.
    case resetOnce
    /// A whole GET is cut after half the body; a Range request gets 206 and the Content-Range it
    /// asked for, but the bytes from offset 0.
    case rangeLies
    /// No Content-Length, chunked, at `bytesPerSecond`, until the client hangs up (or `capBytes`).
    case endless(bytesPerSecond: Int, capBytes: Int64)
    /// `Content-Encoding: gzip`, a small stream that inflates to `hostileGzipInflatedBytes` zeros.
    case gzipBomb
    /// `count` headers of `length` bytes each before the honest body.
    case headerBomb(count: Int, length: Int)
    /// A redirect (302).
    case redirect(HostileRedirect)
    /// `status` with a `Retry-After` (`seconds`, or an HTTP date `seconds` ahead when `asDate`);
    /// after `failures` such answers (nil: for ever) the honest bytes.
    case storm(status: Int, retryAfter: Int?, asDate: Bool, failures: Int?)
}

/// How a hostile file travels in its scan's zip or tar.gz (`.../files?format=zip|tar.gz`, archive transfers).
enum HostileArchiveMember: Sendable, Equatable {
    /// At its XNAT member name, honest bytes.
    case honest
    /// Under this raw name instead (climbing, absolute, `\`, `~`): the listed file's member is missing.
    case renamed(String)
    /// At its name, but the central directory calls it a symbolic link to this target, whose
    /// text is its data.
    case symlink(String)
    /// At its name, a tar hard link to this target (a zip has no hard links: honest bytes there).
    case hardLink(String)
    /// At its name, other bytes of the same size.
    case wrongBytes
    /// At its name, deflated zeros as long as the listed size: a zip bomb.
    case bomb
}

/// What the files listing says about a hostile file beside its honest values.
enum HostileListingLie: Sendable, Equatable {
    case none
    /// The `Size` column holds this text.
    case size(String)
    /// The `digest` column holds this MD5 instead of the true one.
    case digest(String)
    /// The `URI` is an absolute URL on the elsewhere origin.
    case uriOnOtherHost
    /// The row has no `URI` at all.
    case noURI
}

/// One file of the hostile project.
public struct HostileFile: Sendable {
    /// The scenario's name: the last segment of the file's URI, so it is in flowctl's item id.
    public let slug: String
    /// The `Name` column (the attack itself for the name scenarios).
    public let name: String
    public let subject: String
    /// Scan id within the subject's one experiment; each scan has one resource, `DICOM`.
    public let scan: String
    /// Size of the resource's honest bytes.
    public let size: Int64
    let behaviour: HostileBehaviour
    let lie: HostileListingLie
    /// How it travels in its scan's zip.
    let archive: HostileArchiveMember
    public let expectation: HostileExpectation
    /// Words of which at least one should appear in flowctl's reason (lowercase; empty: any reason).
    public let keywords: [String]
    /// What the server does.
    public let attack: String
    /// What flowctl must do.
    public let duty: String

    /// The honest bytes of the resource (synthetic: any range on demand, nothing held).
    public var body: FileBody { .synthetic(key: stableHash("hostile/" + slug), size: size) }
    public var experiment: String { subject + "_E1" }
}

/// How a hostile experiments listing misbehaves.
enum HostileListingAttack: Sendable, Equatable {
    case notJSON, notUTF8, deep(levels: Int), gzipBomb, huge(bytes: Int64, bytesPerSecond: Int), silent
}

/// One listing branch of the hostile project: a subject whose experiments listing is the attack.
public struct HostileListing: Sendable {
    public let subject: String
    let attack: HostileListingAttack
    public let expectation: HostileExpectation
    public let keywords: [String]
    public let attackText: String
    public let duty: String
}

/// Every hostile item: the single source of truth for the emulator, its README and the tests.
public struct HostileCatalogue: Sendable {
    public static let project = "hostile"
    public static let resource = "DICOM"
    public let files: [HostileFile]
    public let listings: [HostileListing]

    /// Subjects in listing order: the file subjects, then the listing branches.
    public var subjects: [String] {
        var seen = Set<String>()
        return (files.map(\.subject) + listings.map(\.subject)).filter { seen.insert($0).inserted }
    }

    public func file(slug: String) -> HostileFile? { files.first { $0.slug == slug } }
    public func listing(subject: String) -> HostileListing? { listings.first { $0.subject == subject } }

    public static let standard = HostileCatalogue(files: goodFiles + nameFiles + redirectFiles + bodyFiles + stormFiles
                                                       + archiveFiles,
                                                   listings: listingBranches)

    private static func file(_ slug: String, _ subject: String, scan: String = "1", name: String? = nil, size: Int64 = 8 << 10,
                             _ behaviour: HostileBehaviour = .honest, lie: HostileListingLie = .none,
                             archive: HostileArchiveMember = .honest,
                             expect expectation: HostileExpectation, keywords: [String] = [], attack: String, duty: String) -> HostileFile {
        HostileFile(slug: slug, name: name ?? slug + ".dcm", subject: subject, scan: scan, size: size, behaviour: behaviour, lie: lie,
                    archive: archive, expectation: expectation, keywords: keywords, attack: attack, duty: duty)
    }

    /// Subject `ARCHIVES`: honest files whose scan's zip or tar.gz lies (archive transfers, `archive:`).
    /// Scan 1: members under climbing, absolute, `\` and `~` names; scan 2: a symbolic-link member,
    /// a hard-link member (tar.gz), a member with other bytes, and an unlisted member; scan 3: a bomb.
    static let archiveFiles: [HostileFile] = {
        let fallback = "the member is refused (never written); the file arrives on its own, exact bytes"
        func member(_ slug: String, scan: String, _ archive: HostileArchiveMember, attack: String, duty: String = fallback) -> HostileFile {
            file(slug, "ARCHIVES", scan: scan, archive: archive, expect: .arrives, attack: attack, duty: duty)
        }
        return [
            member("archive-good-1", scan: "1", .honest, attack: "an honest member", duty: "present, exact bytes"),
            member("archive-good-2", scan: "2", .honest, attack: "an honest member", duty: "present, exact bytes"),
            member("archive-climbing", scan: "1", .renamed("../../archive-climbing.dcm"), attack: "its member is `../../archive-climbing.dcm`"),
            member("archive-absolute", scan: "1", .renamed("/tmp/flowctl-hostile/archive-absolute.dcm"),
                   attack: "its member is the absolute `/tmp/flowctl-hostile/archive-absolute.dcm`"),
            member("archive-backslash", scan: "1", .renamed("..\\..\\archive-backslash.dcm"), attack: "its member is `..\\..\\archive-backslash.dcm`"),
            member("archive-tilde", scan: "1", .renamed("~/archive-tilde.dcm"), attack: "its member is `~/archive-tilde.dcm`"),
            member("archive-symlink", scan: "2", .symlink("/etc/passwd"),
                   attack: "its member is a symbolic link to `/etc/passwd` (Unix mode in the central directory)",
                   duty: "no link is made; its text fails the listed size and MD5; the file arrives on its own"),
            member("archive-hardlink", scan: "2", .hardLink("/etc/passwd"),
                   attack: "in a tar.gz, its member is a hard link to `/etc/passwd` (in a zip, which has none, honest bytes)",
                   duty: "no link is made (the tar member is refused); the file arrives, from the zip or on its own"),
            member("archive-wrong-bytes", scan: "2", .wrongBytes, attack: "its member holds other bytes of the same size",
                   duty: "fails the listed MD5, never kept; the file arrives on its own"),
            file("archive-bomb", "ARCHIVES", scan: "3", size: 64 << 20, archive: .bomb, expect: .fails, keywords: ["bomb", "cap"],
                 attack: "its member is deflated zeros: 64 MiB from ~64 KB", duty: "the ratio cap trips within seconds, named (\"bomb\")"),
        ]
    }()

    static let goodFiles: [HostileFile] = (1...5).map { i in
        file("good-0\(i)", "GOOD", size: Int64(3 << 10) + Int64(i) * 7919, expect: .arrives,
             attack: "honest bytes, size and MD5", duty: "present, exact bytes")
    }

    static let nameFiles: [HostileFile] = {
        let safe = "present under a safe name inside the root (exact bytes), or refused and named"
        func named(_ slug: String, _ name: String, _ attack: String, subject: String = "NAMES") -> HostileFile {
            file(slug, subject, name: name, expect: .safeOrFails, attack: attack, duty: safe)
        }
        return [
            named("name-climbing", "../name-climbing.dcm", "`Name` climbs out of the root: `../name-climbing.dcm`"),
            named("name-into-canary", "../canary/name-into-canary.dcm", "`Name` climbs into the root's sibling `canary`"),
            named("name-climbing-deep", String(repeating: "../", count: 12) + "tmp/flowctl-hostile/name-climbing-deep.dcm",
                  "`Name` climbs to `/tmp` through twelve `../`"),
            named("name-absolute", "/tmp/flowctl-hostile/name-absolute.dcm", "`Name` is an absolute path"),
            named("name-backslash", "..\\..\\name-backslash.dcm", "`Name` climbs with Windows separators `..\\..\\`"),
            named("name-tilde", "~/name-tilde.dcm", "`Name` starts with `~/`"),
            named("name-nul", "name-nul\u{0}.dcm", "`Name` holds a NUL byte", subject: "NAMES_DEGENERATE"),
            named("name-control", "name-control\u{1B}[31m\r\n\u{7}.dcm", "`Name` holds ESC, CR, LF and BEL"),
            named("name-long", "name-long-" + String(repeating: "x", count: 4096 - 14) + ".dcm", "`Name` is 4096 bytes long"),
            named("name-empty", "", "`Name` is empty", subject: "NAMES_DEGENERATE"),
            named("name-dot", ".", "`Name` is `.`", subject: "NAMES_DEGENERATE"),
            named("name-dotdot", "..", "`Name` is `..`", subject: "NAMES_DEGENERATE"),
            named("name-case-upper", "CASE-TWIN.dcm", "case twin of `case-twin.dcm` (distinct bytes)", subject: "NAMES_TWINS"),
            named("name-case-lower", "case-twin.dcm", "case twin of `CASE-TWIN.dcm` (distinct bytes)", subject: "NAMES_TWINS"),
            named("name-nfc", "\u{E9}t\u{E9}.dcm", "`été.dcm` in NFC; canonically equal to its NFD twin", subject: "NAMES_TWINS"),
            named("name-nfd", "e\u{301}te\u{301}.dcm", "`été.dcm` in NFD; canonically equal to its NFC twin", subject: "NAMES_TWINS"),
        ]
    }()

    static let redirectFiles: [HostileFile] = {
        func redirect(_ slug: String, _ target: HostileRedirect, expect expectation: HostileExpectation, keywords: [String] = [],
                      attack: String, duty: String) -> HostileFile {
            file(slug, "REDIRECTS", .redirect(target), expect: expectation, keywords: keywords, attack: attack, duty: duty)
        }
        let refuse = "refused and named; nothing fetched from that scheme, no local file read"
        return [
            redirect("redirect-elsewhere", .elsewhere, expect: .exactOrFails,
                     attack: "302 to the elsewhere origin, which serves the honest bytes",
                     duty: "follow without Authorization/Cookie/session (exact bytes), or refuse and name it"),
            redirect("redirect-localhost", .localhostElsewhere, expect: .exactOrFails,
                     attack: "302 to `localhost` on the elsewhere port (another origin), honest bytes there",
                     duty: "follow without credentials (exact bytes), or refuse and name it"),
            redirect("redirect-challenge", .elsewhereChallenge, expect: .fails,
                     attack: "302 to the elsewhere origin, which answers 401 with a Basic challenge",
                     duty: "no credentials sent there, ever; fails and is named"),
            redirect("redirect-chain", .chain(hops: 3), expect: .arrives,
                     attack: "three 302s on the same origin, then honest bytes", duty: "present, exact bytes"),
            redirect("redirect-chain-long", .chain(hops: 40), expect: .fails, keywords: ["redirect"],
                     attack: "forty 302s on the same origin", duty: "stops at its redirect limit; named (\"redirect\")"),
            redirect("redirect-loop", .loop, expect: .fails, keywords: ["redirect"],
                     attack: "302 to the same URL for ever", duty: "stops at its redirect limit; named (\"redirect\")"),
            redirect("redirect-file", .literal("file:///etc/passwd"), expect: .fails, attack: "302 to `file:///etc/passwd`", duty: refuse),
            redirect("redirect-ftp", .literal("ftp://127.0.0.1:{elsewhere-port}/redirect-ftp.dcm"), expect: .fails,
                     attack: "302 to an `ftp://` URL", duty: refuse),
            redirect("redirect-gopher", .literal("gopher://127.0.0.1:{elsewhere-port}/_redirect-gopher"), expect: .fails,
                     attack: "302 to a `gopher://` URL", duty: refuse),
        ]
    }()

    static let bodyFiles: [HostileFile] = {
        let sizeWords = ["size", "bytes", "length"]
        return [
            file("body-longer", "BODIES", .longerBody(extra: 1000), expect: .fails, keywords: sizeWords,
                 attack: "body (and its Content-Length) 1000 bytes longer than the listed size",
                 duty: "fails naming the size; no final file"),
            file("body-shorter", "BODIES", .shorterBody(missing: 1000), expect: .fails, keywords: sizeWords,
                 attack: "body (and its Content-Length) 1000 bytes shorter than the listed size",
                 duty: "fails naming the size; no final file"),
            file("body-content-length-under", "BODIES", .contentLengthUnder, expect: .fails,
                 attack: "Content-Length says half the size, the whole body follows it on the connection",
                 duty: "fails (size); no final file; the extra bytes are never taken as a next response"),
            file("body-truncated", "BODIES", .truncated, expect: .fails,
                 attack: "Content-Length is the full size, half is sent, the connection closes (every attempt)",
                 duty: "retries, then fails and is named; no final file"),
            file("body-reset-once", "BODIES", size: 5 << 20, .resetOnce, expect: .arrives,
                 attack: "the first GET is cut after half the body; later ones and ranges are honest",
                 duty: "resumes (or refetches); present, exact bytes"),
            file("body-range-lies", "BODIES", size: 5 << 20, .rangeLies, expect: .fails,
                 attack: "whole GETs are cut at half; a Range request gets 206 with the asked Content-Range but bytes from 0",
                 duty: "never keeps the spliced bytes; fails and is named"),
            file("body-digest-lies", "BODIES", lie: .digest("0123456789abcdef0123456789abcdef"), expect: .fails,
                 keywords: ["md5", "digest", "checksum"], attack: "honest bytes, the listing's MD5 is wrong",
                 duty: "fails naming the digest; no final file"),
            file("body-endless", "BODIES", size: 64 << 10, .endless(bytesPerSecond: 2 << 20, capBytes: 1200 << 20), expect: .fails,
                 attack: "chunked body without Content-Length at 2 MiB/s that never ends (sandbox cap 1200 MiB)",
                 duty: "stops once past the listed size (64 KiB); fails and is named; bounded time and disk"),
            file("body-gzip-bomb", "BODIES", size: 1 << 20, .gzipBomb, expect: .fails,
                 attack: "Content-Encoding: gzip, ~6.6 MB on the wire, 1 GiB of zeros inflated; listed size 1 MiB",
                 duty: "never inflates past the listed size; fails and is named; bounded memory"),
            file("body-header-bomb", "BODIES", .headerBomb(count: 4000, length: 100), expect: .exactOrFails,
                 attack: "4000 response headers of 100 bytes (~440 KB) before honest bytes",
                 duty: "bounded memory; exact bytes or named"),
            file("body-giant-header", "BODIES", .headerBomb(count: 1, length: 1 << 20), expect: .exactOrFails,
                 attack: "one 1 MiB response header before honest bytes", duty: "bounded memory; exact bytes or named"),
            file("body-uri-other-host", "BODIES", lie: .uriOnOtherHost, expect: .exactOrFails,
                 attack: "the row's URI is an absolute URL on the elsewhere origin (which serves honest bytes)",
                 duty: "no credentials sent to the other host; exact bytes without them, or refused and named"),
            // Rows that are bad on their own, each in a listing with a good sibling (promise 6).
            file("row-size-overflow", "ROWS", lie: .size("184467440737095516160"), expect: .fails,
                 attack: "the listed Size is 184467440737095516160 (more than 2^64)",
                 duty: "that row is named as bad; its siblings in the same listing still arrive"),
            file("good-beside-overflow", "ROWS", expect: .arrives,
                 attack: "honest, in the same listing as row-size-overflow", duty: "present, exact bytes"),
            file("row-no-uri", "ROWS", scan: "2", lie: .noURI, expect: .fails,
                 attack: "a file row without URI (Name row-no-uri.dcm)",
                 duty: "that row is named as bad; its siblings in the same listing still arrive"),
            file("good-beside-no-uri", "ROWS", scan: "2", expect: .arrives,
                 attack: "honest, in the same listing as row-no-uri", duty: "present, exact bytes"),
        ]
    }()

    static let stormFiles: [HostileFile] = [
        file("storm-503-seconds", "STORMS", .storm(status: 503, retryAfter: 1, asDate: false, failures: nil), expect: .fails,
             keywords: ["503"], attack: "503 with `Retry-After: 1`, every time",
             duty: "retries within its budget, then fails naming 503"),
        file("storm-429-date", "STORMS", .storm(status: 429, retryAfter: 2, asDate: true, failures: nil), expect: .fails,
             keywords: ["429"], attack: "429 with `Retry-After` as an HTTP date 2 s ahead, every time",
             duty: "retries within its budget, then fails naming 429"),
        file("storm-503-forever", "STORMS", .storm(status: 503, retryAfter: 999_999_999, asDate: false, failures: nil), expect: .fails,
             keywords: ["503"], attack: "503 with `Retry-After: 999999999`",
             duty: "does not wait 31 years: gives up at once (or within its retry time cap) and names it"),
        file("storm-401", "STORMS", .storm(status: 401, retryAfter: nil, asDate: false, failures: nil), expect: .fails,
             keywords: ["401", "auth"], attack: "401 with a Basic challenge on this file, every time (the login itself works)",
             duty: "logs in again once, then fails naming 401; the other files are unaffected"),
        file("storm-429-then-ok", "STORMS", .storm(status: 429, retryAfter: 1, asDate: false, failures: 2), expect: .arrives,
             attack: "429 with `Retry-After: 1` twice, then honest bytes", duty: "present, exact bytes"),
        file("storm-503-date-then-ok", "STORMS", .storm(status: 503, retryAfter: 1, asDate: true, failures: 2), expect: .arrives,
             attack: "503 with `Retry-After` as an HTTP date 1 s ahead twice, then honest bytes", duty: "present, exact bytes"),
    ]

    static let listingBranches: [HostileListing] = [
        HostileListing(subject: "LISTING_NOT_JSON", attack: .notJSON, expectation: .listingFails, keywords: ["json"],
                       attackText: "200 `application/json` whose body is not JSON",
                       duty: "that branch is named (subject); the rest of the job completes"),
        HostileListing(subject: "LISTING_NOT_UTF8", attack: .notUTF8, expectation: .listingFails, keywords: [],
                       attackText: "a ResultSet whose strings hold bytes that are not UTF-8 (C3 28 FF FE)",
                       duty: "that branch is named, or its rows read with replacement characters; no crash"),
        HostileListing(subject: "LISTING_DEEP", attack: .deep(levels: 100_000), expectation: .listingFails, keywords: [],
                       attackText: "100,000 nested `[` then as many `]` (200 KB)",
                       duty: "no stack overflow; that branch is named"),
        HostileListing(subject: "LISTING_GZIP_BOMB", attack: .gzipBomb, expectation: .listingFails, keywords: [],
                       attackText: "`Content-Encoding: gzip` that inflates to 1 GiB of zeros",
                       duty: "inflates no more than its body limit; that branch is named; bounded memory"),
        HostileListing(subject: "LISTING_HUGE", attack: .huge(bytes: 200_000_000, bytesPerSecond: 2_000_000), expectation: .listingFails,
                       keywords: [], attackText: "a true Content-Length of 200 MB (JSON padded with spaces) sent at 2 MB/s",
                       duty: "stops at its body limit; that branch is named; bounded memory and time"),
        HostileListing(subject: "LISTING_SILENT", attack: .silent, expectation: .listingFails, keywords: [],
                       attackText: "accepts the request and says nothing (for `hostileSilenceSeconds`, 240 s)",
                       duty: "times out within its budget; that branch is named"),
    ]
}

extension HostileCatalogue {
    /// The catalogue as JSON for the tests (`GET /_sandbox/hostile/catalogue`): each item with the
    /// sha256 and MD5 of the resource's honest bytes.
    func json() -> JSON {
        let files: [JSON] = files.map { f in
            var sha = Digester(.sha256)
            var offset: Int64 = 0
            while offset < f.size {
                let chunk = f.body.chunk(offset: offset, length: 1 << 20)
                sha.update(chunk.readableBytesView)
                offset += Int64(chunk.readableBytes)
            }
            return .object([("slug", .string(f.slug)), ("name", .string(f.name)), ("subject", .string(f.subject)),
                             ("experiment", .string(f.experiment)), ("scan", .string(f.scan)), ("size", .int(f.size)),
                             ("sha256", .string(FileBody.hex(sha.finalize()))), ("md5", .string(f.body.md5)),
                             ("expectation", .string(f.expectation.rawValue)), ("keywords", .array(f.keywords.map { .string($0) })),
                             ("attack", .string(f.attack)), ("duty", .string(f.duty))])
        }
        let listings: [JSON] = listings.map { l in
            .object([("subject", .string(l.subject)), ("expectation", .string(l.expectation.rawValue)),
                     ("keywords", .array(l.keywords.map { .string($0) })), ("attack", .string(l.attackText)), ("duty", .string(l.duty))])
        }
        return .object([("project", .string(HostileCatalogue.project)), ("files", .array(files)), ("listings", .array(listings))])
    }
}
