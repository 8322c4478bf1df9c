import FlowModel
import Yams

/// A YAML node with its place in the file: the loader's input, simpler to walk than Yams' `Node`.
struct YNode {
    enum Value {
        case scalar(String, plain: Bool)
        case mapping([(key: YNode, value: YNode)])
        case sequence([YNode])
    }

    var value: Value
    var location: SourceLocation

    var scalar: String? { if case .scalar(let s, _) = value { return s } else { return nil } }
    var pairs: [(key: YNode, value: YNode)]? { if case .mapping(let p) = value { return p } else { return nil } }
    var items: [YNode]? { if case .sequence(let s) = value { return s } else { return nil } }
    /// A plain `~`, `null` or empty scalar.
    var isNull: Bool {
        if case .scalar(let s, let plain) = value { return plain && (s.isEmpty || s == "~" || s == "null" || s == "Null") }
        return false
    }

    var kindName: String {
        switch value {
        case .scalar: return "a value"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }

    /// The value at a key of a mapping.
    subscript(key: String) -> YNode? {
        pairs?.first { $0.key.scalar == key }?.value
    }
}

/// Parses text into a `YNode` tree, turning libyaml's errors into diagnostics at their place.
enum YAMLReader {
    /// Alias expansion could otherwise make a small file into a huge tree ("billion laughs").
    static let maxNodes = 200_000

    /// What to write instead, for the YAML mistakes people make by hand, judged from libyaml's
    /// problem and context and the text of the line it names; `atContext`: the mistake is
    /// where libyaml's context starts (it only noticed it a line later).
    static func advice(problem: String, context: String?, line: String) -> (text: String, atContext: Bool)? {
        let code = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? line
        let trimmed = code.drop { $0 == " " }
        if context == "while scanning an alias" || context == "while scanning an anchor" {
            let sign = context == "while scanning an alias" ? "*" : "&"
            return ("a value that starts with `\(sign)` is YAML's \(sign == "*" ? "alias" : "anchor") syntax: "
                    + "quote it, e.g. `files: \"\(sign).dcm\"`", true)
        }
        if problem.hasPrefix("did not find expected ',' or '}'") || problem.hasPrefix("did not find expected ',' or ']'"),
           code.contains("${") {
            return ("inside `{...}` or `[...]`, a value holding `${...}` must be quoted, e.g. "
                    + "`{url: \"${env.XNAT_URL}\"}`", false)
        }
        if problem.hasPrefix("could not find expected ':'"), context == "while scanning a simple key" {
            if trimmed.hasPrefix("-"), !trimmed.hasPrefix("- "), !trimmed.hasPrefix("-\t"), trimmed != "-" {
                return ("a list item is `- value`, with a space after the dash", true)
            }
            if let colon = trimmed.firstIndex(of: ":"), trimmed.index(after: colon) < trimmed.endIndex,
               trimmed[trimmed.index(after: colon)] != " " {
                let key = trimmed[..<colon], value = trimmed[trimmed.index(after: colon)...]
                return ("a key and its value are `key: value`, with a space after the colon: `\(key): \(value)`", true)
            }
            return ("each line is `key: value` or a list item `- value`", true)
        }
        if problem.hasPrefix("did not find expected key") || problem.hasPrefix("mapping values are not allowed") {
            return ("check this line's indentation: the keys of one mapping start in the same column, "
                    + "and a value of `key: value` that holds `: ` must be quoted", false)
        }
        return nil
    }

    static func read(_ source: SourceText) -> (YNode?, [Diagnostic]) {
        let path = source.path
        func at(_ mark: Mark?) -> SourceLocation {
            SourceLocation(file: path, line: mark?.line ?? 1, column: mark?.column ?? 1)
        }
        let root: Node?
        do {
            // No tag resolution: the loader reads scalars as text (and knows plain from quoted).
            // Yams' default resolver compiles ICU regular expressions: ~2 MB and milliseconds.
            root = try Yams.compose(yaml: source.text, .basic)
        } catch let error as YamlError {
            switch error {
            case .scanner(let context, let problem, let mark, _),
                 .parser(let context, let problem, let mark, _),
                 .composer(let context, let problem, let mark, _):
                var message = "YAML syntax: \(problem)"
                if let context { message += " (\(context.text) at line \(context.mark.line), column \(context.mark.column))" }
                // libyaml's words name its grammar; say what the newcomer wrote and what to write.
                guard let advice = advice(problem: problem, context: context?.text,
                                          line: source.line(context?.mark.line ?? mark.line) ?? "") else {
                    return (nil, [Diagnostic(.error, message, at: at(mark))])
                }
                return (nil, [Diagnostic(.error, message + "; " + advice.text, at: at(advice.atContext ? context?.mark ?? mark : mark))])
            case .duplicatedKeysInMapping(let duplicates, let context):
                return (nil, duplicates.map { key in
                    Diagnostic(.error, "duplicate key `\(key)`: each key may appear once in a mapping",
                               at: secondOccurrence(of: key, after: context.mark, in: source) ?? at(context.mark))
                })
            case .reader(let problem, _, _, _):
                return (nil, [Diagnostic(.error, "cannot read the file: \(problem)", at: at(nil))])
            default:
                return (nil, [Diagnostic(.error, "YAML: \(error)", at: at(nil))])
            }
        } catch {
            return (nil, [Diagnostic(.error, "YAML: \(error)", at: at(nil))])
        }
        guard let root else {
            return (nil, [Diagnostic(.error, "file holds no YAML document; a job file starts with `flowctl: 1`", at: at(nil))])
        }
        var budget = maxNodes
        guard let tree = convert(root, path: path, budget: &budget) else {
            return (nil, [Diagnostic(.error, "the document expands to more than \(maxNodes) nodes (aliases used as a "
                + "bomb?); job files are small", at: at(root.mark))])
        }
        return (tree, [])
    }

    private static func convert(_ node: Node, path: String, budget: inout Int) -> YNode? {
        budget -= 1
        if budget < 0 { return nil }
        let location = SourceLocation(file: path, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1)
        switch node {
        case .scalar(let scalar):
            return YNode(value: .scalar(scalar.string, plain: scalar.style == .plain || scalar.style == .any), location: location)
        case .mapping(let mapping):
            var pairs: [(key: YNode, value: YNode)] = []
            for (key, value) in mapping {
                guard let k = convert(key, path: path, budget: &budget),
                      let v = convert(value, path: path, budget: &budget) else { return nil }
                pairs.append((k, v))
            }
            return YNode(value: .mapping(pairs), location: location)
        case .sequence(let sequence):
            var items: [YNode] = []
            for item in sequence {
                guard let converted = convert(item, path: path, budget: &budget) else { return nil }
                items.append(converted)
            }
            return YNode(value: .sequence(items), location: location)
        case .alias:
            return YNode(value: .scalar("", plain: true), location: location)
        }
    }

    /// libyaml reports a duplicate at its first occurrence; users need the second one too.
    private static func secondOccurrence(of key: String, after mark: Mark, in source: SourceText) -> SourceLocation? {
        var line = mark.line + 1
        while let text = source.line(line) {
            let indent = text.prefix { $0 == " " }.count
            if indent + 1 < mark.column, !text.trimmingWhitespace.isEmpty, !text.trimmingWhitespace.hasPrefix("#") { break }
            if indent + 1 == mark.column {
                let rest = text.dropFirst(indent)
                if rest.hasPrefix(key + ":") || rest.hasPrefix("\"\(key)\":") || rest.hasPrefix("'\(key)':") {
                    return SourceLocation(file: source.path, line: line, column: mark.column)
                }
            }
            line += 1
        }
        return nil
    }
}
