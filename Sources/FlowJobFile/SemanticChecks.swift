import FlowModel

/// Checks that need the whole job: references exist, no cycles, each action is one its source
/// can do, every template field is known; warns about unused selections and layouts.
struct SemanticChecks {
    let job: Job
    let tree: YNode
    /// Defined but not built (their errors are already reported): no check follows from them.
    let broken: BrokenNames
    private(set) var diagnostics: [Diagnostic] = []

    init(job: Job, tree: YNode, broken: BrokenNames = BrokenNames()) {
        self.job = job
        self.tree = tree
        self.broken = broken
    }

    /// Whether the action consumes a selection whose definition has errors of its own.
    func readsBrokenSelection(_ action: Action) -> Bool {
        if case .selection(let name)? = action.input {
            return broken.selections.contains(name) || (broken.unreadSections.contains("select") && job.selection(named: name) == nil)
        }
        return false
    }

    /// The node of `actions.<name>.<key>`, else the action's own key, for precise places.
    func place(action: Action, key: String) -> SourceLocation {
        tree["actions"]?[action.name]?[key]?.location ?? action.location ?? SourceLocation(file: job.path, line: 1, column: 1)
    }

    mutating func error(_ message: String, _ location: SourceLocation) {
        diagnostics.append(Diagnostic(.error, message, at: location))
    }

    mutating func run() -> [Diagnostic] {
        checkNames()
        var used = Set<String>()
        var usedLayouts = Set<String>()
        for action in job.actions {
            checkInput(of: action, used: &used)
            checkSource(of: action)
            checkLayout(of: action, used: &usedLayouts)
            for name in action.after where job.action(named: name) == nil && !broken.actions.contains(name)
                && !broken.unreadSections.contains("actions") {
                let hint = Suggest.nearest(name, in: job.actions.map(\.name)).map { "; did you mean `\($0)`?" } ?? ""
                error("`after` names unknown action `\(name)`\(hint)", place(action: action, key: "after"))
            }
        }
        let dependencies = Dictionary(uniqueKeysWithValues: job.actions.map { ($0.name, $0.dependencies) })
        if let cycle = findCycle(in: dependencies), let first = job.action(named: cycle[0]) {
            error("actions depend on each other in a cycle: \(cycle.joined(separator: " -> "))", first.location!)
        }
        // Unread actions may use any selection; a job whose actions were unread has some.
        for selection in job.selections where !used.contains(selection.name) && !broken.unreadSections.contains("actions") {
            diagnostics.append(Diagnostic(.warning, "selection `\(selection.name)` is not used by any action",
                                          at: selection.location!))
        }
        for layout in job.layouts where !usedLayouts.contains(layout.name) {
            diagnostics.append(Diagnostic(.warning, "layout `\(layout.name)` is not used by any action", at: layout.location!))
        }
        if job.actions.isEmpty, !broken.unreadSections.contains("actions") {
            diagnostics.append(Diagnostic(.warning, "the job has no `actions`, so `run` does nothing",
                                          at: SourceLocation(file: job.path, line: 1, column: 1)))
        }
        return diagnostics
    }

    /// One namespace for selections and actions, so that `download: x` is never ambiguous.
    mutating func checkNames() {
        for action in job.actions where job.selection(named: action.name) != nil {
            error("`\(action.name)` names both a selection and an action; rename one", action.location!)
        }
        for name in Set(job.actions.map(\.name)) where job.actions.filter({ $0.name == name }).count > 1 {
            error("two actions are named `\(name)`", job.actions.last { $0.name == name }!.location!)
        }
    }

    mutating func checkInput(of action: Action, used: inout Set<String>) {
        guard let input = action.input else { return }
        let runs = action.kind == .runAlgorithm || action.kind == .runTask
        let key = !runs ? action.kind.rawValue : tree["actions"]?[action.name]?["over"] != nil ? "over" : "on"
        let location = place(action: action, key: key)
        switch input {
        case .selection(let name):
            if job.selection(named: name) != nil || broken.selections.contains(name) || broken.unreadSections.contains("select") {
                used.insert(name)
            } else if job.action(named: name) != nil || broken.actions.contains(name) {
                error("`\(name)` is an action; write `\(name).outputs` to use its outputs", location)
            } else {
                let names = job.selections.map(\.name) + job.actions.map { "\($0.name).outputs" }
                let hint = Suggest.nearest(name, in: names).map { "; did you mean `\($0)`?" } ?? ""
                error("unknown selection `\(name)`\(hint)", location)
            }
        case .outputs(let producer):
            guard let p = job.action(named: producer) else {
                if broken.actions.contains(producer) || broken.unreadSections.contains("actions") { return }  // its own error says what is wrong
                let hint = Suggest.nearest(producer, in: job.actions.map(\.name)).map { "; did you mean `\($0).outputs`?" } ?? ""
                error("unknown action `\(producer)`\(hint)", location)
                return
            }
            if p.kind == .tag || p.kind == .download {
                diagnostics.append(Diagnostic(.warning, "`\(producer)` is a \(p.kind.rawValue) action and has no outputs, "
                    + "so `\(action.name)` can never run", at: location))
            }
        }
    }

    mutating func checkSource(of action: Action) {
        // Uploads name their destination in `to`; everything else acts on the input's source.
        let sourceName = action.kind == .upload ? action.to : job.sourceName(of: action)
        if action.kind == .upload, action.to == nil {
            error("upload action `\(action.name)` needs `to:` (the source to upload to)", action.location!)
            return
        }
        guard let sourceName, !broken.sources.contains(sourceName), !broken.unreadSections.contains("sources") else { return }
        guard let source = job.source(named: sourceName) else {
            let key = action.kind == .upload ? "to" : "source"
            let hint = Suggest.nearest(sourceName, in: job.sources.map(\.name)).map { "; did you mean `\($0)`?" } ?? ""
            error("unknown source `\(sourceName)`\(hint)", place(action: action, key: key))
            return
        }
        let catalog = PlatformCatalog.of(source.type)
        if !catalog.actions.contains(action.kind) {
            let able = SourceType.allCases.filter { PlatformCatalog.of($0).actions.contains(action.kind) }.map(\.rawValue)
            error("source `\(source.name)` (type \(source.type.rawValue)) cannot \(action.kind.rawValue); only \(able.joined(separator: ", ")) sources can",
                  place(action: action, key: action.kind.rawValue))
        }
        if action.kind == .upload, case .selection(let name)? = action.input,
           let selection = job.selection(named: name), job.source(named: selection.source)?.type != .local {
            error("upload takes local files: selection `\(name)` must be on a `local` source", place(action: action, key: "upload"))
        }
    }

    mutating func checkLayout(of action: Action, used: inout Set<String>) {
        guard action.kind == .download else { return }
        if action.to == nil {
            error("download action `\(action.name)` needs `to:` (the output folder)", action.location!)
        }
        // What a broken selection's items hold is unknown: its fields and type are not checked.
        let unknownInput = readsBrokenSelection(action)
        if action.archive != nil, !unknownInput {
            var type: SourceType?
            if case .selection(let name)? = action.input, let selection = job.selection(named: name) {
                type = job.source(named: selection.source)?.type
            }
            if type != .xnat {
                error("`archive` works on an XNAT selection's files (one archive per scan, resource or session)",
                      place(action: action, key: "archive"))
            }
        }
        if action.convert != nil, case .outputs? = action.input {
            error("`convert` works on a selection's files (a scan's DICOM series), not on another action's outputs",
                  place(action: action, key: "convert"))
        }
        let location = place(action: action, key: "layout")
        let layout: LayoutSpec
        switch action.layout {
        case .none:
            layout = .default
        case .named(let name):
            guard let found = job.layout(named: name) else {
                // Its own error (or its section's) says what is wrong.
                if broken.layouts.contains(name) || broken.unreadSections.contains("layouts") { used.insert(name); return }
                let names = job.layouts.map(\.name) + [LayoutSpec.bids.name]
                let hint = Suggest.nearest(name, in: names).map { "; did you mean `\($0)`?" } ?? ""
                error("unknown layout `\(name)`\(hint)", location)
                return
            }
            used.insert(name)
            layout = found
        case .inline(let text):
            guard let template = try? LayoutTemplate(text) else { return }  // reported by the builder
            layout = LayoutSpec(name: "inline", template: template)
        }
        let known = knownFields(for: action)
        let templateNode: YNode? = {
            switch action.layout {
            case .inline?: return tree["actions"]?[action.name]?["layout"]
            case .named(let name)?: return tree["layouts"]?[name].flatMap { $0.scalar != nil ? $0 : $0["path"] }
            case nil: return nil
            }
        }()
        for case .field(let field, _, let offset) in layout.template.segments
        where !unknownInput && !known.contains(field) && !BIDS.derivedFields.contains(field) {
            let hint = Suggest.nearest(field, in: known).map { "; did you mean `\($0)`?" } ?? ""
            var at = templateNode?.location ?? location
            // Point at the field inside the template; a quoted scalar starts one column later.
            if case .scalar(_, let plain)? = templateNode?.value { at.column += offset + (plain ? 0 : 1) }
            error("unknown template field `\(field)` for what `\(action.name)` downloads\(hint)", at)
        }
        for table in layout.template.mapNames where layout.maps[table] == nil {
            error("layout `\(layout.name)` uses `map(\(table))` but defines no map `\(table)`", layout.location ?? location)
        }
    }

    /// The fields the items an action consumes carry.
    func knownFields(for action: Action) -> Set<String> {
        guard let sourceName = job.sourceName(of: action), let source = job.source(named: sourceName) else {
            return PlatformCatalog.commonFields
        }
        var fields = PlatformCatalog.of(source.type).allFields
        if case .outputs = action.input { fields.formUnion(PlatformCatalog.outputFields) }
        return fields
    }
}
