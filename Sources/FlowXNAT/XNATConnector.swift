import Foundation
import FlowConnector
import FlowHTTP
import FlowModel

/// Connector for XNAT's REST API: lists scan files, downloads them with MD5 checks, uploads
/// files into resources. Every request goes through one `SourceSession` (limits, retries, re-login).
public struct XNATConnector: Connector {
    public let spec: SourceSpec
    let session: SourceSession
    public var taskExecutors: [any TaskExecutor] { session.http.taskExecutors }
    /// Upload resources' files, listed once per run (see `upload`).
    let uploadTargets = ListedTargets<RemoteItem>()
    let resourceURIs = ResourceURIs()

    /// Builds the connector; credentials are `user`/`password` (or an alias token's
    /// `token`/`secret`), or `netrc: true`, or none for public data.
    public init(spec: SourceSpec) throws {
        try spec.requireWebURL("XNAT")
        self.spec = spec
        let user = (spec.credentials["user"] ?? spec.credentials["token"])?.revealed
        let password = (spec.credentials["password"] ?? spec.credentials["secret"])?.revealed
        if (user == nil) != (password == nil) {
            throw ConnectorError.authentication("XNAT source `\(spec.name)` needs both `user` and `password` (or an alias token's `token` and `secret`)")
        }
        if user != nil || spec.netrc {
            let ref = SessionRef()
            let login = SessionLogin(XNATLogin(user: user, password: password, baseURL: spec.url), session: ref)
            session = try SourceSession(spec: spec, auth: login)
            ref.value = session
        } else {
            session = try SourceSession(spec: spec)
        }
    }

    // MARK: identity

    public func identity() async throws -> [String: String] {
        var out = ["type": "xnat", "url": spec.url]
        let response = try await session.request(HTTPRequest(url: session.url("/xapi/siteConfig/buildInfo?format=json")), accept: [404])
        if response.status == 200, let info = try? SourceSession.decode(JSONValue.self, response.body, from: "/xapi/siteConfig/buildInfo"),
           let version = info["version"]?.text {
            out["version"] = version
        } else {
            // XNAT 1.6 answers its version as text at /data/version.
            let old = try await session.request(HTTPRequest(url: session.url("/data/version")), accept: [404])
            if old.status == 200 { out["version"] = old.text.trimmingCharacters(in: .whitespacesAndNewlines) }
        }
        return out
    }

    // MARK: fetch

    public func fetch(_ item: RemoteItem, to partPath: String, resume: Bool, unnamed: Bool,
                      progress: (@Sendable (Int64) -> Void)?) async throws -> FetchResult {
        try await session.fetch(item, to: partPath, resume: resume, unnamed: unnamed, ticketed: true, progress: progress)
    }
}
