import FlowFiles
import Foundation
import Hummingbird
import NIOCore
import Synchronization

/// Emulator of the LORIS REST API, see `api/loris.md`: `v0.0.3-dev` (PREVENT-AD's legacy scripts by
/// default), `v0.0.3` and `v0.0.4-dev` (current module code), on one origin.
public final class LORISEmulator: PlatformEmulator {
    public static let id = PlatformID.loris
    public static let defaultTLS = false
    /// Fixed, well-known sandbox credentials.
    public static let username = "sandbox"
    public static let password = "sandbox-loris"
    /// The version PREVENT-AD clients use.
    public static let defaultAPIVersion = "v0.0.3-dev"

    let data: Mutex<LORISData>
    let faults: FaultController
    let legacyDev: Bool
    /// HS256 key bytes, random per run (SymmetricKey itself is not Sendable).
    private let jwtKeyBytes: [UInt8]
    private let logins = Mutex<(failures: [String: [Date]], lockedUntil: [String: Date])>(([:], [:]))
    /// Tokens carry the generation they were issued in (a `gen` claim); `expireTokens` starts a new one.
    private let tokenGeneration = Mutex(0)

    /// Makes every token issued so far invalid now: the next request with one gets 401 (tests of
    /// re-login, with no waiting for a lifetime to run out).
    public func expireTokens() { tokenGeneration.withLock { $0 += 1 } }

    public init(context: PlatformContext) throws {
        let c = context.configuration
        data = Mutex(LORISData(seed: context.platformSeed, count: c.scaled(c.lorisCandidates), filesPerVisit: c.lorisFilesPerVisit, sizes: c.fileSize))
        faults = context.faults
        legacyDev = c.lorisLegacyDev
        jwtKeyBytes = (0..<32).map { _ in UInt8.random(in: 0...255) }
    }

    public var credentials: SandboxCredentials { SandboxCredentials(username: LORISEmulator.username, password: LORISEmulator.password) }
    public var endpointExtras: [String: String] { ["apiVersion": LORISEmulator.defaultAPIVersion] }

    public func environment(endpoint: SandboxEndpoint) -> [(String, String)] {
        [("LORIS_URL", endpoint.url), ("LORIS_USER", LORISEmulator.username), ("LORIS_PASS", LORISEmulator.password),
         ("LORIS_API_VERSION", LORISEmulator.defaultAPIVersion), ("LORIS_API_URL", endpoint.url + "/api/" + LORISEmulator.defaultAPIVersion)]
    }

    public var dataSummary: [String: Int] {
        data.withLock { d in ["candidates": d.candidates.count, "visits": d.candidates.reduce(0) { $0 + $1.visits.count }, "files": d.fileCount] }
    }

    /// How one API version behaves.
    struct Flavor {
        var version: String
        var legacy: Bool        // PREVENT-AD's v0.0.3-dev scripts
        var v4: Bool            // v0.0.4-dev additions
    }

    // MARK: dispatch

    public func handle(_ req: SandboxRequest) async throws -> Response {
        let seg = req.segments
        guard seg.first == "api" else {
            req.route("(unknown)")
            return json(.notFound, .object([("error", "not found")]), nil)
        }
        guard seg.count >= 2, seg[1].range(of: #"^v[0-9]+\.[0-9]+\.[0-9]+[^/]*$"#, options: .regularExpression) != nil else {
            req.route("/api (no version)")
            return json(.badRequest, .object([("error", "You must specify a version of the API to use in the URL")]), nil)
        }
        let version = seg[1]
        guard ["v0.0.3-dev", "v0.0.3", "v0.0.4-dev"].contains(version) else {
            req.route("/api/{version} (unsupported)")
            return json(.notFound, .object([("error", "Unsupported version")]), nil)
        }
        let flavor = Flavor(version: version, legacy: version == "v0.0.3-dev" && legacyDev, v4: version == "v0.0.4-dev")
        let rest = Array(seg.dropFirst(2))
        let prefix = "/api/{version}"

        if rest == ["login"] {
            req.route(prefix + "/login", .auth)
            return await login(req, flavor)
        }
        guard authorized(req) else {
            req.route(prefix + "/" + (rest.first ?? "") + " (unauthorized)", .auth)
            return json(.unauthorized, .object([("error", .string(flavor.legacy ? "User not authenticated" : "unauthorized"))]), flavor)
        }
        switch rest.first {
        case "candidates": return candidates(req, Array(rest.dropFirst()), flavor)
        case "projects": return projects(req, Array(rest.dropFirst()), flavor)
        case "sites" where flavor.v4:
            req.route(prefix + "/sites", .listing)
            return json(.ok, .object([("Sites", [.object([("Name", .string(LORISData.siteName)), ("Alias", .string(LORISData.siteAlias)), ("MRI alias", "DOU")])])]), flavor, req: req)
        default:
            req.route(prefix + "/(unknown)")
            return json(.notFound, .object([("error", "not found")]), flavor)
        }
    }

    // MARK: responses

    /// JSON as the flavor prints it: legacy scripts send `text/html` and escape slashes; current
    /// code sends `application/json` with an unquoted md5 `ETag` (304 on `If-None-Match`).
    func json(_ status: HTTPResponse.Status, _ value: JSON, _ flavor: Flavor?, req: SandboxRequest? = nil) -> Response {
        let legacy = flavor?.legacy ?? false
        let text = value.serialized(escapeSlashes: legacy)
        var headers: HTTPFields = [:]
        if legacy { headers[.accessControlAllowOrigin] = "*" }
        if status == .ok, let req, req.method == .get || req.method == .head {
            let etag = Digester.hex(.md5, of: Array(text.utf8))
            headers[.eTag] = etag
            if let inm = req.header("If-None-Match"), FileServer.matches(inm, etag) {
                return Response(status: .notModified, headers: headers)
            }
        }
        return Reply.text(status, text, contentType: legacy ? "text/html; charset=UTF-8" : "application/json", headers: headers)
    }

    // MARK: auth

    private func login(_ req: SandboxRequest, _ flavor: Flavor) async -> Response {
        guard req.method == .post else {
            if req.method == .options { return Reply.text(.ok, "", headers: [.allow: "POST"]) }
            var r = json(.methodNotAllowed, .object([("error", "method not allowed")]), flavor)
            r.headers[.allow] = "POST"
            return r
        }
        let body = (try? await req.body(maxSize: 1 << 16)).map { Data($0.readableBytesView) } ?? Data()
        let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
        guard let user = object?["username"] as? String, let pass = object?["password"] as? String else {
            return json(.badRequest, .object([("error", "Missing username or password")]), flavor)
        }
        let settings = faults.settings(for: .loris)
        let outcome: String? = logins.withLock { s in
            if let until = s.lockedUntil[user], until > Date() { return "This account is currently suspended due to too many bad login attempts." }
            if user == LORISEmulator.username && pass == LORISEmulator.password { s.failures[user] = nil; return nil }
            if let limit = settings.lockoutAfterFailures {
                var list = (s.failures[user] ?? []).filter { Date().timeIntervalSince($0) < 3600 }
                list.append(Date())
                s.failures[user] = list
                if list.count >= limit { s.lockedUntil[user] = Date().addingTimeInterval(TimeInterval(settings.lockoutSeconds)) }
            }
            return "Incorrect username or password."
        }
        if let message = outcome { return json(.unauthorized, .object([("error", .string(message))]), flavor) }
        let lifetime = settings.tokenLifetimeSeconds ?? 86400
        return json(.ok, .object([("token", .string(makeJWT(user: user, origin: req.origin, lifetime: lifetime)))]), flavor)
    }

    func makeJWT(user: String, origin: String, lifetime: Int) -> String {
        let now = Int(Date().timeIntervalSince1970)
        let header = JSON.object([("typ", "JWT"), ("alg", "HS256")]).serialized()
        let claims = JSON.object([("iss", .string(origin)), ("aud", .string(origin)), ("iat", .int(Int64(now))), ("nbf", .int(Int64(now))),
                                  ("exp", .int(Int64(now + lifetime))), ("user", .string(user)),
                                  ("gen", .int(Int64(tokenGeneration.withLock { $0 })))]).serialized()
        let signingInput = LORISEmulator.base64url(Data(header.utf8)) + "." + LORISEmulator.base64url(Data(claims.utf8))
        let mac = Digester.hmacSHA256(key: jwtKeyBytes, data: Array(signingInput.utf8))
        return signingInput + "." + LORISEmulator.base64url(Data(mac))
    }

    /// Valid signature, not expired (the `exp` claim, or a shorter lifetime set as a fault since).
    func authorized(_ req: SandboxRequest) -> Bool {
        guard let header = req.header("Authorization") else { return false }
        let parts = header.split(separator: " ")
        guard parts.count >= 2 else { return false }
        let token = parts[1].split(separator: ".").map(String.init)
        guard token.count == 3, let sig = LORISEmulator.unbase64url(token[2]) else { return false }
        guard Digester.constantTimeEqual([UInt8](sig), Digester.hmacSHA256(key: jwtKeyBytes, data: Array((token[0] + "." + token[1]).utf8))),
              let payload = LORISEmulator.unbase64url(token[1]),
              let claims = try? JSONSerialization.jsonObject(with: payload) as? [String: Any],
              let exp = (claims["exp"] as? NSNumber)?.doubleValue, let iat = (claims["iat"] as? NSNumber)?.doubleValue else { return false }
        let now = Date().timeIntervalSince1970
        if now >= exp { return false }
        if (claims["gen"] as? NSNumber)?.intValue != tokenGeneration.withLock({ $0 }) { return false }
        if let lifetime = faults.settings(for: .loris).tokenLifetimeSeconds, now >= iat + Double(lifetime) { return false }
        return true
    }

    static func base64url(_ d: Data) -> String {
        d.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func unbase64url(_ s: String) -> Data? {
        var b = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b.count % 4 != 0 { b += "=" }
        return Data(base64Encoded: b)
    }
}
