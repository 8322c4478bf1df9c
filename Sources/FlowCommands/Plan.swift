import ArgumentParser
import FlowPlanner

struct Plan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Dry run: list what the selections match and show what `run` would do.",
        discussion: """
            Lists remote items (nothing is downloaded, uploaded or started) and compares them with \
            the output folders and the journal, so up-to-date work shows as skipped with its reason. \
            With --detailed-exitcode: 0 nothing to do, 2 changes pending, 1 error.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json, dot, mermaid
    }

    @OptionGroup var options: JobOptions

    @Option(help: "Output format: text, json (versioned), dot (Graphviz) or mermaid.")
    var format: Format = .text

    @Flag(help: "Exit 2 when the plan has work to do, 0 when it has none.")
    var detailedExitcode = false

    func run() async throws {
        let session = try JobSession.open(options)
        let plan: FlowPlanner.Plan
        do {
            let items = try await session.resolve()
            plan = try Planner(baseDirectory: session.baseDirectory, completed: session.completedWork())
                .plan(session.job, items: items)
        } catch {
            Console.error("error: \(error)")
            throw ExitCode(1)
        }
        switch format {
        case .text: print(PlanRenderer.text(plan), terminator: "")
        case .json: print(PlanRenderer.json(plan), terminator: "")
        case .dot: print(PlanRenderer.dot(plan), terminator: "")
        case .mermaid: print(PlanRenderer.mermaid(plan), terminator: "")
        }
        if detailedExitcode && plan.hasChanges { throw ExitCode(2) }
    }
}
