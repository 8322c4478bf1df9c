/// An output path template such as `{subject.label}/{scan.type|lower}/{file.name}`.
///
/// A `{...}` holds a field and filters separated by `|`: `lower`, `upper`, `stem`, `ext`,
/// `default(text)`, `map(table)` (a table of the layout), `bids-label`, `bids-datatype`,
/// `bids-suffix`. `{{` and `}}` write literal braces. Rendering never leaves the output root:
/// see `SafePath`.
public struct LayoutTemplate: Sendable, Hashable, CustomStringConvertible {
    public let text: String
    public let segments: [Segment]

    public enum Segment: Sendable, Hashable {
        case literal(String)
        case field(name: String, filters: [Filter], offset: Int)
    }

    public struct Filter: Sendable, Hashable {
        public var name: String
        public var argument: String?
    }

    /// A problem in a template, with the character offset it starts at.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public var message: String
        public var offset: Int
        public var description: String { message }
    }

    public static let filterNames = ["lower", "upper", "stem", "ext", "default", "map",
                                     "bids-label", "bids-datatype", "bids-suffix"]

    public init(_ text: String) throws(ParseError) {
        self.text = text
        var segments: [Segment] = []
        var literal = ""
        let chars = Array(text)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "{" && i + 1 < chars.count && chars[i + 1] == "{" {
                literal.append("{"); i += 2; continue
            }
            if c == "}" && i + 1 < chars.count && chars[i + 1] == "}" {
                literal.append("}"); i += 2; continue
            }
            if c == "}" { throw ParseError(message: "unmatched `}` (write `}}` for a literal brace)", offset: i) }
            if c != "{" { literal.append(c); i += 1; continue }
            guard let close = chars[(i + 1)...].firstIndex(of: "}") else {
                throw ParseError(message: "unclosed `{`", offset: i)
            }
            if !literal.isEmpty { segments.append(.literal(literal)); literal = "" }
            let body = String(chars[(i + 1)..<close])
            segments.append(try LayoutTemplate.parseField(body, offset: i + 1))
            i = close + 1
        }
        if !literal.isEmpty { segments.append(.literal(literal)) }
        if segments.isEmpty { throw ParseError(message: "empty layout", offset: 0) }
        try LayoutTemplate.checkLiterals(text)
        self.segments = segments
    }

    /// A layout's own text never leaves the output folder: no leading `/` (paths are relative to
    /// the action's `to:`) and no `..` part. Field values are checked as they render.
    static func checkLiterals(_ text: String) throws(ParseError) {
        if text.hasPrefix("/") {
            throw ParseError(message: "a layout is a path inside the output folder (`to:`); it cannot start with `/`", offset: 0)
        }
        var offset = 0
        for part in text.split(separator: "/", omittingEmptySubsequences: false) {
            if part == ".." { throw ParseError(message: "a layout cannot climb out of the output folder with `..`", offset: offset) }
            offset += part.count + 1
        }
    }

    private static func parseField(_ body: String, offset: Int) throws(ParseError) -> Segment {
        var parts = body.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingWhitespace }
        let name = parts.removeFirst()
        guard !name.isEmpty else { throw ParseError(message: "empty field name in `{\(body)}`", offset: offset) }
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || "._-".contains($0) }) else {
            throw ParseError(message: "`\(name)` is not a field name", offset: offset)
        }
        var filters: [Filter] = []
        for part in parts {
            var filterName = part
            var argument: String?
            if let open = part.firstIndex(of: "(") {
                guard part.hasSuffix(")") else {
                    throw ParseError(message: "filter `\(part)` lacks its closing `)`", offset: offset)
                }
                filterName = String(part[..<open]).trimmingWhitespace
                argument = String(part[part.index(after: open)..<part.index(before: part.endIndex)])
            }
            guard filterNames.contains(filterName) else {
                let hint = Suggest.nearest(filterName, in: filterNames).map { "; did you mean `\($0)`?" } ?? ""
                throw ParseError(message: "unknown filter `\(filterName)`\(hint)", offset: offset)
            }
            if (filterName == "map" || filterName == "default"), argument == nil {
                throw ParseError(message: "filter `\(filterName)` needs an argument: `\(filterName)(...)`", offset: offset)
            }
            filters.append(Filter(name: filterName, argument: argument))
        }
        return .field(name: name, filters: filters, offset: offset)
    }

    public var description: String { text }

    /// The fields the template reads.
    public var fieldNames: [String] {
        segments.compactMap { if case .field(let name, _, _) = $0 { return name } else { return nil } }
    }

    /// The map tables the template names.
    public var mapNames: [String] {
        segments.flatMap { segment -> [String] in
            guard case .field(_, let filters, _) = segment else { return [] }
            return filters.filter { $0.name == "map" }.compactMap(\.argument)
        }
    }

    /// Why an item could not be given a path.
    public enum RenderError: Error, Sendable, Hashable, CustomStringConvertible {
        case missingField(String)
        case unsafe(String)
        /// A scan type that neither the layout's `bids` map nor the built-in rules place.
        case unplaceable(String)
        public var description: String {
            switch self {
            case .missingField(let f): return "the item has no `\(f)` (add `|default(...)`)"
            case .unsafe(let why): return "unsafe path: \(why)"
            case .unplaceable(let type):
                return "scan type \(ErrorText.quoted(type)) has no BIDS datatype; map it in the job: "
                    + "`layouts: {bids: {maps: {bids: {\(ErrorText.quoted(type)): anat/T1w}}}}` (datatype/suffix)"
            }
        }
    }

    /// Renders a relative path for an item's fields, safe to join to an output root.
    public func render(_ fields: [String: String], maps: [String: [String: String]] = [:]) throws(RenderError) -> String {
        var renamed: [Rename] = []
        return try render(field: { fields[$0] }, maps: maps, renamed: &renamed)
    }

    /// A server's value that had to change to be a safe path (`a/b` -> `a_b`).
    public struct Rename: Sendable, Hashable, CustomStringConvertible {
        public var field: String
        public var original: String
        public var safe: String
        public var description: String { "`\(field)` \(ErrorText.quoted(original)) written as \(ErrorText.quoted(safe))" }
    }

    /// Renders a relative path, asking `field` for each value (so no dictionary of fields need
    /// be built per item).
    /// Every value that had to change to be safe is added to `renamed`.
    public func render(field: (String) -> String?, maps: [String: [String: String]] = [:],
                       renamed: inout [Rename]) throws(RenderError) -> String {
        var path = ""
        for segment in segments {
            switch segment {
            case .literal(let text):
                path += text
            case .field(let name, let filters, _):
                var value = field(name) ?? BIDS.derived(name, field: field)
                for filter in filters {
                    if filter.name.hasPrefix("bids-"), filter.name != "bids-label", let type = value,
                       BIDS.classify(type, overrides: maps[BIDS.mapTable] ?? [:]) == nil {
                        throw .unplaceable(type)
                    }
                    value = LayoutTemplate.apply(filter, to: value, maps: maps)
                }
                guard let value else { throw .missingField(name) }
                // An empty folder field (a file at the top) renders as nothing; other fields must say something.
                if value.isEmpty {
                    // So is an extension (a DICOM file often has none).
                    if LayoutTemplate.isPathField(name) || name.hasSuffix(".ext") { continue }
                    throw .unsafe("`\(name)` is empty")
                }
                // A field value is one path component unless the field is itself a path.
                let safe = LayoutTemplate.isPathField(name) ? try SafePath.relativePath(value) : try SafePath.component(value)
                if safe != value { renamed.append(Rename(field: name, original: value, safe: safe)) }
                path += safe
            }
        }
        return try SafePath.normalize(path)
    }

    /// Fields whose values are relative paths (`file.path`, `file.dir`): their `/` are kept,
    /// each part made safe, `..` refused. Every other value is one path component.
    public static func isPathField(_ name: String) -> Bool {
        name.hasSuffix(".path") || name.hasSuffix(".dir")
    }

    static func apply(_ filter: Filter, to value: String?, maps: [String: [String: String]]) -> String? {
        switch filter.name {
        case "default": return (value?.isEmpty ?? true) ? filter.argument : value
        case "lower": return value?.lowercased()
        case "upper": return value?.uppercased()
        case "stem": return value.map(FileName.stem(of:))
        case "ext": return value.map(FileName.extension(of:))
        case "map":
            guard let value else { return nil }
            return maps[filter.argument ?? ""]?[value] ?? value
        case "bids-label": return value.map(BIDS.label)
        case "bids-datatype": return value.flatMap { BIDS.classify($0, overrides: maps[BIDS.mapTable] ?? [:])?.datatype }
        case "bids-suffix": return value.flatMap { BIDS.classify($0, overrides: maps[BIDS.mapTable] ?? [:])?.suffix }
        default: return value
        }
    }
}

/// A named layout: a template and its map tables.
public struct LayoutSpec: Sendable, Hashable {
    public var name: String
    public var template: LayoutTemplate
    public var maps: [String: [String: String]]
    /// The built-in `bids` layout only: what the job adds to `dataset_description.json`.
    public var dataset = BIDSDataset.DatasetFields()
    public var location: SourceLocation?

    public init(name: String, template: LayoutTemplate, maps: [String: [String: String]] = [:],
                location: SourceLocation? = nil) {
        self.name = name
        self.template = template
        self.maps = maps
        self.location = location
    }

    /// The default layout when a download names none: source-independent and collision-free.
    public static let `default` = LayoutSpec(name: "default", template: try! LayoutTemplate("{item.id|default(item)}"))

    /// The built-in BIDS layout: `sub-*/ses-*/<datatype>/sub-*_ses-*_<suffix><ext>`.
    public static let bids = LayoutSpec(
        name: "bids",
        template: try! LayoutTemplate(
            "sub-{bids.subject|bids-label}/ses-{bids.session|bids-label}/{bids.type|bids-datatype}/"
                + "sub-{bids.subject|bids-label}_ses-{bids.session|bids-label}"
                + "{bids.run}_{bids.type|bids-suffix}{file.ext}"))

    /// The built-in BIDS layout with the job's own `bids` map (scan type -> `datatype/suffix`) and
    /// dataset fields.
    public static func bids(maps: [String: [String: String]], dataset: BIDSDataset.DatasetFields = .init(),
                            location: SourceLocation? = nil) -> LayoutSpec {
        var spec = LayoutSpec(name: bids.name, template: bids.template, maps: maps, location: location)
        spec.dataset = dataset
        return spec
    }

    /// Whether this is the built-in BIDS layout (with or without the job's map): its output
    /// folders get the dataset's own files (`BIDSDataset`).
    public var isBIDS: Bool { name == LayoutSpec.bids.name && template == LayoutSpec.bids.template }

    /// The path of what a conversion makes of an item, without extension (`{file.ext}` renders
    /// empty): the converter adds `.nii.gz`, `.json`, `.bval`, `.bvec`.
    public func renderStem(_ item: RemoteItem, renamed: inout [LayoutTemplate.Rename]) throws(LayoutTemplate.RenderError) -> String {
        try template.render(field: { $0 == "file.ext" ? "" : item.field($0) }, maps: maps, renamed: &renamed)
    }

    /// Renders the relative path of an item.
    public func render(_ fields: [String: String]) throws(LayoutTemplate.RenderError) -> String {
        try template.render(fields, maps: maps)
    }

    /// Renders the relative path of an item from its fields (`RemoteItem.allFields`).
    public func render(_ item: RemoteItem) throws(LayoutTemplate.RenderError) -> String {
        var renamed: [LayoutTemplate.Rename] = []
        return try template.render(field: item.field, maps: maps, renamed: &renamed)
    }

    /// `render`, adding to `renamed` every server value that had to change to be safe.
    public func render(_ item: RemoteItem, renamed: inout [LayoutTemplate.Rename]) throws(LayoutTemplate.RenderError) -> String {
        try template.render(field: item.field, maps: maps, renamed: &renamed)
    }
}
