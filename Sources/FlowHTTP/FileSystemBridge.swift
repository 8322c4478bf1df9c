import FlowFiles

// FlowHTTP streams bodies into the files FlowFiles makes: the bridges between the two.

extension HTTPError {
    /// A local file operation of a transfer failed.
    init(_ error: FileSystemError) {
        self = .fileSystem(path: error.path, errno: error.errno, message: error.message)
    }
}

extension PartValidator {
    /// What `If-Range` may carry for this answer: a strong entity tag, else the `Last-Modified` date.
    static func of(_ headers: HTTPHeaders) -> String? {
        let etag = headers.first("ETag")
        let strong = etag.map { $0.utf8.count > 1 && $0.hasPrefix("\"") && $0.hasSuffix("\"") } ?? false
        let validator = strong ? etag : headers.first("Last-Modified")
        return validator.flatMap { $0.utf8.count <= maxLength ? $0 : nil }
    }
}
