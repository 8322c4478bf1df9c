import Foundation
import FlowConnector
import FlowHTTP
import FlowModel

/// Algorithm jobs: start one per input image, poll it, and list its outputs as downloadable items.
extension GrandChallengeConnector {
    /// Starts `algorithmSlug` on the image `input` (an item this connector listed or uploaded).
    /// `inputName` is the input socket's slug; nil picks the algorithm's single image input.
    /// When the server says the job already exists (a retry whose first reply was lost), that job is returned.
    public func startRun(_ algorithmSlug: String, input: RemoteItem, inputName: String?) async throws -> RemoteRun {
        guard let imagePK = input.fields["image.pk"] else {
            throw ConnectorError.unsupported("`\(input.id)` is not a Grand Challenge image; run algorithms on images of an archive, "
                                             + "a reader study or an upload to one")
        }
        guard let algorithm = try await all(APIAlgorithm.self, "algorithms/", [("slug", algorithmSlug)]).first(where: { $0.slug == algorithmSlug }) else {
            throw ConnectorError.badReply("no algorithm `\(algorithmSlug)` on \(base) (or the token may not use it)")
        }
        let socket = try Self.inputSocket(of: algorithm, named: inputName)
        let value: [String: Any] = ["interface": socket, "value": NSNull(), "file": NSNull(), "image": api("cases/images/\(imagePK)/"),
                                    "upload_session": NSNull(), "user_upload": NSNull(), "user_uploads": NSNull(), "image_name": NSNull()]
        var wait = 2.0
        for _ in 0..<120 {
            let response = try await send("POST", api("algorithms/jobs/"), ["algorithm": algorithm.api_url, "inputs": [value]], accept: [400])
            if response.status != 400 {
                let job = try SourceSession.decode(APIJobPost.self, response.body, from: "POST algorithms/jobs/")
                return RemoteRun(id: job.pk, url: api("algorithms/jobs/\(job.pk)/"), input: input)
            }
            let message = SourceSession.summary(of: response.body)
            if message.contains("already exists"), let existing = try await existingJob(algorithm: algorithm, imagePK: imagePK) {
                return RemoteRun(id: existing.pk, url: existing.api_url, input: input)
            }
            guard message.contains("too many active jobs") else {
                throw ConnectorError.status(400, url: api("algorithms/jobs/"), message: ErrorText.quoted(message), retryAfter: nil)
            }
            // The platform caps unfinished jobs per user: wait for some to finish, then ask again.
            try await Task.sleep(for: .seconds(wait))
            wait = min(wait * 1.5, 60)
        }
        throw ConnectorError.status(400, url: api("algorithms/jobs/"), message: "too many active jobs for too long", retryAfter: nil)
    }

    /// The input socket: the one named, else the single image input of an interface with one input.
    static func inputSocket(of algorithm: APIAlgorithm, named name: String?) throws -> String {
        let inputs = algorithm.interfaces.flatMap(\.inputs)
        if let name {
            guard inputs.contains(where: { $0.slug == name }) else {
                throw ConnectorError.unsupported("algorithm `\(algorithm.slug)` has no input `\(name)`; its inputs: "
                                                 + Set(inputs.map(\.slug)).sorted().joined(separator: ", "))
            }
            return name
        }
        let single = algorithm.interfaces.filter { $0.inputs.count == 1 && $0.inputs[0].super_kind.lowercased() == "image" }
        guard single.count == 1 else {
            throw ConnectorError.unsupported("algorithm `\(algorithm.slug)` has no single image input; name one with `input:` ("
                                             + Set(inputs.map(\.slug)).sorted().joined(separator: ", ") + ")")
        }
        return single[0].inputs[0].slug
    }

    /// The latest job of this algorithm on this image that has not failed.
    func existingJob(algorithm: APIAlgorithm, imagePK: String) async throws -> APIJob? {
        let jobs = try await all(APIJob.self, "algorithms/jobs/", [("algorithm_image__algorithm", algorithm.pk), ("input_image", imagePK)])
        return jobs.last { !["Failed", "Cancelled"].contains($0.status) }
    }

    /// Looks at a job once; on success its outputs are items with `output.socket`, `output.name`,
    /// `file.name`, `job.id` and the input's `input.name` / `input.id`.
    public func poll(_ run: RemoteRun) async throws -> RunStatus {
        let job = try await get(APIJob.self, run.url)
        switch job.status {
        case "Succeeded":
            return .succeeded(outputs: try await outputs(of: job, run: run))
        case "Failed", "Cancelled":
            // The executor names the job; say what went wrong (grand-challenge.org's API carries no error text).
            return .failed(job.error_message ?? "the job ended \(job.status.lowercased()); its page on grand-challenge.org shows why")
        case let status where Self.runningStatuses.contains(status):
            return .running(status)
        default:
            // A status grand-challenge.org does not document: maybe a new one, so keep waiting
            // (within the wait's bound), but say so when the bound is reached.
            return .running("\(job.status) (not a status Grand Challenge documents)")
        }
    }

    /// The statuses of a job still on its way (`ComponentJob.STATUS_CHOICES` less the terminal ones).
    static let runningStatuses: Set<String> = ["Queued", "Started", "Re-Queued", "Provisioning", "Provisioned", "Executing",
                                               "Executed", "Parsing Outputs", "Executing Algorithm",
                                               "External Execution In Progress", "Validating inputs"]

    func outputs(of job: APIJob, run: RemoteRun) async throws -> [RemoteItem] {
        let input = run.input
        var fields = ["job.id": job.pk, "input.id": input.id]
        fields["input.name"] = input.fields["image.name"] ?? input.fields["file.name"]
        let common = fields
        let perValue = try await concurrentMap(job.outputs) { value -> [RemoteItem] in
            var fields = common
            fields["output.socket"] = value.interface.slug
            if let imageURL = value.image {
                let image = try await get(APIImage.self, imageURL)
                fields["output.name"] = image.name
                fields.merge(Self.imageFields(image)) { $1 }
                return image.files.map { file in
                    var item = fileItem(file, of: image, fields: fields)
                    item.id = "jobs/\(job.pk)/\(value.interface.slug)/\(file.pk)"
                    return item
                }
            }
            if let fileURL = value.file {
                let name = fileURL.split(separator: "?").first.flatMap { $0.split(separator: "/").last }.map(String.init) ?? "output"
                fields["output.name"] = name
                fields["file.name"] = name
                return [RemoteItem(source: spec.name, id: "jobs/\(job.pk)/\(value.interface.slug)/\(value.pk)", url: fileURL, fields: fields)]
            }
            return []  // inline values have nothing to download
        }
        return perValue.flatMap { $0 }
    }
}
