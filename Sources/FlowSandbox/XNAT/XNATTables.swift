import Foundation
import Hummingbird

/// One listing row: every field the row has, in XNAT's default column order.
typealias XNATRow = [(String, String)]

/// Renders XNAT table listings (`ResultSet` JSON, CSV for pyxnat, a tiny HTML) with
/// `columns=`, field filters (`*`/`%` wildcards, comma = OR), `sortBy`/`sortOrder`, `limit`/`offset`.
struct XNATTable {
    var rows: [XNATRow]
    var defaultColumns: [String]
    var title: String? = nil
    var totalRecords = true
    var columnsMeta = false
    /// Resource listings have no ID/URI columns.
    var addIDAndURI = true
    var paging = false

    static let reserved: Set<String> = ["format", "columns", "sortBy", "sortOrder", "limit", "offset", "accessible",
                                        "recent", "owner", "member", "collaborator", "favorite", "locator", "_", "xsiType_exact"]

    func render(_ req: SandboxRequest) -> Response {
        var selected = rows
        // Field filters.
        for (key, raw) in req.queryItems where !XNATTable.reserved.contains(key) {
            guard rows.first?.contains(where: { $0.0 == key }) ?? false else { continue }
            let patterns = raw.split(separator: ",").map(String.init)
            selected = selected.filter { row in
                let value = row.first { $0.0 == key }?.1 ?? ""
                return patterns.contains { XNATTable.like(value, $0) }
            }
        }
        if let sortBy = req.query["sortBy"] {
            let keys = sortBy.split(separator: ",").map(String.init)
            let desc = req.query["sortOrder"]?.uppercased() == "DESC"
            selected.sort { a, b in
                for k in keys {
                    let x = a.first { $0.0 == k }?.1 ?? "", y = b.first { $0.0 == k }?.1 ?? ""
                    if x != y { return desc ? x > y : x < y }
                }
                return false
            }
        }
        let total = selected.count
        if paging, let limit = req.query["limit"], limit != "*", let n = Int(limit) {
            let offset = Int(req.query["offset"] ?? "0") ?? 0
            selected = Array(selected.dropFirst(offset).prefix(n))
        }
        var columns = defaultColumns
        // Resource and file listings ignore `columns=` (xnatpy relies on their missing ID column).
        if addIDAndURI, let requested = req.query["columns"], requested != "DEFAULT" {
            columns = requested.split(separator: ",").map(String.init)
            if !columns.contains("ID") { columns.insert("ID", at: 0) }
            if !columns.contains("URI") { columns.append("URI") }
        }
        let table: [[(String, String)]] = selected.map { row in
            columns.map { c in (c, row.first { $0.0 == c }?.1 ?? "") }
        }
        switch (req.query["format"] ?? "json").lowercased() {
        case "csv":
            var out = columns.map(XNATTable.csvField).joined(separator: ",") + "\n"
            for row in table { out += row.map { XNATTable.csvField($0.1) }.joined(separator: ",") + "\n" }
            return Reply.text(.ok, out, contentType: "text/csv")
        case "html":
            var out = "<table><tr>" + columns.map { "<th>\($0)</th>" }.joined() + "</tr>"
            for row in table { out += "<tr>" + row.map { "<td>\($0.1)</td>" }.joined() + "</tr>" }
            return Reply.text(.ok, out + "</table>", contentType: "text/html")
        default:
            var resultSet: [(String, JSON)] = []
            if columnsMeta { resultSet.append(("Columns", [.object([("key", "URI"), ("serverRoot", "")])])) }
            resultSet.append(("Result", .array(table.map { .object($0.map { ($0.0, .string($0.1)) }) })))
            if let title { resultSet.append(("title", .string(title))) }
            if totalRecords { resultSet.append(("totalRecords", .string(String(total)))) }
            return Reply.json(.ok, .object([("ResultSet", .object(resultSet))]))
        }
    }

    /// SQL LIKE with `*` or `%` as wildcards, case-insensitive.
    static func like(_ value: String, _ pattern: String) -> Bool {
        let p = pattern.lowercased().replacingOccurrences(of: "%", with: "*")
        let v = value.lowercased()
        if !p.contains("*") { return v == p }
        let parts = p.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        var rest = Substring(v)
        for (i, part) in parts.enumerated() {
            if part.isEmpty { continue }
            if i == 0 {
                guard rest.hasPrefix(part) else { return false }
                rest = rest.dropFirst(part.count)
            } else if i == parts.count - 1 {
                return rest.hasSuffix(part)
            } else {
                guard let r = rest.range(of: part) else { return false }
                rest = rest[r.upperBound...]
            }
        }
        return true
    }

    static func csvField(_ s: String) -> String {
        if s.contains(",") || s.contains("\"") || s.contains("\n") { return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        return s
    }
}
