import Foundation
import Testing
@testable import FlowModel

/// The byte-wise fast paths that make planning 100,000 items cheap must give exactly what the
/// character-by-character code gives, on every kind of input.
@Suite struct FastPathTests {
    /// Awkward pieces: separators, dots, controls, backslashes, non-ASCII, combining marks,
    /// a prepended character, CR LF (one character), and long runs.
    static let pieces = ["a", "B", "/", "//", ".", "..", "\\", "\0", "\t", "\r\n", "\u{7F}", " ", "-", "_",
                         "é", "e\u{301}", "\u{600}", "😀", "[", "]", "*", "?", "nii", "gz", "NII", "tar", "dcm",
                         String(repeating: "x", count: 200)]

    /// Reproducible pseudo-random strings made of `pieces`.
    static func samples(count: Int, seed: UInt64 = 42) -> [String] {
        var generator = SplitMix(seed: seed)
        return (0..<count).map { _ in
            (0..<Int.random(in: 0...7, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }.joined()
        }
    }

    @Test func safePathAgreesWithTheCharacterPath() {
        for value in Self.samples(count: 5000) + ["ok.dcm", "sub-01/anat/T1w.nii.gz", "a/./b", "...", ".../x", "x/..."] {
            #expect(outcome { try SafePath.component(value) } == outcome { try SafePath.componentByCharacter(value) }, "\(value.debugDescription)")
            #expect(outcome { try SafePath.relativePath(value) } == outcome { try SafePath.relativePathByCharacter(value) },
                    "\(value.debugDescription)")
            #expect(outcome { try SafePath.normalize(value) } == outcome { try SafePath.normalizeByCharacter(value) },
                    "\(value.debugDescription)")
        }
    }

    @Test func fileNamesAgreeWithTheCharacterPath() {
        for name in Self.samples(count: 5000) + ["brain.nii.gz", "BRAIN.NII.GZ", ".nii.gz", "x.tar.bz2", "a.b.c", ".hidden"] {
            #expect(FileName.extension(of: name) == FileName.extensionByCharacter(of: name), "\(name.debugDescription)")
            let stem = FileName.stem(of: name)
            #expect(stem == String(name.dropLast(FileName.extensionByCharacter(of: name).count)), "\(name.debugDescription)")
        }
    }

    @Test func globsAgreeWithTheCharacterPath() {
        let patterns = ["*", "*.dcm", "sub-??", "[a-c]*", "[!a]*", "*a*b*", "\\*", "a", "", "*[.]gz", "???*", "*.DCM", "é*", "*\u{301}", "s?n-*.dcm", "*/*"]
        for value in Self.samples(count: 2000) + ["scan-01.dcm", "sub-01", "abc", "*"] {
            for pattern in patterns {
                let glob = Glob(pattern)
                #expect(glob.matches(value) == glob.matchesByCharacter(value), "\(pattern) \(value.debugDescription)")
            }
        }
    }

    @Test func addingManyTasksIsAddingThemOneByOne() {
        let tasks = ["a", "b", "a", "c"].enumerated().map { PlannedTask(id: $1, action: "x\($0)", kind: .tag) }
        for before in [[], [PlannedTask(id: "c", action: "first", kind: .tag)]] {
            var many = TaskGraph(before)
            many.add(contentsOf: tasks)
            let one = TaskGraph(before + tasks)
            #expect(many.tasks == one.tasks)
            for task in one.tasks { #expect(many.position(of: task.id) == one.position(of: task.id)) }
        }
        var distinct = TaskGraph()
        distinct.add(contentsOf: Array(tasks.prefix(2)))
        #expect(distinct.tasks.map(\.id) == ["a", "b"] && distinct.position(of: "b") == 1)
    }

    @Test func itemFieldIsAllFieldsWithoutTheDictionary() {
        let items = [
            RemoteItem(source: "s", id: "a/b.nii.gz", url: "u", size: 12, fields: ["file.name": "b.nii.gz", "subject.label": "S"]),
            RemoteItem(source: "s", id: "x", url: "u", fields: ["file.name": "x.dcm", "file.ext": ".DCM", "file.size": "9",
                                                                "item.id": "spoof", "source.name": "spoof"]),
            RemoteItem(source: "s", id: "y", url: "u", size: nil),
        ]
        for item in items {
            let all = item.allFields
            for name in Set(all.keys).union(["file.ext", "file.stem", "file.size", "nothing", "item.id", "source.name"]) {
                #expect(item.field(name) == all[name], "\(item.id) \(name)")
            }
        }
    }
}

/// Items whose `file.*` fields come from their path hold what the same item with those fields
/// stored holds: fields, equality, hash, coding, and changes to the id or size.
@Suite struct PathFieldTests {
    static func stored(_ path: String, size: Int64?) -> RemoteItem {
        let name = path.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? path
        var fields = ["file.path": path, "file.name": name, "file.stem": FileName.stem(of: name),
                      "file.ext": FileName.extension(of: name), "file.dir": path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : ""]
        if let size { fields["file.size"] = String(size) }
        return RemoteItem(source: "s", id: path, url: "/r/" + path, size: size, version: "7", fields: fields)
    }

    /// `RemoteItem.file` kept in parts: the folder's URL and the name, as `LocalConnector` lists.
    static func inParts(_ path: String, size: Int64?) -> RemoteItem {
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { String(path[..<$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        return RemoteItem.file(source: "s", folderURL: folder.isEmpty ? "/r/" : "/r/" + folder + "/", folder: folder, name: name,
                               size: size, version: 7)
    }

    static let paths = ["sub-01/anat/T1w.nii.gz", "top.dcm", "a/b", "a/.hidden", "é/ü 😀.tar.gz", "noext", "x/y.DCM"]

    @Test func derivedFieldsAreTheStoredOnes() throws {
        for path in Self.paths {
            for size: Int64? in [12, nil] {
                for derived in [RemoteItem.file(source: "s", path: path, folderURL: "/r/", size: size, version: 7),
                                Self.inParts(path, size: size)] {
                let stored = Self.stored(path, size: size)
                #expect(derived.id == path && derived.url == "/r/" + path)
                #expect(derived.fields == stored.fields, "\(path)")
                #expect(derived.allFields == stored.allFields, "\(path)")
                for name in stored.allFields.keys.sorted() + ["file.other", "nothing"] {
                    #expect(derived.field(name) == stored.field(name), "\(path) \(name)")
                }
                #expect(derived == stored && derived.hashValue == stored.hashValue)
                let encoder = JSONEncoder()
                encoder.outputFormatting = .sortedKeys  // a dictionary's order is its own
                let data = try encoder.encode(derived)
                #expect(data == (try encoder.encode(stored)))
                #expect(try JSONDecoder().decode(RemoteItem.self, from: data) == derived)
                }
            }
        }
    }

    @Test(arguments: [false, true])
    func fieldsStayWhatTheyWereWhenTheIdOrSizeChanges(inParts: Bool) {
        var item = inParts ? Self.inParts("a/b.dcm", size: 3)
            : RemoteItem.file(source: "s", path: "a/b.dcm", folderURL: "/r/", size: 3, version: 7)
        let copy = item
        item.id = "jobs/1/out"
        #expect(item.url == "/r/a/b.dcm" && item.version == "7")
        item.size = 4
        #expect(item.field("file.path") == "a/b.dcm" && item.field("file.size") == "3")
        // Copies share their values until one changes: the other keeps what it had.
        #expect(copy.id == "a/b.dcm" && copy.size == 3 && copy == Self.stored("a/b.dcm", size: 3))
        item.version = "8"
        item.url = "/elsewhere"
        #expect(item.version == "8" && item.url == "/elsewhere" && copy.version == "7" && copy.url == "/r/a/b.dcm")
        var edited = RemoteItem.file(source: "s", path: "a/b.dcm", folderURL: "/r/", size: 3, version: 7)
        edited.fields["subject.label"] = "S"
        #expect(edited.fields == Self.stored("a/b.dcm", size: 3).fields.merging(["subject.label": "S"]) { a, _ in a })
        // A new URL leaves the path kept in parts whole.
        var moved = Self.inParts("a/b/c.dcm", size: 3)
        moved.url = "https://x/c"
        #expect(moved.id == "a/b/c.dcm" && moved.url == "https://x/c" && moved.field("file.dir") == "a/b")
    }
}

/// The path or the error, as text to compare.
func outcome(_ body: () throws -> String) -> String {
    do { return "path " + (try body()) } catch { return "error \(error)" }
}

/// SplitMix64: a tiny seeded generator, so failures reproduce.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}

/// `Timestamp.iso8601` writes what Foundation's ISO 8601 formatter writes.
@Suite struct TimestampTests {
    @Test func agreesWithFoundationsFormatter() {
        let formatter = ISO8601DateFormatter()
        var generator = SplitMix(seed: 7)
        let samples: [Double] = [0, 0.999, 1, 59.5, 951_782_400, 1_709_164_799.75, 1_795_462_793.151507, 4_102_444_800]
            + (0..<2000).map { _ in Double.random(in: 0..<4_102_444_800, using: &generator) }
        for seconds in samples {
            #expect(Timestamp.iso8601(seconds) == formatter.string(from: Date(timeIntervalSince1970: seconds)), "\(seconds)")
        }
    }
}
