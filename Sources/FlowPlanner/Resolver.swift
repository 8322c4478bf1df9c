import FlowConnector
import FlowModel

/// Lists what each selection an action uses matches, all selections concurrently
/// (each connector bounds its own requests by its source's limits).
public struct Resolver: Sendable {
    public var connectors: [String: any Connector]

    public init(connectors: [String: any Connector]) {
        self.connectors = connectors
    }

    /// What the selections matched, and what could not be listed. A bad row or a failed branch
    /// (or a whole selection) costs only itself: its problem is named, the rest is listed.
    public struct Resolution: Sendable {
        /// Selection name -> its items.
        public var items: [String: [RemoteItem]]
        /// Selection name -> the parts of its listing that could not be read.
        public var problems: [String: [ListingProblem]]

        public init(items: [String: [RemoteItem]], problems: [String: [ListingProblem]] = [:]) {
            self.items = items
            self.problems = problems
        }

        /// The selections that were listed without a problem and matched nothing (a misspelt
        /// project or filter looks exactly like this), in name order.
        public var emptySelections: [String] {
            items.filter { $0.value.isEmpty && problems[$0.key] == nil }.keys.sorted()
        }

        /// Every problem, as `ResolveError`s, in selection order.
        public var errors: [ResolveError] {
            problems.keys.sorted().flatMap { name in problems[name]!.map { ResolveError(selection: name, problem: $0) } }
        }
    }

    /// Lists the selections the job's actions consume.
    public func resolve(_ job: Job) async throws -> Resolution {
        let used = Set(job.actions.compactMap { action -> String? in
            if case .selection(let name)? = action.input { return name }
            return nil
        })
        let selections = job.selections.filter { used.contains($0.name) }
        for selection in selections where connectors[selection.source] == nil {
            throw ConnectorError.unsupported("no connector for source `\(selection.source)`")
        }
        return try await withThrowingTaskGroup(of: (String, [RemoteItem], [ListingProblem]).self) { group in
            for selection in selections {
                let connector = connectors[selection.source]!
                group.addTask {
                    do {
                        let (items, problems) = try await ListingProblems.collecting { try await connector.list(selection) }
                        return (selection.name, items, problems)
                    } catch where !(error is CancellationError) && !Task.isCancelled {
                        // The whole selection failed (its first request): a problem like any other.
                        let reason = (error as? ConnectorError)?.description ?? "\(error)"
                        return (selection.name, [], [ListingProblem(place: "", reason: ErrorText.clean(reason))])
                    }
                }
            }
            var resolution = Resolution(items: [:])
            for try await (name, items, problems) in group {
                resolution.items[name] = items
                if !problems.isEmpty { resolution.problems[name] = problems }
            }
            return resolution
        }
    }
}

/// A part of a selection's listing that could not be read.
public struct ResolveError: Error, Sendable, CustomStringConvertible {
    public var selection: String
    public var problem: ListingProblem
    public var description: String { "listing selection `\(selection)`: \(problem)" }
}
