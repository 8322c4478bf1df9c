import FlowFiles
import FlowConnector
import FlowHTTP
import FlowModel
import Foundation

/// What every connector promises, as checks any test can run against any connector and
/// server (in the spirit of HummingbirdTesting): a listing of unique, well-formed items that
/// reads the same twice; fetches that bring exactly the listed bytes with the listed digests;
/// a resume that ends in the same bytes. Each check throws a `ContractViolation` naming what broke.
public enum ConnectorContract {
    /// Lists `selection` as a run does (problems collected); the items, checked.
    @discardableResult
    public static func listing(_ connector: any Connector, _ selection: Selection) async throws -> [RemoteItem] {
        let (items, problems) = try await ListingProblems.collecting { try await connector.list(selection) }
        try check(problems.isEmpty, "the listing had problems: \(problems)")
        try check(!items.isEmpty, "the listing is empty")
        try check(Set(items.map(\.id)).count == items.count, "item ids are not unique")
        for item in items {
            try check(item.source == connector.spec.name, "\(item.id): source `\(item.source)`, not `\(connector.spec.name)`")
            try check(!(item.fields["file.name"] ?? "").isEmpty, "\(item.id): no file.name")
            try check((item.size ?? 0) >= 0, "\(item.id): negative size")
            if connector.spec.type != .local {
                try check(HTTPClient.isSameOrigin(item.url, connector.spec.url), "\(item.id): URL off the source's origin")
            }
        }
        let again = try await ListingProblems.collecting { try await connector.list(selection) }.0
        try check(Set(again.map(\.id)) == Set(items.map(\.id)), "a second listing gives other items")
        return items
    }

    /// Fetches `item` into a fresh folder: the listed size, every listed digest, and a sha256
    /// that is the sha256 of the bytes on disk.
    @discardableResult
    public static func fetch(_ connector: any Connector, _ item: RemoteItem) async throws -> [UInt8] {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let part = folder + "/item.part"
        let result = try await connector.fetch(item, to: part, resume: false, progress: nil)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: part)))
        try check(result.fileSize == Int64(bytes.count), "\(item.id): fileSize \(result.fileSize), file has \(bytes.count)")
        if let size = item.size { try check(Int64(bytes.count) == size, "\(item.id): \(bytes.count) bytes, listed \(size)") }
        for checksum in item.checksums {
            try check(result.checksum(checksum.algorithm) == checksum.value, "\(item.id): \(checksum.algorithm.rawValue) differs")
        }
        try check(result.checksum(.sha256) == FileDigest.sha256(bytes), "\(item.id): sha256 is not the bytes' sha256")
        return bytes
    }

    /// Fetches the first half of `item`, then resumes: the file is whole and byte-identical.
    /// `expectRange`: the server honours `Range`, so only the second half travels.
    public static func resume(_ connector: any Connector, _ item: RemoteItem, whole: [UInt8], expectRange: Bool = false) async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let part = folder + "/item.part"
        try Data(whole.prefix(whole.count / 2)).write(to: URL(fileURLWithPath: part))
        let result = try await connector.fetch(item, to: part, resume: true, progress: nil)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: part)))
        try check(bytes == whole, "\(item.id): resumed file differs from the whole")
        if expectRange, whole.count >= 2 {
            try check(result.resumed && result.bytesTransferred == Int64(whole.count - whole.count / 2),
                      "\(item.id): the resume fetched \(result.bytesTransferred) bytes, not the missing half")
        }
        try check(result.checksum(.sha256) == FileDigest.sha256(whole), "\(item.id): resumed sha256 is not the whole file's")
    }

    /// A broken promise.
    public struct ContractViolation: Error, CustomStringConvertible {
        public var description: String
    }

    static func check(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw ContractViolation(description: message()) }
    }

    static func temporaryFolder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("flowctl-contract-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
