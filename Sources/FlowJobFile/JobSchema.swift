import Foundation
import FlowModel

/// The JSON Schema (2020-12) of job files, generated from the same tables the loader checks
/// against (`Keys`, `PlatformCatalog`), so editors and the loader agree on every key.
public enum JobSchema {
    public static let id = "https://flowctl.dev/schemas/flowctl-job.schema.json"

    /// The schema as pretty-printed JSON with sorted keys (stable for git).
    public static func json() -> String {
        let data = try! JSONSerialization.data(withJSONObject: document(), options: [.prettyPrinted, .sortedKeys,
                                                                                     .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static var scalar: [String: Any] { ["type": ["string", "number", "boolean"]] }
    static var text: [String: Any] { ["type": "string"] }
    static func ref(_ name: String) -> [String: Any] { ["$ref": "#/$defs/\(name)"] }
    static func object(_ properties: [String: Any], required: [String] = [], description: String? = nil) -> [String: Any] {
        var o: [String: Any] = ["type": "object", "properties": properties, "additionalProperties": false]
        if !required.isEmpty { o["required"] = required }
        if let description { o["description"] = description }
        return o
    }
    static func map(of value: [String: Any], description: String) -> [String: Any] {
        ["type": "object", "additionalProperties": value, "description": description]
    }

    public static func document() -> [String: Any] {
        [
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": id,
            "title": "flowctl job file",
            "description": "A declarative pipeline of medical-imaging data: sources, selections, actions, layouts.",
            "type": "object",
            "required": ["flowctl"],
            "additionalProperties": false,
            "properties": [
                "flowctl": ["const": 1, "description": "Job-file format version."],
                "name": text,
                "description": text,
                "vars": map(of: scalar, description: "Values used as ${vars.NAME}."),
                "sources": map(of: ref("source"), description: "Named connections to platforms."),
                "select": map(of: ref("selection"), description: "Named selections: which items to take."),
                "actions": map(of: ref("action"), description: "Named actions: download, upload, tag, run."),
                "slurm": object([
                    "shards": ["type": "integer", "minimum": 1], "max-running": ["type": "integer", "minimum": 1],
                    "jobs": ["type": "integer", "minimum": 1], "partition": text, "time": text, "mem": text, "shard-by": text,
                ], description: "Settings of `flowctl submit --slurm` (the command line wins): shards, array throttle, resources."),
                "layouts": { () -> [String: Any] in
                    var layouts = map(of: ["oneOf": [text, ref("layout")]], description: "Output path templates.")
                    // `bids` is the built-in layout: the job may only extend its scan-type map.
                    var dataset: [String: Any] = [:]
                    for key in BIDSDataset.DatasetFields.textKeys { dataset[key] = text }
                    for key in BIDSDataset.DatasetFields.listKeys { dataset[key] = ["oneOf": [text, ["type": "array", "items": text]]] }
                    layouts["properties"] = ["bids": object([
                        "maps": object(["bids": map(of: text, description: "scan type -> datatype/suffix, e.g. anat/T1w")]),
                        "dataset": object(dataset, description: "Fields of dataset_description.json, under BIDS' names."),
                    ])]
                    return layouts
                }(),
            ] as [String: Any],
            "$defs": definitions(),
        ]
    }

    static func definitions() -> [String: Any] {
        var defs: [String: Any] = [:]
        defs["source"] = ["oneOf": SourceType.allCases.map(sourceSchema)]
        var levelKeys = Set<String>()
        for type in SourceType.allCases {
            for level in PlatformCatalog.of(type).levels { levelKeys.insert(level.key); levelKeys.formUnion(level.aliases) }
        }
        var selectionProperties: [String: Any] = ["source": text]
        for key in levelKeys { selectionProperties[key] = ref("levelFilter") }
        defs["selection"] = object(selectionProperties, required: ["source"],
                                   description: "Level keys depend on the source's type (see the platform's levels).")
        defs["matcher"] = [
            "oneOf": [
                scalar,
                ["type": "array", "items": ref("matcher"), "minItems": 1] as [String: Any],
                ["type": "object", "minProperties": 1, "additionalProperties": false, "properties": [
                    "regex": text, "glob": text, "not": ref("matcher"), "any": ref("matcher"),
                    "all": ["type": "array", "items": ref("matcher")] as [String: Any],
                    "gt": scalar, "ge": scalar, "lt": scalar, "le": scalar,
                ] as [String: Any]] as [String: Any],
            ],
        ]
        defs["levelFilter"] = ["anyOf": [ref("matcher"), map(of: ref("matcher"), description: "field: matcher")]]
        defs["action"] = ["oneOf": ActionKind.allCases.map(actionSchema)]
        defs["layout"] = object(["path": text, "maps": map(of: map(of: scalar, description: "value -> replacement"),
                                                             description: "Tables for the map(...) filter.")],
                                required: ["path"])
        return defs
    }

    static func sourceSchema(_ type: SourceType) -> [String: Any] {
        var properties: [String: Any] = [
            "type": ["const": type.rawValue],
            "url": text,
            "netrc": ["type": "boolean"],
            "concurrency": ["type": ["integer", "string"]],
            "rate": ["type": "string", "description": "Requests per second at most: 20/s, 600/m."] as [String: Any],
            "timeout": scalar,
            "stall": ["type": ["string", "number"], "description": "How long without a byte is a stalled transfer: 45s."] as [String: Any],
            "max-file-size": ["type": ["string", "number"], "description": "Largest file of unlisted size: 64GiB."] as [String: Any],
            "retry": object(["attempts": ["type": ["integer", "string"]], "max-time": scalar]),
            "tls": object(["ca": text, "insecure": ["type": "boolean"]]),
        ]
        for key in PlatformCatalog.of(type).credentialKeys { properties[key] = text }
        for key in PlatformCatalog.of(type).credentialCommandKeys {
            properties[key] = ["type": "string", "description": "A command that prints the secret: pass show xnat."]
        }
        if type == .loris {
            // A string, not an enum: job files usually interpolate it (`${env.LORIS_API_VERSION:-v0.0.3-dev}`).
            properties["api"] = ["type": "string", "description": "LORIS API: v0.0.3-dev, v0.0.3 or v0.0.4-dev."]
        }
        if type == .http { properties["index"] = ["type": "string", "description": "A file of paths or URLs, one per line."] }
        if type == .grandChallenge || type == .agora {
            properties["part-size"] = ["type": ["string", "integer"], "description": "Bytes per upload part: 32MiB (GC), 100MiB (Agora)."] as [String: Any]
            properties["processing-timeout"] = ["type": ["string", "integer"],
                                                "description": "How long to wait for the platform to process an upload: 60s (GC image), 1h (Agora import)."] as [String: Any]
        }
        precondition(Set(properties.keys) == Set(Keys.sourceCommon + PlatformCatalog.of(type).credentialKeys
            + PlatformCatalog.of(type).credentialCommandKeys
            + Keys.sourceOptions(for: type)), "schema and loader disagree on source keys")
        return object(properties, required: ["type", "url"])
    }

    static func actionSchema(_ kind: ActionKind) -> [String: Any] {
        var properties: [String: Any] = [kind.rawValue: text]
        for key in Keys.actionKeys(for: kind) {
            switch key {
            case "after", "tags", "extras": properties[key] = ["oneOf": [text, ["type": "array", "items": text] as [String: Any]]]
            case "overwrite": properties[key] = ["type": "boolean"]
            case "into": properties[key] = object(Dictionary(uniqueKeysWithValues: Keys.intoKeys.map { ($0, text as Any) }))
            case "wait": properties[key] = object(["timeout": scalar, "poll": scalar])
            case "convert":
                let tool: [String: Any] = ["enum": ConvertSpec.tools]
                properties[key] = ["oneOf": [tool, object(["tool": tool, "concurrency": ["type": ["integer", "string"]]],
                                                            required: ["tool"])],
                                   "description": "Convert each scan's downloaded files on this machine (dcm2niix)."] as [String: Any]
            case "archive":
                let format: [String: Any] = ["enum": ArchiveSpec.formats]
                properties[key] = ["oneOf": [format, object(["format": format, "per": ["enum": ArchiveSpec.Unit.allCases.map(\.rawValue)],
                                                              "max-members": ["type": ["integer", "string"]],
                                                              "max-bytes": scalar, "max-ratio": ["type": ["integer", "string"]]])],
                                   "description": "Fetch XNAT files as archives: one request per scan, resource or session (zip, tar.gz)."] as [String: Any]
            default: properties[key] = text
            }
        }
        return object(properties, required: [kind.rawValue])
    }
}
