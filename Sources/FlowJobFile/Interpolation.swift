/// Expands `${env.NAME}`, `${env.NAME:-default}` and `${vars.name}` in job-file strings;
/// `$${` writes a literal `${`.
struct Interpolator {
    var environment: [String: String]
    var vars: [String: String]

    enum Failure: Error, Equatable {
        case unset(String)
        case unknownVar(String, suggestion: String?)
        case malformed(String)
    }

    /// The expanded text, and whether any of it came from the environment.
    func expand(_ text: String) throws(Failure) -> (text: String, fromEnvironment: Bool) {
        guard text.contains("${") else { return (text, false) }
        var out = ""
        var fromEnvironment = false
        var rest = Substring(text)
        while let dollar = rest.range(of: "${") {
            let before = rest[..<dollar.lowerBound]
            if before.hasSuffix("$") {
                out += before.dropLast() + "${"
                rest = rest[dollar.upperBound...]
                continue
            }
            out += before
            guard let close = rest[dollar.upperBound...].firstIndex(of: "}") else {
                throw .malformed("unclosed `${` in \"\(text)\"")
            }
            let expression = String(rest[dollar.upperBound..<close])
            rest = rest[rest.index(after: close)...]
            var name = expression
            var fallback: String?
            if let sep = expression.range(of: ":-") {
                name = String(expression[..<sep.lowerBound])
                fallback = String(expression[sep.upperBound...])
            }
            if name.hasPrefix("env.") {
                let variable = String(name.dropFirst(4))
                if let value = environment[variable], !value.isEmpty {
                    out += value
                    fromEnvironment = true
                } else if let fallback {
                    out += fallback
                } else {
                    throw .unset(variable)
                }
            } else if name.hasPrefix("vars.") {
                let key = String(name.dropFirst(5))
                if let value = vars[key] {
                    out += value
                } else if let fallback {
                    out += fallback
                } else {
                    throw .unknownVar(key, suggestion: Suggest.nearestName(key, in: vars.keys))
                }
            } else {
                throw .malformed("`${\(expression)}` is neither `${env.NAME}` nor `${vars.NAME}`")
            }
        }
        out += rest
        return (out, fromEnvironment)
    }
}

import FlowModel

extension Suggest {
    static func nearestName(_ word: String, in names: some Sequence<String>) -> String? {
        nearest(word, in: names)
    }
}
