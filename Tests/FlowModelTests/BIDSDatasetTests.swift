import Testing
@testable import FlowModel

/// The dataset-level files of a BIDS output folder.
@Suite struct BIDSDatasetTests {
    static func item(_ subject: String, _ fields: [String: String] = [:]) -> RemoteItem {
        RemoteItem(source: "loris", id: subject, url: "u", fields: ["candidate.PSCID": subject].merging(fields) { $1 })
    }

    @Test func documentsSayWhatTheDatasetIsAndWhoIsInIt() throws {
        let dataset = BIDSDataset(name: "pull", jobDescription: "a pull", jobPath: "jobs/pull.yml", flowctlVersion: "0.1.0",
                                  sourceURLs: ["https://loris.example.org"],
                                  items: [Self.item("MTL0002", ["candidate.Sex": "Female", "candidate.Site": "Montreal"]),
                                          Self.item("MTL0001", ["candidate.Sex": "Male"]), Self.item("MTL0002"),
                                          Self.item("MTL\t3")])
        let documents = Dictionary(uniqueKeysWithValues: dataset.documents().map { ($0.path, String(decoding: $0.bytes, as: UTF8.self)) })
        #expect(documents["participants.tsv"] == """
            participant_id\tsex\tsite
            sub-MTL0001\tM\tn/a
            sub-MTL0002\tF\tMontreal
            sub-MTL3\tn/a\tn/a

            """)
        let description = try #require(documents["dataset_description.json"])
        for fragment in ["\"BIDSVersion\" : \"1.9.0\"", "\"DatasetType\" : \"raw\"", "\"Name\" : \"pull\"",
                         "\"Description\" : \"job jobs/pull.yml: a pull\"", "\"URL\" : \"https://loris.example.org\""] {
            #expect(description.contains(fragment), "\(fragment) in \(description)")
        }
        #expect(documents["participants.json"]?.contains("\"Levels\"") == true)
        #expect(documents["participants.json"]?.contains("\"age\"") == false)
        #expect(documents[".bidsignore"] == "flowctl-manifest.json\n*.part\n")
        #expect(documents["README.md"]?.contains("Pulled by flowctl 0.1.0 with the job `jobs/pull.yml` from <https://loris.example.org>") == true)
    }

    /// The job's own fields join flowctl's, every key in byte order (BIDS readers do not care;
    /// diffs of the file between runs stay small).
    @Test func theJobsFieldsJoinTheDescription() throws {
        let dataset = BIDSDataset(name: "pull", jobDescription: nil, jobPath: "jobs/pull.yml", flowctlVersion: "0.1.0",
                                  sourceURLs: [], items: [],
                                  described: .init(text: ["License": "CC0"], lists: ["Authors": ["A. Author", "B. Author"]]))
        let description = String(decoding: dataset.datasetDescription(), as: UTF8.self)
        let keys = description.split(separator: "\n").filter { $0.hasPrefix("  \"") }.map { $0.split(separator: "\"")[1] }
        #expect(keys == ["Authors", "BIDSVersion", "DatasetType", "GeneratedBy", "License", "Name"])
        #expect(description.contains("\"A. Author\""))
        #expect(description.contains("\"License\" : \"CC0\""))
    }
}
