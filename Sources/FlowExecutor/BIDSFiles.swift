import FlowConnector
import FlowFiles
import FlowModel
import FlowPlanner
import Foundation

/// The dataset-level files of each output folder that the `bids` layout fills
/// (`dataset_description.json`, `participants.tsv`/`.json`, `.bidsignore`).
public enum BIDSFiles {
    /// The dataset of each BIDS output root, from what the plan placed there (taken before the
    /// run: the plan is let go of while it runs).
    public static func datasets(of plan: Plan, jobPath: String, flowctlVersion: String) -> [String: BIDSDataset] {
        var datasets: [String: BIDSDataset] = [:]
        let job = plan.job
        for action in job.actions where action.kind == .download && job.layout(of: action).isBIDS {
            guard let root = plan.roots[action.name] else { continue }
            var items: [RemoteItem] = []
            for task in plan.graph.tasks where task.action == action.name && task.kind == .download {
                if let item = task.item { items.append(item) }
            }
            // A source's address without credentials or query: where the data came from.
            let urls = job.sourceName(of: action).flatMap(job.source(named:)).map { [URLText.redacted($0.url)] } ?? []
            datasets[root] = BIDSDataset(name: job.name, jobDescription: job.description, jobPath: jobPath,
                                         flowctlVersion: flowctlVersion, sourceURLs: urls, items: items,
                                         described: job.layout(of: action).dataset)
        }
        return datasets
    }

    /// Writes a dataset's files into `root` (each through a rename) and returns them as the
    /// manifest lists them, so that `flowctl verify` covers them too.
    public static func write(_ dataset: BIDSDataset, to root: String) throws -> [WrittenFile] {
        var written: [WrittenFile] = []
        for (path, bytes) in dataset.documents() {
            let destination = root + "/" + path
            try FileSync.replace(destination, with: bytes)
            written.append(WrittenFile(destination: destination, source: nil, remoteID: nil, size: Int64(bytes.count),
                                       sha256: FileDigest.sha256(bytes), serverChecksum: nil,
                                       finishedAt: Date().timeIntervalSince1970))
        }
        return written
    }
}

extension WrittenFile {
    /// A file flowctl wrote itself (no remote origin).
    init(destination: String, source: String?, remoteID: String?, size: Int64?, sha256: String?, serverChecksum: String?,
         finishedAt: Double?) {
        self.destination = destination
        self.source = source
        self.remoteID = remoteID
        self.size = size
        self.sha256 = sha256
        self.serverChecksum = serverChecksum
        self.finishedAt = finishedAt
    }
}
