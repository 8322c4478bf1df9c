import Foundation
import FlowConnector
import FlowHTTP
import FlowModel

/// LORIS logins: `POST /login {"username","password"}` -> JWT, sent as `Authorization: Bearer`.
/// When and how often to log in (before `exp`, after a 401) is `SessionLogin`'s.
struct LORISLogin: LoginProtocol {
    let body: [UInt8]
    let loginURL: String

    init(user: String, password: String, apiBase: String) throws {
        body = Array(try JSONSerialization.data(withJSONObject: ["username": user, "password": password]))
        loginURL = URLText.join(apiBase, "login")
    }

    func logIn(through session: SourceSession) async throws -> (String, expires: Double?) {
        let request = HTTPRequest(method: "POST", url: loginURL, headers: ["Content-Type": "application/json"], body: .bytes(body))
        // LORIS answers wrong credentials with 400 as well as 401/403.
        let response = try await session.login(request, platform: "LORIS", refused: [400, 401, 403])
        let reply = try SourceSession.decode(JSONValue.self, response.body, from: "/login")
        guard let jwt = reply["token"]?.text, !jwt.isEmpty else { throw ConnectorError.badReply("/login: no `token` in the reply") }
        SecretValues.register(jwt)
        return (jwt, Self.expiry(of: jwt)?.timeIntervalSince1970)
    }

    func sign(_ request: inout HTTPRequest, with token: String) {
        request.headers.replaceOrAdd(name: "Authorization", value: "Bearer \(token)")
    }

    /// The `exp` claim of a JWT, when it has one (no signature check: the server checks it).
    static func expiry(of jwt: String) -> Date? {
        let parts = jwt.split(separator: ".")
        guard parts.count == 3 else { return nil }
        var payload = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        payload += String(repeating: "=", count: (4 - payload.count % 4) % 4)
        guard let data = Data(base64Encoded: payload),
              let claims = try? JSONDecoder().decode(JSONValue.self, from: data),
              let exp = claims["exp"]?.text.flatMap(Double.init) else { return nil }
        return Date(timeIntervalSince1970: exp)
    }
}
