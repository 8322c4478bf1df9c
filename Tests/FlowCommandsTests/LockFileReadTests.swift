import Foundation
import Testing
@testable import FlowCommands

/// A lock file edited by hand, or left with a merge conflict, said
/// `DecodingError.dataCorrupted: Data was corrupted. Debug description: ...`: neither where nor what to do.
@Suite struct LockFileReadTests {
    func damaged(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "flowctl-lock-\(UUID().uuidString).lock.json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try LockWriter.read(path)
            return "read"
        } catch {
            let text = "\(error)"
            #expect(text.hasPrefix("lock file \(path) is damaged: "), "\(text)")
            #expect(text.hasSuffix("; restore it from git (`git checkout -- \(path)`), or pin the remote again with `flowctl lock --update`"),
                    "\(text)")
            #expect(!text.contains("DecodingError"), "\(text)")
            return text
        }
    }

    @Test func aTruncatedLockSaysItIsNotJSON() throws {
        #expect(try damaged("{\n  \"format_version\" : 1,\n  \"job\" : {").contains("is damaged: not valid JSON"))
    }

    @Test func aMissingFieldIsNamedWithItsPlace() throws {
        let text = try damaged(#"{"format_version": 1, "flowctl_version": "0.1.0", "job": {"name": "x"}, "selections": {}}"#)
        #expect(text.contains("missing field `sha256` at .job"), "\(text)")
    }
}
