import ArgumentParser
import Foundation
import FlowModel
import FlowPlanner

struct Plan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Dry run: list what the selections match and show what `run` would do.",
        discussion: """
            Lists remote items (nothing is downloaded, uploaded or started) and compares them with \
            the output folders and the journal, so up-to-date work shows as skipped with its reason. \
            With --detailed-exitcode: 0 nothing to do, 2 changes pending (or a selection that \
            matches nothing), 1 error.

              flowctl plan jobs/xnat-dwi.yml
              flowctl plan jobs/xnat-dwi.yml --all                 every task, not groups
              flowctl plan jobs/xnat-dwi.yml --format dot | dot -Tsvg > plan.svg
              flowctl plan jobs/xnat-dwi.yml --detailed-exitcode   exit 2: work to do
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json, dot, mermaid
    }

    @OptionGroup var options: JobOptions

    @Option(help: "Output format: text, json (versioned), dot (Graphviz) or mermaid.")
    var format: Format = .text

    @Flag(help: "Exit 2 when the plan has work to do, the remote drifted from the lock or a selection matches nothing; 0 otherwise.")
    var detailedExitcode = false

    @Flag(help: "Take the items from <job>.lock.json instead of listing the remote.")
    var locked = false

    @Option(help: "Tasks listed per action before the text shows groups (subjects, candidates, ...) instead.")
    var limit = PlanRenderer.listedTasks

    @Flag(help: "List every task of the text form.")
    var all = false

    func validate() throws {
        guard limit >= 1 else { throw ValidationError("--limit must be at least 1 (got \(limit)); --all lists everything") }
    }

    func run() async throws {
        let session = try JobSession.open(options)
        try session.requireConverters()
        let plan: FlowPlanner.Plan
        var drift = Drift()
        var matchedNothing = false
        // Read once: a damaged lock is warned of once, and its drift is not shown.
        let lock = locked ? nil : session.existingLock()
        do {
            let listed = try await session.items(locked: locked)
            matchedNothing = session.warnOfEmptySelections(listed)
            if let lock { drift = Drift.between(lock: lock, listed: listed.items) }
            plan = try Planner(baseDirectory: session.baseDirectory, completed: session.completedWork())
                .plan(session.job, resolution: listed)
        } catch {
            Console.error("error: \(error)")
            throw ExitCode(1)
        }
        switch format {
        case .text:
            print(PlanRenderer.text(plan, limit: all ? nil : limit), terminator: "")
            if lock != nil { print("\n" + drift.text, terminator: "") }
        case .json:
            // Streamed: a plan of a million tasks is hundreds of megabytes of JSON.
            try PlanRenderer.writeJSON(plan, drift: lock != nil ? drift : nil) {
                try FileHandle.standardOutput.write(contentsOf: $0)
            }
        case .dot: print(PlanRenderer.dot(plan), terminator: "")
        case .mermaid: print(PlanRenderer.mermaid(plan), terminator: "")
        }
        // The process ends right after: freeing a plan of a million tasks one by one costs more
        // than the kernel taking the memory back at exit (5% of a 1,000,000-item plan's time).
        PlanOutlivesCommand.plan = plan
        // What cannot be planned is an error, whatever else the plan holds (the text shows it).
        if !plan.problems.isEmpty {
            Console.error("error: \(plan.problems.count) item(s) or listing(s) cannot be planned (see above)")
            throw ExitCode(1)
        }
        if detailedExitcode && (plan.hasChanges || !drift.isEmpty || matchedNothing) { throw ExitCode(2) }
    }
}

/// Keeps the last plan until the process exits, so that it is never freed piece by piece.
enum PlanOutlivesCommand {
    nonisolated(unsafe) static var plan: FlowPlanner.Plan?
}
