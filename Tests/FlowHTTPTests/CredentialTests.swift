import FlowFiles
@testable import FlowHTTP
import Foundation
import Testing

/// Credentials go only to the origin (scheme, host, port) they were given for, whatever the
/// server redirects to: headers, netrc entries and request bodies alike.
@Suite struct CredentialTests {
    /// curl matches a netrc entry by host name alone: before netrc was kept to the source's
    /// origin, a redirect to another port of the same host got the password as Basic auth.
    @Test func netrcCredentialsStayWithTheirOrigin() async throws {
        let server = try await Servers.main.value
        let other = try await Servers.other.value
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let netrc = dir + "/netrc"
        try writeFile(netrc, Array("machine 127.0.0.1 login netrc-user password netrc-secret\n".utf8))
        let client = try makeClient {
            $0.netrcOrigin = server.base + "/some/api/"
            $0.netrcFile = netrc
        }
        defer { client.shutdown() }

        // Its own origin gets them (so the checks below mean something).
        let own = try await client.send(HTTPRequest(url: "\(server.base)/headers"))
        let basic = "Basic " + Data("netrc-user:netrc-secret".utf8).base64EncodedString()
        #expect(own.text.contains("authorization: \(basic)"))
        let sameOrigin = try await client.send(HTTPRequest(url: "\(server.base)/redirect?to=/headers"))
        #expect(sameOrigin.text.contains("authorization: \(basic)"))

        // Another port of the same host: neither by a redirect nor named directly (a file URI a
        // listing gave).
        let redirected = try await client.send(HTTPRequest(url: "\(server.base)/redirect?to=\(other.base)/headers"))
        #expect(redirected.status == 200)
        #expect(redirected.effectiveURL == "\(other.base)/headers")
        #expect(!redirected.text.contains("authorization"), "\(redirected.text)")
        let direct = try await client.send(HTTPRequest(url: "\(other.base)/headers"))
        #expect(!direct.text.contains("authorization"), "\(direct.text)")

        // No origin named: netrc is never read.
        let off = try makeClient { $0.netrcFile = netrc }
        defer { off.shutdown() }
        #expect(!(try await off.send(HTTPRequest(url: "\(server.base)/headers"))).text.contains("authorization"))
    }

    /// A 307/308 keeps the method and body: followed to another origin, a LORIS login's JSON
    /// (user and password) or an upload's bytes would reach a host they were never meant for.
    @Test(arguments: [(307, "POST"), (308, "POST"), (307, "PUT"), (302, "PUT")])
    func aBodyNeverFollowsARedirectToAnotherOrigin(code: Int, method: String) async throws {
        let server = try await Servers.main.value
        let other = try await Servers.other.value
        let client = try makeClient()
        defer { client.shutdown() }
        let login = Array(#"{"username":"u","password":"body-secret"}"#.utf8)
        let error = await httpError {
            let reply = try await client.send(HTTPRequest(method: method, url: "\(server.base)/redirect?code=\(code)&to=\(other.base)/upload",
                                                          body: .bytes(login)))
            Issue.record("the body was sent on to the other origin: \(reply.status) \(reply.text)")
        }
        guard case .refusedRedirect(let message) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(message.contains("another origin"))

        // The same origin keeps it (a 307 to itself is no leak).
        let same = try await client.send(HTTPRequest(method: method, url: "\(server.base)/redirect?code=\(code)&to=/upload",
                                                     body: .bytes(login)))
        #expect(same.text == "\(method) \(login.count) \(sha256Hex(login))")
    }

    /// 301/302/303 turn a POST into a GET without its body: that may go anywhere (credential
    /// headers dropped), as browsers and curl do.
    @Test func aPostTurnedIntoAGetMayLeaveTheOrigin() async throws {
        let server = try await Servers.main.value
        let other = try await Servers.other.value
        let client = try makeClient()
        defer { client.shutdown() }
        let response = try await client.send(HTTPRequest(method: "POST", url: "\(server.base)/redirect?code=303&to=\(other.base)/headers",
                                                         headers: ["Authorization": "Bearer t0ken"], body: .bytes([1, 2, 3])))
        #expect(response.text.hasPrefix("method: GET"))
        #expect(!response.text.contains("t0ken"))
    }
}
