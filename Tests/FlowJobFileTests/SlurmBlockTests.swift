import Testing
@testable import FlowJobFile
import FlowModel

/// The job file's `slurm:` block (issue #25): the defaults of `flowctl submit --slurm`.
@Suite struct SlurmBlockTests {
    static func load(_ slurm: String) -> LoadResult {
        let text = """
            flowctl: 1
            sources:
              here: {type: local, url: data}
            select:
              all: {source: here}
            actions:
              pull: {download: all, to: out}
            slurm: \(slurm)

            """
        return JobLoader(environment: [:]).load(path: "slurm.yml", bytes: Array(text.utf8))
    }

    @Test func everySettingIsRead() throws {
        let result = Self.load("{shards: 8, max-running: 4, jobs: 16, partition: transfer, time: \"2:00:00\", mem: 2G, shard-by: subject.group}")
        #expect(result.errors.isEmpty, "\(errors(result))")
        let slurm = try #require(result.job?.slurm)
        #expect(slurm == SlurmSettings(shards: 8, maxRunning: 4, jobs: 16, partition: "transfer", time: "2:00:00", mem: "2G",
                                       shardBy: "subject.group"))
    }

    @Test func badSettingsAreLocatedErrors() {
        let result = Self.load("{shards: 0, max-runing: 4}")
        #expect(errors(result).contains { $0.hasPrefix("8:17:") && $0.contains("`shards` must be a whole number of at least 1") },
                "\(errors(result))")
        #expect(errors(result).contains { $0.hasPrefix("8:20:") && $0.contains("did you mean `max-running`") }, "\(errors(result))")
        #expect(Self.load("8").errors.contains { $0.message.contains("`slurm` must be a mapping") })
    }
}
