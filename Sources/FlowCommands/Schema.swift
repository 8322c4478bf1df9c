import ArgumentParser
import FlowJobFile

struct Schema: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the JSON Schema of job files (for editors: yaml-language-server).",
        discussion: """
            The same schema is in schemas/flowctl-job.schema.json of the flowctl repository. \
            Point an editor at it from the first line of a job file:

              flowctl schema > flowctl-job.schema.json
              # yaml-language-server: $schema=flowctl-job.schema.json
            """)

    func run() {
        print(JobSchema.json(), terminator: "")
    }
}
