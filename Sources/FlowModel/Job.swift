/// A job file, loaded and checked: what to connect to, what to select, what to do, where to put it.
public struct Job: Sendable {
    /// Path of the job file as given on the command line.
    public var path: String
    public var version: Int
    public var name: String
    public var description: String?
    public var vars: [String: String]
    public var sources: [SourceSpec]
    public var selections: [Selection]
    public var actions: [Action]
    public var layouts: [LayoutSpec]
    /// The `slurm:` block: defaults of `flowctl submit --slurm` and of `run --shard`.
    public var slurm: SlurmSettings?

    public init(path: String, version: Int = 1, name: String, description: String? = nil,
                vars: [String: String] = [:], sources: [SourceSpec] = [], selections: [Selection] = [],
                actions: [Action] = [], layouts: [LayoutSpec] = []) {
        self.path = path
        self.version = version
        self.name = name
        self.description = description
        self.vars = vars
        self.sources = sources
        self.selections = selections
        self.actions = actions
        self.layouts = layouts
    }

    public func source(named name: String) -> SourceSpec? { sources.first { $0.name == name } }
    public func selection(named name: String) -> Selection? { selections.first { $0.name == name } }
    public func action(named name: String) -> Action? { actions.first { $0.name == name } }
    public func layout(named name: String) -> LayoutSpec? {
        layouts.first { $0.name == name } ?? (name == LayoutSpec.bids.name ? LayoutSpec.bids : nil)
    }

    /// The layout a download uses (the default one when it names none; the loader has refused
    /// unknown names and bad templates).
    public func layout(of action: Action) -> LayoutSpec {
        switch action.layout {
        case .none: return .default
        case .named(let name): return layout(named: name) ?? .default
        case .inline(let text): return LayoutSpec(name: "inline", template: (try? LayoutTemplate(text)) ?? LayoutSpec.default.template)
        }
    }

    /// The source an action works on: the one named, else the source of what it consumes
    /// (following `x.outputs` back to a selection; nil on a cycle, which the loader reports).
    public func sourceName(of action: Action) -> String? {
        var current = action
        var seen: Set<String> = []
        while seen.insert(current.name).inserted {
            if let explicit = current.source { return explicit }
            switch current.input {
            case .selection(let name)?: return selection(named: name)?.source
            case .outputs(let producer)?:
                guard let next = self.action(named: producer) else { return nil }
                current = next
            case nil: return nil
            }
        }
        return nil
    }
}

/// A named connection to a platform.
public struct SourceSpec: Sendable {
    public var name: String
    public var type: SourceType
    /// Base URL for platforms; the folder for `local`.
    public var url: String
    /// Credentials by key (`user`, `password`, `token`, `api-key`...): never printed.
    public var credentials: [String: Secret]
    /// Commands that print a credential, by the credential's key (`password` for
    /// `password-command:`); run when the source is connected, not when the job is read.
    public var credentialCommands: [String: String] = [:]
    /// Read credentials for the URL's host from ~/.netrc.
    public var netrc: Bool
    /// Transfers in flight at once against this source.
    public var concurrency: Int
    /// Requests per second at most, when set.
    public var ratePerSecond: Double?
    /// Seconds one request may take before it is cancelled and retried.
    public var timeoutSeconds: Double?
    /// Seconds without a byte after which a transfer counts as stalled (default 45).
    public var stallSeconds: Double?
    /// Largest file of unlisted size (a LORIS file, a web folder's) a download accepts.
    public var maxFileSize: Int64?
    public var retry: RetrySpec
    public var tls: TLSSpec
    /// Platform-specific plain settings (`api: v0.0.3-dev` for LORIS, ...).
    public var options: [String: String]
    public var location: SourceLocation?

    public init(name: String, type: SourceType, url: String, credentials: [String: Secret] = [:],
                netrc: Bool = false, concurrency: Int = 8, ratePerSecond: Double? = nil,
                timeoutSeconds: Double? = nil, retry: RetrySpec = .init(), tls: TLSSpec = .init(),
                options: [String: String] = [:], location: SourceLocation? = nil) {
        self.name = name
        self.type = type
        self.url = url
        self.credentials = credentials
        self.netrc = netrc
        self.concurrency = concurrency
        self.ratePerSecond = ratePerSecond
        self.timeoutSeconds = timeoutSeconds
        self.retry = retry
        self.tls = tls
        self.options = options
        self.location = location
    }
}

/// How often and how long to retry a failing request.
public struct RetrySpec: Sendable, Hashable {
    public var attempts: Int
    /// Total seconds across all attempts.
    public var maxSeconds: Double
    public init(attempts: Int = 6, maxSeconds: Double = 300) {
        self.attempts = attempts
        self.maxSeconds = maxSeconds
    }
}

/// TLS settings of a source: verified by default, against the system CAs or `ca`.
public struct TLSSpec: Sendable, Hashable {
    public var caBundle: String?
    /// Only when written out in the job file: skip certificate verification.
    public var insecure: Bool
    public init(caBundle: String? = nil, insecure: Bool = false) {
        self.caBundle = caBundle
        self.insecure = insecure
    }
}

/// A named selection: which items of a source's hierarchy to take.
public struct Selection: Sendable {
    public var name: String
    public var source: String
    public var filters: [Filter]
    public var location: SourceLocation?

    public init(name: String, source: String, filters: [Filter] = [], location: SourceLocation? = nil) {
        self.name = name
        self.source = source
        self.filters = filters
        self.location = location
    }

    /// One test: a level of the hierarchy, a field of it, and a matcher.
    public struct Filter: Sendable, Hashable {
        /// Canonical level key (`scans`).
        public var level: String
        /// Qualified field (`scan.type`).
        public var field: String
        public var matcher: Matcher
        public var location: SourceLocation?

        public init(level: String, field: String, matcher: Matcher, location: SourceLocation? = nil) {
            self.level = level
            self.field = field
            self.matcher = matcher
            self.location = location
        }
    }

    /// The filters that apply to one level.
    public func filters(on level: String) -> [Filter] { filters.filter { $0.level == level } }

    /// Whether an item's fields pass every filter of the given levels (all levels when nil).
    public func accepts(_ fields: [String: String], levels: Set<String>? = nil) -> Bool {
        accepts(field: { fields[$0] }, levels: levels)
    }

    /// `accepts`, asking `field` for each value the filters read (no dictionary of fields).
    public func accepts(field: (String) -> String?, levels: Set<String>? = nil) -> Bool {
        filters.allSatisfy { filter in
            if let levels, !levels.contains(filter.level) { return true }
            return filter.matcher.matches(field(filter.field))
        }
    }
}

/// What an action consumes: a selection's items or another action's outputs.
public enum Reference: Sendable, Hashable, CustomStringConvertible {
    case selection(String)
    case outputs(action: String)

    /// Parses `name` or `name.outputs`.
    public init(parsing text: String) {
        if text.hasSuffix(".outputs") {
            self = .outputs(action: String(text.dropLast(".outputs".count)))
        } else {
            self = .selection(text)
        }
    }

    public var description: String {
        switch self {
        case .selection(let s): return s
        case .outputs(let a): return "\(a).outputs"
        }
    }
}

/// How long to wait on a remote job and how often to look.
public struct WaitSpec: Sendable, Hashable {
    public var timeoutSeconds: Double
    public var pollSeconds: Double
    public init(timeoutSeconds: Double = 3600, pollSeconds: Double = 5) {
        self.timeoutSeconds = timeoutSeconds
        self.pollSeconds = pollSeconds
    }
}

/// A named action: download, upload, tag, run an algorithm or a task.
public struct Action: Sendable {
    public var name: String
    public var kind: ActionKind
    /// What it consumes, per item.
    public var input: Reference?
    /// The verb's argument where it is not a reference: algorithm slug, task name.
    public var target: String?
    /// Download: output folder. Upload: the destination source's name.
    public var to: String?
    /// Download: how items map to paths.
    public var layout: LayoutRef?
    /// The source acted on, when not implied by the input.
    public var source: String?
    /// Upload: where on the destination (`project`, `subject`, `resource`, `folder`, `archive`...).
    public var into: [String: String]
    /// Tag: the tags to set.
    public var tags: [String]
    /// Run: the input socket / task input each item goes to.
    public var inputName: String?
    public var wait: WaitSpec
    /// Download: extra documents per item (`qc`, `visit-metadata`).
    public var extras: [String]
    /// Upload: replace a remote file that differs.
    public var overwrite: Bool
    /// Download: convert each group of downloaded files (a scan's DICOM series) on this machine.
    public var convert: ConvertSpec?
    /// Download (XNAT): fetch the files as archives, one request per scan, resource or session.
    public var archive: ArchiveSpec?
    /// Actions that must finish first.
    public var after: [String]
    public var location: SourceLocation?

    public init(name: String, kind: ActionKind, input: Reference? = nil, target: String? = nil,
                to: String? = nil, layout: LayoutRef? = nil, source: String? = nil,
                into: [String: String] = [:], tags: [String] = [], inputName: String? = nil,
                wait: WaitSpec = .init(), extras: [String] = [], overwrite: Bool = false,
                after: [String] = [], location: SourceLocation? = nil) {
        self.name = name
        self.kind = kind
        self.input = input
        self.target = target
        self.to = to
        self.layout = layout
        self.source = source
        self.into = into
        self.tags = tags
        self.inputName = inputName
        self.wait = wait
        self.extras = extras
        self.overwrite = overwrite
        self.after = after
        self.location = location
    }

    /// The actions this one depends on: its input's producer and `after`.
    public var dependencies: [String] {
        var deps = after
        if case .outputs(let producer) = input, !deps.contains(producer) { deps.append(producer) }
        return deps
    }
}

/// A local conversion of what a download fetched: one run of `tool` per group of files that the
/// layout gives one name (a scan's DICOM series -> one NIfTI + JSON sidecar [+ bval/bvec]).
public struct ConvertSpec: Sendable, Hashable {
    /// The converters flowctl knows how to call.
    public static let tools = ["dcm2niix"]
    public var tool: String
    /// Conversions running at once (they use this machine's cores, not a server's).
    public var concurrency: Int
    /// Where the downloaded originals are kept, inside the output folder (BIDS `sourcedata/`).
    public static let sourceFolder = "sourcedata"

    public init(tool: String = "dcm2niix", concurrency: Int = 2) {
        self.tool = tool
        self.concurrency = max(1, concurrency)
    }

    /// The scheduling lane of an action's conversions: limited apart from every source.
    public static func lane(of action: String) -> String { "convert:" + action }
}

/// A download fetched as archives (`archive: zip`, `archive: {format: tar.gz, per: session}`):
/// one request per unit instead of one per file, members extracted as they arrive.
public struct ArchiveSpec: Sendable, Hashable {
    /// The formats flowctl reads as they stream (`zip`, `tar.gz`).
    public static let formats = ["zip", "tar.gz"]
    /// What one archive holds.
    public enum Unit: String, Sendable, Hashable, CaseIterable {
        case scan, resource, session
    }
    public var format: String
    public var per: Unit
    /// Caps against archive bombs (nil: flowctl's defaults).
    public var maxMembers: Int?
    public var maxBytes: Int64?
    public var maxRatio: Int?

    public init(format: String = "zip", per: Unit = .scan, maxMembers: Int? = nil, maxBytes: Int64? = nil, maxRatio: Int? = nil) {
        self.format = format
        self.per = per
        self.maxMembers = maxMembers
        self.maxBytes = maxBytes
        self.maxRatio = maxRatio
    }

    /// The archive an XNAT file item travels in: its session, scan, or scan and resource (nil:
    /// the item names no scan, and is fetched on its own).
    public func unit(of fields: [String: String]) -> String? {
        guard let experiment = fields["experiment.id"], !experiment.isEmpty else { return nil }
        guard let scan = fields["scan.id"], !scan.isEmpty else { return nil }
        switch per {
        case .session: return experiment
        case .scan: return experiment + "/scans/" + scan
        case .resource: return experiment + "/scans/" + scan + "/resources/" + (fields["resource.label"] ?? "")
        }
    }
}

/// A download's layout: a named layout, the built-in `bids`, or a template written inline.
public enum LayoutRef: Sendable, Hashable {
    case named(String)
    case inline(String)
}
