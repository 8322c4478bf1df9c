import FlowConnector
import FlowModel
import FlowSandbox

/// A sandbox with one platform and a source spec that reaches it (credentials, CA, retries):
/// the one set-up every connector test uses. Stops the sandbox when `body` ends.
public func withSandboxSource(_ platform: PlatformID, concurrency: Int = 4, faults: FaultSettings = FaultSettings(),
                              options: [String: String] = [:],
                              configure: (inout SandboxConfiguration) -> Void = { _ in },
                              _ body: (Sandbox, SourceSpec) async throws -> Void) async throws {
    var config = SandboxConfiguration()
    config.platforms = [platform]
    config.fileSize = FileSizeRange(min: 1000, max: 9000)
    config.faults = SandboxFaults(platforms: [platform.rawValue: faults])
    configure(&config)
    let sandbox = try await Sandbox.start(config)
    do {
        try await body(sandbox, sandboxSpec(sandbox, platform, concurrency: concurrency, options: options))
    } catch {
        await sandbox.stop()
        throw error
    }
    await sandbox.stop()
}

/// The source spec of a running sandbox platform, named after the platform.
public func sandboxSpec(_ sandbox: Sandbox, _ platform: PlatformID, concurrency: Int = 4,
                        options: [String: String] = [:]) -> SourceSpec {
    let endpoint = sandbox.endpoint(platform)
    let given = endpoint.credentials
    var credentials: [String: Secret] = [:]
    if let user = given.username { credentials["user"] = Secret(user) }
    if let password = given.password { credentials["password"] = Secret(password) }
    if let token = given.token { credentials["token"] = Secret(token) }
    if let key = given.apiKey { credentials["api-key"] = Secret(key) }
    return SourceSpec(name: platform.rawValue, type: sourceType(of: platform), url: endpoint.url, credentials: credentials,
                      concurrency: concurrency, retry: RetrySpec(attempts: 10, maxSeconds: 30),
                      tls: TLSSpec(caBundle: sandbox.caCertificatePath), options: options)
}

/// The job-file source type that speaks a sandbox platform's API.
public func sourceType(of platform: PlatformID) -> SourceType {
    switch platform {
    case .xnat: .xnat
    case .loris: .loris
    case .grandChallenge: .grandChallenge
    case .agora: .agora
    default: .http
    }
}

/// A selection of every file on each sandbox platform (the levels each one requires).
public func everythingSelection(on platform: PlatformID) -> Selection {
    let any = Matcher.glob(Glob("*"))
    let filters: [Selection.Filter]
    switch platform {
    case .xnat: filters = [.init(level: "project", field: "project.id", matcher: .glob(Glob("testenv")))]
    case .grandChallenge: filters = [.init(level: "archive", field: "archive.slug", matcher: any)]
    case .agora: filters = [.init(level: "project", field: "project.name", matcher: any)]
    default: filters = []
    }
    return Selection(name: "everything", source: platform.rawValue, filters: filters)
}
