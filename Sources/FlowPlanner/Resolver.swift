import FlowConnector
import FlowModel

/// Lists what each selection an action uses matches, all selections concurrently
/// (each connector bounds its own requests by its source's limits).
public struct Resolver: Sendable {
    public var connectors: [String: any Connector]

    public init(connectors: [String: any Connector]) {
        self.connectors = connectors
    }

    /// Selection name -> its items, for the selections the job's actions consume.
    public func resolve(_ job: Job) async throws -> [String: [RemoteItem]] {
        let used = Set(job.actions.compactMap { action -> String? in
            if case .selection(let name)? = action.input { return name }
            return nil
        })
        let selections = job.selections.filter { used.contains($0.name) }
        return try await withThrowingTaskGroup(of: (String, [RemoteItem]).self) { group in
            for selection in selections {
                guard let connector = connectors[selection.source] else {
                    throw ConnectorError.unsupported("no connector for source `\(selection.source)`")
                }
                group.addTask {
                    do {
                        return (selection.name, try await connector.list(selection))
                    } catch {
                        throw ResolveError(selection: selection.name, source: selection.source, underlying: error)
                    }
                }
            }
            var result: [String: [RemoteItem]] = [:]
            for try await (name, items) in group { result[name] = items }
            return result
        }
    }
}

/// Listing a selection failed.
public struct ResolveError: Error, CustomStringConvertible {
    public var selection: String
    public var source: String
    public var underlying: any Error
    public var description: String { "listing selection `\(selection)` on source `\(source)` failed: \(underlying)" }
}
