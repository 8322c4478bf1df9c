import FlowConnector
import FlowHTTP
import Testing

/// One bad row or one failed branch of a listing costs only itself, when problems are collected.
@Suite struct ListingProblemsTests {
    struct Row: Sendable { var name: String; var size: String }

    static func item(_ row: Row) throws -> String? {
        guard !row.name.isEmpty else { throw ConnectorError.badReply("a file has no name") }
        guard Int64(row.size) != nil else { throw ConnectorError.badReply("size \(row.size) is not a number of bytes") }
        return row.name
    }

    static let rows = [Row(name: "a.dcm", size: "1"), Row(name: "", size: "2"),
                       Row(name: "b.dcm", size: "184467440737095516160"), Row(name: "c.dcm", size: "3")]

    @Test func badRowsAreProblemsOfTheirOwnWhileCollecting() async throws {
        let (names, problems) = try await ListingProblems.collecting {
            try listingRows(Self.rows, at: "/files", Self.item)
        }
        #expect(names == ["a.dcm", "c.dcm"])
        #expect(problems.map(\.place) == ["/files row 2", "/files row 3"])
        #expect(problems[1].reason.contains("184467440737095516160"))
    }

    @Test func withoutACollectorTheFirstBadRowFailsTheListingNamingItsPlace() {
        #expect {
            _ = try listingRows(Self.rows, at: "/files", Self.item)
        } throws: { error in
            "\(error)".contains("/files row 2: a file has no name")
        }
    }

    @Test func aFailedBranchCostsOnlyItsOwnItems() async throws {
        let (items, problems) = try await ListingProblems.collecting {
            try await listEach(["S1", "S2", "S3"]) { subject -> [String] in
                if subject == "S2" { throw ConnectorError.badReply("/subjects/S2/experiments: not readable JSON") }
                return ["\(subject)/x.dcm"]
            }
        }
        #expect(items == ["S1/x.dcm", "S3/x.dcm"])
        #expect(problems.map(\.description) == ["unexpected reply: /subjects/S2/experiments: not readable JSON"])
    }

    @Test func aCancelledListingIsNotAProblemButACancellation() async throws {
        let listing = Task {
            try await ListingProblems.collecting {
                try await listEach([1]) { _ -> [Int] in
                    try await Task.sleep(for: .seconds(30))
                    return [1]
                }
            }
        }
        listing.cancel()
        await #expect(throws: CancellationError.self) { _ = try await listing.value }
    }
}

/// Numbers and nesting a server may send, read without a trap.
@Suite struct JSONValueTests {
    static func decode(_ text: String) throws -> JSONValue {
        try SourceSession.decode(JSONValue.self, Array(text.utf8), from: "test")
    }

    @Test func numbersPastAnyIntegerAreNotIntegers() throws {
        let row = try Self.decode(#"{"size": 184467440737095516160, "n": -0.5, "ok": 42}"#)
        #expect(row["size"]?.int == nil)
        #expect(row["size"]?.text.flatMap { Int64($0) } == nil)
        #expect(row["n"]?.int == nil)
        #expect(row["ok"]?.int == 42)
        // Past even a Double: the reply is unreadable (a problem of its listing branch), not a trap.
        #expect(throws: ConnectorError.self) { _ = try Self.decode(#"{"size": 1e400}"#) }
    }

    @Test func eachKindOfValueKeepsItsCase() throws {
        let row = try Self.decode(#"{"s": "true", "n": "5", "b": true, "i": 5, "d": 5.5, "z": null, "a": ["x", 1], "o": {"k": "v"}}"#)
        if case .string("true") = row["s"] {} else { Issue.record("\(String(describing: row["s"]))") }
        if case .string("5") = row["n"] {} else { Issue.record("\(String(describing: row["n"]))") }
        if case .bool(true) = row["b"] {} else { Issue.record("\(String(describing: row["b"]))") }
        if case .integer(5) = row["i"] {} else { Issue.record("\(String(describing: row["i"]))") }
        if case .number(5.5) = row["d"] {} else { Issue.record("\(String(describing: row["d"]))") }
        #expect(row["z"]?.isNull == true)
        #expect(row["a"]?.array?.map(\.text) == ["x", "1"])
        #expect(row["o"]?["k"]?.text == "v")
    }

    @Test func deepNestingIsABadReplyNotACrash() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: ConnectorError.self) { _ = try Self.decode(deep) }
    }

    @Test func textThatIsNotUTF8IsABadReply() {
        #expect(throws: ConnectorError.self) {
            _ = try SourceSession.decode(JSONValue.self, [0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D], from: "test")
        }
    }
}
