import Foundation
import FlowConnector
import FlowHTTP
import FlowModel

/// XNAT sessions: one `POST /data/JSESSION` with basic auth (user/password, an alias token's
/// alias/secret, or curl's netrc), then the `JSESSIONID` cookie on every request. When and how
/// often to log in is `SessionLogin`'s.
struct XNATLogin: LoginProtocol {
    /// What a request is signed with: the session cookie, or basic auth on every request when
    /// the server gave no session id back.
    enum Credential: Sendable {
        case session(String)
        case basicOnly
    }

    /// Basic credentials, when the job gives them; nil means curl's netrc supplies them.
    let basic: String?
    let loginURL: String

    init(user: String?, password: String?, baseURL: String) {
        basic = user.flatMap { user in password.map { "Basic " + Data("\(user):\($0)".utf8).base64EncodedString() } }
        loginURL = URLText.join(baseURL, "/data/JSESSION")
    }

    func logIn(through session: SourceSession) async throws -> (Credential, expires: Double?) {
        var request = HTTPRequest(method: "POST", url: loginURL)
        if let basic { request.headers.add(name: "Authorization", value: basic) }
        let response = try await session.login(request, platform: "XNAT")
        let id = Self.sessionID(response)
        if let id { SecretValues.register(id) }
        return (id.map(Credential.session) ?? .basicOnly, nil)
    }

    func sign(_ request: inout HTTPRequest, with credential: Credential) {
        switch credential {
        case .session(let id): request.headers.replaceOrAdd(name: "Cookie", value: "JSESSIONID=\(id)")
        case .basicOnly: if let basic { request.headers.replaceOrAdd(name: "Authorization", value: basic) }
        }
    }

    /// The JSESSION id: the body (32 hex characters) or the `JSESSIONID` cookie.
    static func sessionID(_ response: HTTPResponse) -> String? {
        let body = response.text.trimmingCharacters(in: .whitespacesAndNewlines)
        if !body.isEmpty, body.count <= 64, body.allSatisfy({ $0.isHexDigit }) { return body }
        for header in response.headers.values("Set-Cookie") {
            let first = header.split(separator: ";").first ?? ""
            let pair = first.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0] == "JSESSIONID", !pair[1].isEmpty { return pair[1] }
        }
        return nil
    }
}
