import Foundation
import Testing
import Yams
@testable import FlowJobFile
import FlowModel

/// The repository root, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

@Suite struct SchemaTests {
    @Test func committedSchemaIsTheGeneratedOne() throws {
        let committed = try String(contentsOf: repositoryRoot.appendingPathComponent("schemas/flowctl-job.schema.json"), encoding: .utf8)
        #expect(committed == JobSchema.json(), "run `flowctl schema > schemas/flowctl-job.schema.json`")
    }

    @Test func everyShippedJobValidatesAgainstTheSchemaAndTheLoader() throws {
        let jobs = repositoryRoot.appendingPathComponent("jobs")
        let files = try FileManager.default.contentsOfDirectory(atPath: jobs.path).filter { $0.hasSuffix(".yml") }.sorted()
        #expect(!files.isEmpty)
        let schema = try JSONSerialization.jsonObject(with: Data(JobSchema.json().utf8)) as! [String: Any]
        for file in files {
            let path = jobs.appendingPathComponent(file).path
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let value = try #require(try Yams.load(yaml: text))
            let problems = MiniSchemaValidator(root: schema).validate(value)
            #expect(problems.isEmpty, "\(file): \(problems)")
            let loaded = JobLoader(environment: [:], tolerateUnsetEnvironment: true).load(path: path)
            #expect(loaded.errors.isEmpty, "\(file): \(loaded.rendered())")
        }
    }

    /// Issue #26: PyYAML (YAML 1.1) reads a bare `on:` key as `true`, so a schema check in Python
    /// rejected two shipped jobs. No key of a shipped job or of the schema is such a word.
    @Test func noKeyReadsAsABooleanInYAML11() throws {
        let yaml11Booleans: Set<String> = ["y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE",
                                           "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF"]
        func keys(_ node: Node) -> [String] {
            switch node {
            case .mapping(let m): m.flatMap { pair in (pair.key.string.map { [$0] } ?? []) + keys(pair.value) }
            case .sequence(let s): s.flatMap(keys)
            default: []
            }
        }
        let jobs = repositoryRoot.appendingPathComponent("jobs")
        for file in try FileManager.default.contentsOfDirectory(atPath: jobs.path) where file.hasSuffix(".yml") {
            let node = try #require(try Yams.compose(yaml: String(contentsOfFile: jobs.appendingPathComponent(file).path, encoding: .utf8)))
            #expect(keys(node).filter(yaml11Booleans.contains).isEmpty, "\(file)")
        }
        let all = Set(Keys.top + Keys.sourceCommon + Keys.actionCommon + Keys.selectionCommon + Keys.layout + Keys.wait)
        #expect(all.intersection(yaml11Booleans).isEmpty)
    }

    @Test func schemaAndLoaderAgreeOnKeys() throws {
        let schema = JobSchema.document()
        let top = Set((schema["properties"] as! [String: Any]).keys)
        #expect(top == Set(Keys.top))
        let defs = schema["$defs"] as! [String: Any]
        let actions = (defs["action"] as! [String: Any])["oneOf"] as! [[String: Any]]
        for (kind, action) in zip(ActionKind.allCases, actions) {
            let keys = Set((action["properties"] as! [String: Any]).keys)
            #expect(keys == Set([kind.rawValue] + Keys.actionKeys(for: kind)))
        }
        let sources = (defs["source"] as! [String: Any])["oneOf"] as! [[String: Any]]
        #expect(sources.count == SourceType.allCases.count)
        // Fixtures the loader rejects for unknown keys are rejected by the schema too.
        let bad = try #require(try Yams.load(yaml: "flowctl: 1\nactoins: {}\n"))
        #expect(!MiniSchemaValidator(root: schema).validate(bad).isEmpty)
    }
}

/// Just enough JSON Schema (2020-12) to check job files against the generated schema:
/// type, const, enum, properties, additionalProperties, required, items, minItems,
/// minProperties, oneOf, anyOf and local $ref.
struct MiniSchemaValidator {
    let root: [String: Any]

    func validate(_ value: Any) -> [String] { check(normalized(value), root, "$") }

    /// Yams gives mappings as `[AnyHashable: Any]`; JSON Schema speaks of string keys.
    private func normalized(_ value: Any) -> Any {
        if let mapping = value as? [AnyHashable: Any] {
            return Dictionary(uniqueKeysWithValues: mapping.map { ("\($0.key.base)", normalized($0.value)) })
        }
        if let array = value as? [Any] { return array.map(normalized) }
        return value
    }

    private func check(_ value: Any, _ schema: [String: Any], _ path: String) -> [String] {
        if let ref = schema["$ref"] as? String {
            let name = String(ref.dropFirst("#/$defs/".count))
            return check(value, (root["$defs"] as! [String: Any])[name] as! [String: Any], path)
        }
        var problems: [String] = []
        if let type = schema["type"] {
            let types = (type as? [String]) ?? [type as! String]
            if !types.contains(where: { matches(value, type: $0) }) { return ["\(path): not \(types)"] }
        }
        if let constant = schema["const"], "\(constant)" != "\(value)" { problems.append("\(path): must be \(constant)") }
        if let options = schema["enum"] as? [String], !options.contains("\(value)") { problems.append("\(path): not in \(options)") }
        if let oneOf = schema["oneOf"] as? [[String: Any]] {
            let passing = oneOf.filter { check(value, $0, path).isEmpty }.count
            if passing != 1 { problems.append("\(path): matches \(passing) of oneOf") }
        }
        if let anyOf = schema["anyOf"] as? [[String: Any]], !anyOf.contains(where: { check(value, $0, path).isEmpty }) {
            problems.append("\(path): matches none of anyOf")
        }
        if let object = value as? [String: Any] {
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for key in schema["required"] as? [String] ?? [] where object[key] == nil { problems.append("\(path): missing \(key)") }
            if let min = schema["minProperties"] as? Int, object.count < min { problems.append("\(path): too few keys") }
            for (key, child) in object {
                if let sub = properties[key] as? [String: Any] {
                    problems += check(child, sub, "\(path).\(key)")
                } else if let additional = schema["additionalProperties"] {
                    if let allowed = additional as? Bool {
                        if !allowed { problems.append("\(path): unknown key \(key)") }
                    } else if let sub = additional as? [String: Any] {
                        problems += check(child, sub, "\(path).\(key)")
                    }
                }
            }
        }
        if let array = value as? [Any] {
            if let min = schema["minItems"] as? Int, array.count < min { problems.append("\(path): too few items") }
            if let items = schema["items"] as? [String: Any] {
                for (i, element) in array.enumerated() { problems += check(element, items, "\(path)[\(i)]") }
            }
        }
        return problems
    }

    private func matches(_ value: Any, type: String) -> Bool {
        switch type {
        case "object": return value is [String: Any]
        case "array": return value is [Any]
        case "string": return value is String
        case "boolean": return value is Bool
        case "integer": return value is Int
        case "number": return value is Int || value is Double
        default: return false
        }
    }
}
