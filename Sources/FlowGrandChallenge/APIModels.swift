/// The parts of grand-challenge.org's JSON that flowctl reads. Property names are the API's own
/// (snake_case) so they can be checked against api/grand-challenge.md at a glance; fields the
/// connector does not need are left out (the decoder ignores them).

/// `{count, next, previous, results}` of every list.
struct Page<T: Decodable & Sendable>: Decodable, Sendable {
    let count: Int
    let next: String?
    let results: [T]
}

struct APIVersion: Decodable, Sendable {
    let latest_version: String
}

struct APIArchive: Decodable, Sendable {
    let pk: String
    let title: String
    let api_url: String
    /// `https://host/archives/<slug>/`: the archive serializer has no slug field, its page URL ends with it.
    let url: String

    var slug: String { url.split(separator: "/").last.map(String.init) ?? title }
}

struct APIReaderStudy: Decodable, Sendable {
    let pk: String
    let slug: String
    let title_safe: String?
    let api_url: String
}

struct APIImage: Decodable, Sendable {
    let pk: String
    let name: String
    let files: [APIImageFile]
    let width: Int?
    let height: Int?
    let modality: APIModality?
    let api_url: String
}

struct APIModality: Decodable, Sendable {
    let modality: String
}

struct APIImageFile: Decodable, Sendable {
    let pk: String
    let file: String
    let image_type: String?
}

struct APIAlgorithm: Decodable, Sendable {
    let pk: String
    let slug: String
    let api_url: String
    let interfaces: [APIInterfaceSet]
}

/// One allowed combination of input sockets and the outputs it produces.
struct APIInterfaceSet: Decodable, Sendable {
    let inputs: [APISocket]
    let outputs: [APISocket]
}

struct APISocket: Decodable, Sendable {
    let slug: String
    let kind: String
    let super_kind: String
}

/// A socket value in a job, item or display set.
struct APIValue: Decodable, Sendable {
    let interface: APISocket
    let file: String?
    let image: String?
    let pk: Int
}

struct APIJob: Decodable, Sendable {
    let pk: String
    let api_url: String
    let status: String
    let inputs: [APIValue]
    let outputs: [APIValue]
    /// Not in grand-challenge.org's serializer (its UI shows errors); the sandbox sends it.
    let error_message: String?
}

struct APIJobPost: Decodable, Sendable {
    let pk: String
    let status: String
}

struct APIUpload: Decodable, Sendable {
    let pk: String
    let filename: String
    let s3_upload_id: String
    let status: String
    let api_url: String
    let presigned_urls: [String: String]?
    /// `list-parts`: the parts S3 holds.
    let parts: [APIPart]?
}

/// One part of a multipart upload, as `list-parts` gives it.
struct APIPart: Decodable, Sendable {
    let ETag: String
    let PartNumber: Int
    let Size: Int64?
}

/// An archive item's or display set's create/update reply: only its pk matters.
struct APICreated: Decodable, Sendable {
    let pk: String
}
