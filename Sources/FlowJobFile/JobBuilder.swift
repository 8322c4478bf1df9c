import FlowModel
import Foundation

/// Turns a YAML tree into a `Job`, collecting diagnostics instead of stopping at the first one.
struct JobBuilder {
    let path: String
    let environment: [String: String]
    let tolerateUnsetEnvironment: Bool
    var diagnostics: [Diagnostic] = []
    /// Sources and selections the file defines but that could not be built (each already has its
    /// error): a reference to one is not reported again as unknown, nor what follows from it.
    var broken = BrokenNames()
    private var interpolator: Interpolator

    init(path: String, environment: [String: String], tolerateUnsetEnvironment: Bool) {
        self.path = path
        self.environment = environment
        self.tolerateUnsetEnvironment = tolerateUnsetEnvironment
        self.interpolator = Interpolator(environment: environment, vars: [:])
    }

    // MARK: diagnostics helpers

    mutating func error(_ message: String, _ node: YNode) {
        diagnostics.append(Diagnostic(.error, message, at: node.location))
    }

    mutating func warning(_ message: String, _ node: YNode) {
        diagnostics.append(Diagnostic(.warning, message, at: node.location))
    }

    /// Reports keys of a mapping not in `allowed`, with a did-you-mean.
    mutating func checkKeys(_ node: YNode, allowed: [String], context: String, misnames: [String: String] = [:]) {
        for (key, _) in node.pairs ?? [] {
            guard let name = key.scalar else { error("keys must be plain names \(context)", key); continue }
            if !allowed.contains(name) {
                let hint = (misnames[name] ?? Suggest.nearest(name, in: allowed)).map { "; did you mean `\($0)`?" } ?? ""
                error("unknown key `\(name)` \(context)\(hint)", key)
            }
        }
    }

    /// A mapping's pairs, or a diagnostic when the node is something else.
    mutating func mapping(_ node: YNode, _ what: String) -> [(key: YNode, value: YNode)]? {
        if let pairs = node.pairs { return pairs }
        error("\(what) must be a mapping of `key: value` lines, not \(node.kindName)", node)
        return nil
    }

    /// A scalar with `${...}` expanded.
    mutating func string(_ node: YNode, _ what: String) -> String? {
        guard let raw = node.scalar, !node.isNull else {
            error("\(what) must be a single value, not \(node.isNull ? "empty" : node.kindName)", node)
            return nil
        }
        return expand(raw, node)?.text
    }

    mutating func expand(_ raw: String, _ node: YNode) -> (text: String, fromEnvironment: Bool)? {
        do {
            return try interpolator.expand(raw)
        } catch {
            switch error {
            case .unset(let name):
                let message = "environment variable `\(name)` is not set (write `${env.\(name):-default}` for a default)"
                if tolerateUnsetEnvironment { warning(message, node); return ("", true) }
                self.error(message, node)
            case .unknownVar(let name, let suggestion):
                self.error("unknown variable `vars.\(name)`" + (suggestion.map { "; did you mean `vars.\($0)`?" } ?? ""), node)
            case .malformed(let message):
                self.error(message, node)
            }
        }
        return nil
    }

    mutating func integer(_ node: YNode, _ what: String, min: Int = 0) -> Int? {
        guard let text = string(node, what) else { return nil }
        guard let value = Int(text), value >= min else {
            error("\(what) must be a whole number of at least \(min), not `\(text)`", node)
            return nil
        }
        return value
    }

    mutating func bool(_ node: YNode, _ what: String) -> Bool? {
        guard let text = string(node, what) else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            error("\(what) must be true or false, not `\(text)`", node)
            return nil
        }
    }

    mutating func seconds(_ node: YNode, _ what: String) -> Double? {
        guard let text = string(node, what) else { return nil }
        guard let value = Quantities.seconds(text) else {
            error("\(what) must be a duration such as `30s`, `5m` or `2h`, not `\(text)`", node)
            return nil
        }
        return value
    }

    /// A list of strings; a single value counts as a list of one.
    mutating func strings(_ node: YNode, _ what: String) -> [String] {
        if let items = node.items { return items.compactMap { string($0, what) } }
        return string(node, what).map { [$0] } ?? []
    }

    // MARK: overrides

    /// Applies `a.b.c=value` to the tree, creating mappings on the way.
    /// Applies the `index`-th `--set path.to.key=value`. Diagnostics point into the `--set` text
    /// (line `index + 1` of `JobLoader.overrideSource`), not at the job file.
    mutating func apply(override: String, index: Int, to tree: inout YNode) {
        let prefix = JobLoader.overridePrefix.count
        func at(_ offset: Int) -> SourceLocation { SourceLocation(file: "--set", line: index + 1, column: prefix + offset + 1) }
        guard let eq = override.firstIndex(of: "=") else {
            diagnostics.append(Diagnostic(.error, "`--set \(override)` must be `path.to.key=value`", at: at(0)))
            return
        }
        let keys = override[..<eq].split(separator: ".").map(String.init)
        let valueOffset = override.distance(from: override.startIndex, to: eq) + 1
        let text = String(override[override.index(after: eq)...])
        guard !keys.isEmpty else {
            diagnostics.append(Diagnostic(.error, "`--set \(override)` names no key", at: at(0)))
            return
        }
        guard let value = Self.overrideValue(text, at: at(valueOffset), diagnostics: &diagnostics) else { return }
        // Each key of the path at its own column, so an unknown one is pointed at.
        var offset = 0
        let places = keys.map { key in defer { offset += key.count + 1 }; return at(offset) }
        JobBuilder.set(keys[...], places: places[...], to: value, in: &tree)
    }

    /// A `--set` value: YAML when it opens a list, a mapping or a quoted string (`[A, B]`,
    /// `{regex: ...}`, `"a b"`); anything else is the text as written (a URL, a password with `#`).
    static func overrideValue(_ text: String, at location: SourceLocation, diagnostics: inout [Diagnostic]) -> YNode? {
        guard let first = text.first, "[{\"'".contains(first) else {
            return YNode(value: .scalar(text, plain: false), location: location)
        }
        let (node, problems) = YAMLReader.read(SourceText(path: "--set", text: text))
        // Shift the value's own line:column to its place in the `--set` text.
        func moved(_ l: SourceLocation) -> SourceLocation {
            SourceLocation(file: location.file, line: location.line,
                           column: l.line == 1 ? location.column + l.column - 1 : location.column)
        }
        func relocate(_ node: YNode) -> YNode {
            var node = node
            node.location = moved(node.location)
            switch node.value {
            case .scalar: break
            case .sequence(let items): node.value = .sequence(items.map(relocate))
            case .mapping(let pairs): node.value = .mapping(pairs.map { (relocate($0.key), relocate($0.value)) })
            }
            return node
        }
        diagnostics += problems.map { Diagnostic($0.severity, $0.message, at: moved($0.location)) }
        return node.map(relocate)
    }

    private static func set(_ keys: ArraySlice<String>, places: ArraySlice<SourceLocation>, to value: YNode, in node: inout YNode) {
        guard let key = keys.first, let place = places.first else { node = value; return }
        var pairs = node.pairs ?? []
        if let i = pairs.firstIndex(where: { $0.key.scalar == key }) {
            set(keys.dropFirst(), places: places.dropFirst(), to: value, in: &pairs[i].value)
        } else {
            var child = YNode(value: .mapping([]), location: place)
            set(keys.dropFirst(), places: places.dropFirst(), to: value, in: &child)
            pairs.append((YNode(value: .scalar(key, plain: true), location: place), child))
        }
        node.value = .mapping(pairs)
    }

    // MARK: the job

    mutating func build(_ root: YNode) -> Job? {
        guard let _ = mapping(root, "a job file") else { return nil }
        checkKeys(root, allowed: Keys.top, context: "at the top level", misnames: Keys.topMisnames)
        // A section under another name (`selections:`), or not a mapping, is not read: what it
        // defines is then not also "unknown" wherever it is named (one mistake, one error).
        for (key, value) in root.pairs ?? [] {
            guard let name = key.scalar, !Keys.top.contains(name) else {
                if let name = key.scalar, Keys.sections.contains(name), value.pairs == nil { broken.unreadSections.insert(name) }
                continue
            }
            if let meant = Keys.topMisnames[name] ?? Suggest.nearest(name, in: Keys.top), Keys.sections.contains(meant) {
                broken.unreadSections.insert(meant)
            }
        }
        guard let versionNode = root["flowctl"] else {
            error("missing `flowctl: 1` (the job-file format version) at the top", root)
            return nil
        }
        if string(versionNode, "`flowctl`") != "1" {
            error("unsupported format version; this flowctl reads `flowctl: 1`", versionNode)
        }
        var vars: [String: String] = [:]
        if let node = root["vars"], let pairs = mapping(node, "`vars`") {
            for (key, value) in pairs {
                guard let name = key.scalar else { continue }
                // Earlier vars may be used in later ones.
                if let text = string(value, "var `\(name)`") { vars[name] = text }
                interpolator.vars = vars
            }
        }
        let fallbackName = path.split(separator: "/").last.map { FileName.stem(of: String($0)) } ?? "job"
        let name = root["name"].flatMap { string($0, "`name`") } ?? fallbackName
        var job = Job(path: path, name: name, description: root["description"].flatMap { string($0, "`description`") },
                      vars: vars)
        job.sources = definitions(root, "sources", broken: \.sources) { $0.source(named: $1, $2) }
        job.layouts = definitions(root, "layouts", broken: \.layouts) { $0.layout(named: $1, $2) }
        let sources = job.sources
        job.selections = definitions(root, "select", broken: \.selections) { $0.selection(named: $1, $2, sources: sources) }
        job.actions = definitions(root, "actions", broken: \.actions) { $0.action(named: $1, $2) }
        if let node = root["slurm"] { job.slurm = slurmSettings(node) }
        return job
    }

    /// Builds each definition of a top-level section; the names of those that do not build go
    /// into `broken`, so their uses are not also reported as unknown.
    mutating func definitions<Definition>(_ root: YNode, _ section: String, broken names: WritableKeyPath<BrokenNames, Set<String>>,
                                          _ build: (inout JobBuilder, YNode, YNode) -> Definition?) -> [Definition] {
        guard let node = root[section], let pairs = sectionPairs(node, section) else { return [] }
        return pairs.compactMap { pair in
            let definition = build(&self, pair.key, pair.value)
            if definition == nil, let name = pair.key.scalar { broken[keyPath: names].insert(name) }
            return definition
        }
    }

    /// A section's definitions. A top-level key among them (`actions:` indented under `select:`)
    /// is one error saying so, not a selection `actions` without a source and a job without actions.
    mutating func sectionPairs(_ node: YNode, _ section: String) -> [(key: YNode, value: YNode)]? {
        guard let pairs = mapping(node, "`\(section)`") else { return nil }
        return pairs.filter { pair in
            guard let name = pair.key.scalar, Keys.top.contains(name), name != section else { return true }
            error("`\(name):` is indented into `\(section):`; a top-level key starts in column 1", pair.key)
            if Keys.sections.contains(name) { broken.unreadSections.insert(name) }
            return false
        }
    }

    /// `slurm: {shards: 8, max-running: 4, partition: transfer, time: "2:00:00", mem: 2G}`.
    mutating func slurmSettings(_ node: YNode) -> SlurmSettings? {
        guard mapping(node, "`slurm`") != nil else { return nil }
        checkKeys(node, allowed: Keys.slurm, context: "in `slurm`")
        var settings = SlurmSettings()
        if let n = node["shards"] { settings.shards = integer(n, "`shards`", min: 1) }
        if let n = node["max-running"] { settings.maxRunning = integer(n, "`max-running`", min: 1) }
        if let n = node["jobs"] { settings.jobs = integer(n, "`jobs`", min: 1) }
        if let n = node["partition"] { settings.partition = string(n, "`partition`") }
        if let n = node["time"] { settings.time = string(n, "`time`") }
        if let n = node["mem"] { settings.mem = string(n, "`mem`") }
        if let n = node["shard-by"] { settings.shardBy = string(n, "`shard-by`") }
        return settings
    }

    // MARK: sources

    mutating func source(named key: YNode, _ node: YNode) -> SourceSpec? {
        guard let name = key.scalar, mapping(node, "source `\(key.scalar ?? "")`") != nil else { return nil }
        guard let typeNode = node["type"] else {
            error("source `\(name)` needs a `type`: one of \(SourceType.allCases.map(\.rawValue).joined(separator: ", "))", key)
            return nil
        }
        guard let typeText = string(typeNode, "`type`") else { return nil }
        guard let type = SourceType(rawValue: typeText) else {
            let hint = Suggest.nearest(typeText, in: SourceType.allCases.map(\.rawValue)).map { "; did you mean `\($0)`?" } ?? ""
            error("unknown source type `\(typeText)`\(hint)", typeNode)
            return nil
        }
        let catalog = PlatformCatalog.of(type)
        checkKeys(node, allowed: Keys.sourceCommon + catalog.credentialKeys + catalog.credentialCommandKeys
                  + Keys.sourceOptions(for: type),
                  context: "in \(type.rawValue) source `\(name)`")
        var spec = SourceSpec(name: name, type: type, url: "", location: key.location)
        // `user:password@` in the URL: taken out (below) into the credentials, so that the URL
        // flowctl prints, plans, locks and reports never holds them.
        var urlCredentials: (user: String?, password: String?, node: YNode)?
        if let urlNode = node["url"], let written = string(urlNode, "`url`") {
            let (url, user, password) = type == .local ? (written, nil, nil) : URLCredentials.split(written)
            spec.url = url
            if user != nil || password != nil { urlCredentials = (user, password, urlNode) }
            if type != .local, !(url.hasPrefix("http://") || url.hasPrefix("https://")), !url.isEmpty {
                error("`url` must start with https:// or http://, not `\(url)`", urlNode)
            }
        } else if node["url"] == nil {
            error("source `\(name)` needs a `url`" + (type == .local ? " (the folder)" : ""), key)
        }
        for credential in catalog.credentialKeys {
            guard let valueNode = node[credential] else { continue }
            guard let raw = valueNode.scalar else {
                error("`\(credential)` must be a single value, not \(valueNode.kindName)", valueNode)
                continue
            }
            guard let (value, fromEnvironment) = expand(raw, valueNode) else { continue }
            spec.credentials[credential] = Secret(value)
            if !fromEnvironment, !value.isEmpty, !raw.contains("${") {
                warning("credential `\(credential)` is written in the job file; use `${env.NAME}` so it stays out of git", valueNode)
            }
        }
        for commandKey in catalog.credentialCommandKeys {
            guard let valueNode = node[commandKey], let command = string(valueNode, "`\(commandKey)`") else { continue }
            let credential = String(commandKey.dropLast("-command".count))
            if node[credential] != nil {
                error("give `\(credential)` or `\(commandKey)`, not both", valueNode)
            } else if command.trimmingWhitespace.isEmpty {
                error("`\(commandKey)` is empty; name a command that prints the \(credential), e.g. `pass show \(name)`", valueNode)
            } else {
                spec.credentialCommands[credential] = command
            }
        }
        if let found = urlCredentials { takeCredentials(fromURL: found, of: node, into: &spec) }
        if let n = node["netrc"] { spec.netrc = bool(n, "`netrc`") ?? false }
        if let urlNode = node["url"], Self.sendsCredentialsInClear(spec) {
            warning("source `\(name)` sends its credentials over plain http://, readable on every network they cross; use https://",
                    urlNode)
        }
        if let n = node["concurrency"] { spec.concurrency = integer(n, "`concurrency`", min: 1) ?? spec.concurrency }
        if let n = node["rate"], let text = string(n, "`rate`") {
            if let rate = Quantities.ratePerSecond(text) { spec.ratePerSecond = rate }
            else { error("`rate` must look like `20/s`, `600/m` or `5000/h`, not `\(text)`", n) }
        }
        if let n = node["timeout"] { spec.timeoutSeconds = seconds(n, "`timeout`") }
        if let n = node["stall"] { spec.stallSeconds = seconds(n, "`stall`") }
        if let n = node["max-file-size"], let text = string(n, "`max-file-size`") {
            if let size = Quantities.bytes(text), size >= 1, size < 9e18 { spec.maxFileSize = Int64(size) }
            else { error("`max-file-size` must be a size such as `20GiB`, not `\(text)`", n) }
        }
        if let n = node["retry"], mapping(n, "`retry`") != nil {
            checkKeys(n, allowed: Keys.retry, context: "in `retry`")
            if let a = n["attempts"] { spec.retry.attempts = integer(a, "`attempts`", min: 1) ?? spec.retry.attempts }
            if let t = n["max-time"] { spec.retry.maxSeconds = seconds(t, "`max-time`") ?? spec.retry.maxSeconds }
        }
        if let n = node["tls"], mapping(n, "`tls`") != nil {
            checkKeys(n, allowed: Keys.tls, context: "in `tls`")
            if let ca = n["ca"] { spec.tls.caBundle = string(ca, "`ca`").flatMap { $0.isEmpty ? nil : $0 } }
            if let insecure = n["insecure"] {
                spec.tls.insecure = bool(insecure, "`insecure`") ?? false
                if spec.tls.insecure { warning("TLS verification is off for source `\(name)`", insecure) }
            }
        }
        if let index = node["index"], let text = string(index, "`index`") { spec.options["index"] = text }
        // What a killed upload may have to send again is at most the parts in flight.
        if let n = node["part-size"], let text = string(n, "`part-size`") {
            if let size = Quantities.bytes(text), size >= 1, size < 5e9 { spec.options["part-size"] = String(Int64(size)) }
            else { error("`part-size` must be a size such as `32MiB`, not `\(text)`", n) }
        }
        if let n = node["processing-timeout"], let value = seconds(n, "`processing-timeout`") {
            if value > 0 && value < 1e9 { spec.options["processing-timeout"] = String(value) }
            else { error("`processing-timeout` must be a duration longer than 0 s, such as `10m`", n) }
        }
        if let api = node["api"], let text = string(api, "`api`") {
            let flavours = ["v0.0.3-dev", "v0.0.3", "v0.0.4-dev"]
            if flavours.contains(text) { spec.options["api"] = text }
            else { error("unknown LORIS API `\(text)`; one of \(flavours.joined(separator: ", "))", api) }
        }
        return spec
    }

    /// Credentials (given, commanded or from netrc) bound for a plain `http://` URL off this machine
    /// (loopback, as the sandbox serves, never leaves it).
    static func sendsCredentialsInClear(_ spec: SourceSpec) -> Bool {
        guard spec.url.lowercased().hasPrefix("http://") else { return false }
        let hasCredentials = spec.netrc || !spec.credentialCommands.isEmpty || spec.credentials.values.contains { !$0.isEmpty }
        guard hasCredentials, let host = URL(string: spec.url)?.host?.lowercased() else { return false }
        return !(host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]")
    }

    /// A source URL's `user:password@` as the source's `user` and `password`, where the platform
    /// logs in with those and the source does not give them otherwise.
    mutating func takeCredentials(fromURL found: (user: String?, password: String?, node: YNode), of node: YNode,
                                  into spec: inout SourceSpec) {
        let keys = PlatformCatalog.of(spec.type).credentialKeys
        guard keys.contains("user") else {
            let own = keys.filter { $0 != "password" }.map { "`\($0)`" }.joined(separator: " or ")
            error("`url` holds a user and password (`user:password@`), which a \(spec.type.rawValue) source does not "
                  + "log in with: give its \(own) instead", found.node)
            return
        }
        guard node["user"] == nil, node["password"] == nil, spec.credentialCommands["password"] == nil else {
            error("`url` holds a user and password (`user:password@`) and the source gives `user`/`password` too: "
                  + "give them once, as `user:` and `password:`", found.node)
            return
        }
        if let user = found.user { spec.credentials["user"] = Secret(user) }
        if let password = found.password {
            spec.credentials["password"] = Secret(password)
            if let raw = found.node.scalar, !raw.contains("${") {
                warning("`url` holds a password written in the job file; use `password: ${env.NAME}` so it stays out of git",
                        found.node)
            }
        }
    }

    // MARK: conversions

    /// `convert: dcm2niix` or `convert: {tool: dcm2niix, concurrency: 2}`.
    mutating func convertSpec(_ node: YNode) -> ConvertSpec? {
        var spec = ConvertSpec()
        let toolNode: YNode?
        if node.scalar != nil {
            toolNode = node
        } else if mapping(node, "`convert`") != nil {
            checkKeys(node, allowed: Keys.convert, context: "in `convert`")
            toolNode = node["tool"]
            if toolNode == nil { error("`convert` needs a `tool` (\(ConvertSpec.tools.joined(separator: ", ")))", node) }
            if let n = node["concurrency"] { spec.concurrency = integer(n, "`concurrency`", min: 1) ?? spec.concurrency }
        } else { return nil }
        guard let toolNode, let tool = string(toolNode, "a converter") else { return nil }
        guard ConvertSpec.tools.contains(tool) else {
            let hint = Suggest.nearest(tool, in: ConvertSpec.tools).map { "; did you mean `\($0)`?" } ?? ""
            error("unknown converter `\(tool)`\(hint) (flowctl knows \(ConvertSpec.tools.joined(separator: ", ")))", toolNode)
            return nil
        }
        spec.tool = tool
        return spec
    }

    // MARK: archives

    /// `archive: zip` or `archive: {format: tar.gz, per: session, max-bytes: 100GiB, ...}`.
    mutating func archiveSpec(_ node: YNode) -> ArchiveSpec? {
        var spec = ArchiveSpec()
        let formatNode: YNode?
        if node.scalar != nil {
            formatNode = node
        } else if mapping(node, "`archive`") != nil {
            checkKeys(node, allowed: Keys.archive, context: "in `archive`")
            formatNode = node["format"]
            if let n = node["per"], let per = string(n, "an archive unit") {
                if let unit = ArchiveSpec.Unit(rawValue: per) { spec.per = unit } else {
                    let units = ArchiveSpec.Unit.allCases.map(\.rawValue)
                    let hint = Suggest.nearest(per, in: units).map { "; did you mean `\($0)`?" } ?? ""
                    error("unknown archive unit `\(per)`\(hint) (`per:` takes \(units.joined(separator: ", ")))", n)
                }
            }
            if let n = node["max-members"] { spec.maxMembers = integer(n, "`max-members`", min: 1) }
            if let n = node["max-ratio"] { spec.maxRatio = integer(n, "`max-ratio`", min: 1) }
            if let n = node["max-bytes"], let text = string(n, "a size") {
                if let bytes = Quantities.bytes(text), bytes >= 1 { spec.maxBytes = Int64(bytes) } else {
                    error("`max-bytes` takes a size such as `100GiB`, not `\(text)`", n)
                }
            }
        } else { return nil }
        guard let formatNode else { return spec }
        guard let format = string(formatNode, "an archive format") else { return nil }
        guard ArchiveSpec.formats.contains(format) else {
            let hint = Suggest.nearest(format, in: ArchiveSpec.formats).map { "; did you mean `\($0)`?" } ?? ""
            error("unknown archive format `\(format)`\(hint) (flowctl reads \(ArchiveSpec.formats.joined(separator: ", ")))", formatNode)
            return nil
        }
        spec.format = format
        return spec
    }

    // MARK: layouts

    mutating func layout(named key: YNode, _ node: YNode) -> LayoutSpec? {
        guard let name = key.scalar else { return nil }
        if name == LayoutSpec.bids.name { return bidsLayout(key, node) }
        var maps: [String: [String: String]] = [:]
        let templateNode: YNode
        if node.scalar != nil {
            templateNode = node
        } else if mapping(node, "layout `\(name)`") != nil {
            checkKeys(node, allowed: Keys.layout, context: "in layout `\(name)`")
            guard let path = node["path"] else { error("layout `\(name)` needs a `path` template", key); return nil }
            templateNode = path
            if let mapsNode = node["maps"], let tables = mapping(mapsNode, "`maps`") {
                for (tableKey, tableNode) in tables {
                    guard let tableName = tableKey.scalar, let entries = mapping(tableNode, "map `\(tableKey.scalar ?? "")`") else { continue }
                    var table: [String: String] = [:]
                    for (k, v) in entries { if let k = k.scalar, let v = string(v, "map value") { table[k] = v } }
                    maps[tableName] = table
                }
            }
        } else { return nil }
        guard let template = template(templateNode) else { return nil }
        return LayoutSpec(name: name, template: template, maps: maps, location: key.location)
    }

    /// `layouts: {bids: {maps: {bids: {TYPE: datatype/suffix}}, dataset: {Authors: [...], ...}}}`:
    /// the built-in BIDS layout with the job's own scan-type map and dataset fields (its path is
    /// not the job's to change).
    mutating func bidsLayout(_ key: YNode, _ node: YNode) -> LayoutSpec? {
        guard mapping(node, "layout `bids`") != nil else { return nil }
        checkKeys(node, allowed: ["maps", "dataset"], context: "in the built-in layout `bids` (only its `maps: {bids: ...}` and `dataset:` can be set; name a layout of your own for another path)")
        var table: [String: String] = [:]
        if let mapsNode = node["maps"], mapping(mapsNode, "`maps`") != nil {
            checkKeys(mapsNode, allowed: [BIDS.mapTable], context: "in the maps of layout `bids`")
            if let tableNode = mapsNode[BIDS.mapTable], let entries = mapping(tableNode, "map `bids`") {
                for (k, v) in entries {
                    guard let type = k.scalar, let value = string(v, "a datatype/suffix") else { continue }
                    if !BIDS.isMapping(value) {
                        error("`\(value)` is not a BIDS datatype/suffix such as `anat/T1w` or `dwi/dwi`", v)
                        continue
                    }
                    table[type] = value
                }
            }
        }
        return LayoutSpec.bids(maps: [BIDS.mapTable: table], dataset: node["dataset"].map { bidsDatasetFields($0) } ?? .init(),
                               location: key.location)
    }

    /// `dataset: {Authors: [...], License: CC0, ...}`: fields of `dataset_description.json`,
    /// under BIDS' own names (a single author counts as a list of one).
    mutating func bidsDatasetFields(_ node: YNode) -> BIDSDataset.DatasetFields {
        typealias Fields = BIDSDataset.DatasetFields
        var fields = Fields()
        guard mapping(node, "`dataset`") != nil else { return fields }
        checkKeys(node, allowed: Fields.listKeys + Fields.textKeys,
                  context: "in the `dataset` of layout `bids` (flowctl writes Name, BIDSVersion, DatasetType, GeneratedBy and SourceDatasets itself)")
        for key in Fields.textKeys {
            if let value = node[key], let text = string(value, "`\(key)`") { fields.text[key] = text }
        }
        for key in Fields.listKeys {
            if let value = node[key] { fields.lists[key] = strings(value, "an entry of `\(key)`") }
        }
        return fields
    }

    mutating func template(_ node: YNode) -> LayoutTemplate? {
        guard let text = string(node, "a layout") else { return nil }
        do {
            return try LayoutTemplate(text)
        } catch {
            // Point at the character in the template: quoted scalars start one column later.
            var location = node.location
            if case .scalar(_, let plain) = node.value { location.column += error.offset + (plain ? 0 : 1) }
            diagnostics.append(Diagnostic(.error, "layout: \(error.message)", at: location))
            return nil
        }
    }

    // MARK: selections

    mutating func selection(named key: YNode, _ node: YNode, sources: [SourceSpec]) -> Selection? {
        guard let name = key.scalar, let pairs = mapping(node, "selection `\(key.scalar ?? "")`") else { return nil }
        guard let sourceNode = node["source"], let sourceName = string(sourceNode, "`source`") else {
            error("selection `\(name)` needs a `source`", key)
            return nil
        }
        guard let source = sources.first(where: { $0.name == sourceName }) else {
            // Its own error (or its section's) says what is wrong.
            if broken.sources.contains(sourceName) || broken.unreadSections.contains("sources") { return nil }
            let hint = Suggest.nearest(sourceName, in: sources.map(\.name)).map { "; did you mean `\($0)`?" } ?? ""
            error("unknown source `\(sourceName)`\(hint)", sourceNode)
            return nil
        }
        let catalog = PlatformCatalog.of(source.type)
        var selection = Selection(name: name, source: sourceName, location: key.location)
        for (levelKey, levelNode) in pairs {
            guard let levelName = levelKey.scalar, levelName != "source" else { continue }
            guard let level = catalog.level(named: levelName) else {
                let names = catalog.levels.flatMap { [$0.key] + $0.aliases } + ["source"]
                let hint = Suggest.nearest(levelName, in: names).map { "; did you mean `\($0)`?" } ?? ""
                error("unknown key `\(levelName)` in selection `\(name)` on \(source.type.rawValue) source "
                      + "(levels: \(catalog.levels.map(\.key).joined(separator: ", ")))\(hint)", levelKey)
                continue
            }
            if let fieldPairs = levelNode.pairs, !isMatcherMapping(levelNode) {
                for (fieldKey, fieldNode) in fieldPairs {
                    guard let field = fieldKey.scalar else { continue }
                    guard level.fields.contains(field) else {
                        let hint = Suggest.nearest(field, in: level.fields).map { "; did you mean `\($0)`?" } ?? ""
                        error("unknown field `\(field)` of \(level.key) (fields: \(level.fields.joined(separator: ", ")))\(hint)", fieldKey)
                        continue
                    }
                    if let m = matcher(fieldNode, numeric: field == "size") {
                        selection.filters.append(.init(level: level.key, field: "\(level.entity).\(field)", matcher: m,
                                                       location: fieldKey.location))
                    }
                }
            } else if let m = matcher(levelNode, numeric: level.defaultField == "size") {
                selection.filters.append(.init(level: level.key, field: "\(level.entity).\(level.defaultField)",
                                               matcher: m, location: levelKey.location))
            }
        }
        return selection
    }

    func isMatcherMapping(_ node: YNode) -> Bool {
        guard let pairs = node.pairs, !pairs.isEmpty else { return false }
        return pairs.allSatisfy { Keys.matcherOperators.contains($0.key.scalar ?? "") }
    }

    /// A matcher: a glob, a list (any of), or `{regex|not|any|all|glob|gt|ge|lt|le: ...}`.
    mutating func matcher(_ node: YNode, numeric: Bool = false) -> Matcher? {
        switch node.value {
        case .scalar(_, let plain):
            guard let text = string(node, "a matcher") else { return nil }
            // `subjects: A, B` is one value, which no label matches: the list was meant.
            if plain, text.contains(", "), !text.contains("{") {
                let words = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.split(separator: " ") }
                if words.allSatisfy({ $0.count == 1 }) {
                    warning("`\(text)` is one value, not a list: write `[\(words.map { String($0[0]) }.joined(separator: ", "))]` "
                            + "for any of them (or quote it if the comma is meant)", node)
                }
            }
            return .glob(Glob(text))
        case .sequence(let items):
            if items.isEmpty { error("an empty list matches nothing; remove the filter or name values", node); return nil }
            let members = items.compactMap { matcher($0, numeric: numeric) }
            return members.count == 1 ? members[0] : .anyOf(members)
        case .mapping(let pairs):
            var parts: [Matcher] = []
            for (key, value) in pairs {
                let op = key.scalar ?? ""
                switch op {
                case "regex":
                    guard let pattern = string(value, "`regex`") else { continue }
                    do { parts.append(.regex(try RegexPattern(pattern))) }
                    catch { self.error("invalid regular expression `\(pattern)`: \(error.localizedDescription)", value) }
                case "not":
                    if let inner = matcher(value, numeric: numeric) { parts.append(.not(inner)) }
                case "any":
                    if let inner = matcher(value, numeric: numeric) { parts.append(inner) }
                case "all":
                    let members = (value.items ?? [value]).compactMap { matcher($0, numeric: numeric) }
                    parts.append(.allOf(members))
                case "glob":
                    if let text = string(value, "`glob`") { parts.append(.glob(Glob(text))) }
                case "gt", "ge", "lt", "le":
                    guard let text = string(value, "`\(op)`") else { continue }
                    if let bound = numeric ? Quantities.bytes(text) : Double(text) {
                        parts.append(.compare(Matcher.Comparison(rawValue: op)!, bound))
                    } else {
                        error("`\(op)` needs a number\(numeric ? " or size such as `10MB`" : ""), not `\(text)`", value)
                    }
                default:
                    let hint = Suggest.nearest(op, in: Keys.matcherOperators).map { "; did you mean `\($0)`?" } ?? ""
                    error("unknown matcher `\(op)` (use a glob, a list, or one of "
                          + "\(Keys.matcherOperators.joined(separator: ", ")))\(hint)", key)
                }
            }
            if parts.isEmpty { return nil }
            return parts.count == 1 ? parts[0] : .allOf(parts)
        }
    }

    // MARK: actions

    mutating func action(named key: YNode, _ node: YNode) -> Action? {
        guard let name = key.scalar, let pairs = mapping(node, "action `\(key.scalar ?? "")`") else { return nil }
        let verbs = pairs.filter { Keys.actionVerbs.contains($0.key.scalar ?? "") }
        guard let (verbKey, verbValue) = verbs.first else {
            error("action `\(name)` needs a verb: one of \(Keys.actionVerbs.joined(separator: ", "))", key)
            checkKeys(node, allowed: Keys.actionVerbs + Keys.actionCommon, context: "in action `\(name)`")
            return nil
        }
        if verbs.count > 1 { error("action `\(name)` has two verbs; split it into two actions", verbs[1].key) }
        let kind = ActionKind(rawValue: verbKey.scalar!)!
        let keys = Keys.actionKeys(for: kind)
        let renamed = Keys.renamedActionKeys.filter { keys.contains($0.value) }.keys
        checkKeys(node, allowed: [kind.rawValue] + keys + renamed, context: "in \(kind.rawValue) action `\(name)`")
        for old in renamed.sorted() {
            guard let oldNode = pairs.first(where: { $0.key.scalar == old })?.key else { continue }
            let new = Keys.renamedActionKeys[old]!
            if node[new] != nil { error("`\(old)` is the old name of `\(new)`; give one of them", oldNode) }
            else { warning("`\(old):` is now `\(new):` (YAML 1.1 tools such as PyYAML read a bare `\(old)` as `true`)", oldNode) }
        }
        var action = Action(name: name, kind: kind, location: key.location)
        guard let verbText = string(verbValue, "`\(kind.rawValue)`") else { return nil }
        switch kind {
        case .download, .upload, .tag:
            action.input = Reference(parsing: verbText)
        case .runAlgorithm, .runTask:
            action.target = verbText
            if let over = node["over"] ?? node["on"], let ref = string(over, "`over`") { action.input = Reference(parsing: ref) }
            else { error("`\(kind.rawValue)` action `\(name)` needs `over:` (the selection or outputs it runs on)", key) }
        }
        if let n = node["to"] { action.to = string(n, "`to`") }
        if let n = node["source"] { action.source = string(n, "`source`") }
        if let n = node["layout"], let text = string(n, "`layout`") {
            action.layout = text.contains("{") ? .inline(text) : .named(text)
            if text.contains("{") { _ = template(n) }
        }
        if let n = node["into"], let entries = mapping(n, "`into`") {
            checkKeys(n, allowed: Keys.intoKeys, context: "in `into`")
            for (k, v) in entries { if let k = k.scalar, let v = string(v, "`\(k)`") { action.into[k] = v } }
        }
        if let n = node["tags"] { action.tags = strings(n, "a tag") }
        if let n = node["input"] { action.inputName = string(n, "`input`") }
        if let n = node["extras"] {
            action.extras = strings(n, "an extra")
            for extra in action.extras where !Keys.downloadExtras.contains(extra) {
                error("unknown extra `\(extra)`; one of \(Keys.downloadExtras.joined(separator: ", "))", n)
            }
        }
        if let n = node["overwrite"] { action.overwrite = bool(n, "`overwrite`") ?? false }
        if let n = node["convert"] { action.convert = convertSpec(n) }
        if let n = node["archive"] { action.archive = archiveSpec(n) }
        if let n = node["after"] { action.after = strings(n, "an action name") }
        if let n = node["wait"], mapping(n, "`wait`") != nil {
            checkKeys(n, allowed: Keys.wait, context: "in `wait`")
            if let t = n["timeout"] { action.wait.timeoutSeconds = seconds(t, "`timeout`") ?? action.wait.timeoutSeconds }
            if let p = n["poll"] { action.wait.pollSeconds = seconds(p, "`poll`") ?? action.wait.pollSeconds }
        }
        return action
    }
}

/// Names the job file defines whose definitions have errors of their own.
struct BrokenNames {
    /// Top-level sections that were not read: misspelt (`selections:`), not a mapping, or
    /// indented into another section.
    var unreadSections: Set<String> = []
    var sources: Set<String> = []
    var selections: Set<String> = []
    var layouts: Set<String> = []
    var actions: Set<String> = []
}
