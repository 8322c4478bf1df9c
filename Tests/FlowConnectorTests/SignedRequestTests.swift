@testable import FlowConnector
import FlowHTTP
import FlowModel
import Foundation
import Testing

/// Every platform's credential (XNAT's cookie or Basic, LORIS's and GC's Bearer, Agora's API
/// key) is added by `SourceSession.signed`, which signs only the source's own origin: a file URL,
/// a presigned part URL or a next page on another host, port or scheme goes out bare.
@Suite struct SignedRequestTests {
    struct Stamp: Authenticator {
        func authorize(_ request: inout HTTPRequest) async throws {
            request.headers.replaceOrAdd(name: "Authorization", value: "Token stamp-secret")
        }
        func refresh() async throws {}
    }

    @Test func onlyTheSourcesOwnOriginIsSigned() async throws {
        let session = try SourceSession(spec: SourceSpec(name: "s", type: .agora, url: "https://agora.example.org/api/"),
                                        auth: Stamp())
        defer { session.http.shutdown() }
        for url in ["https://agora.example.org/api/v2/exam/", "https://AGORA.example.org:443/x"] {
            #expect(try await session.signed(HTTPRequest(url: url)).headers.first("Authorization") != nil, "\(url)")
        }
        for url in ["http://agora.example.org/api/v2/exam/", "https://agora.example.org:8443/x", "https://s3.example.org/b?X-Amz-Signature=1",
                    "https://agora.example.org.evil.org/", "https://evil.org/@agora.example.org/"] {
            #expect(try await session.signed(HTTPRequest(url: url)).headers.first("Authorization") == nil, "\(url)")
        }
    }
}

/// A hostile (or careless) server may echo the credential it was sent in the reply a message
/// quotes (a 400's words, a task's error, a file's name): every error text goes through
/// `ErrorText`, which shows each credential a source holds as `***`.
@Suite struct EchoedCredentialTests {
    @Test func aCredentialAServerEchoesNeverShowsInAMessage() throws {
        let specs = [
            SourceSpec(name: "x", type: .xnat, url: "https://xnat.example.org",
                       credentials: ["user": Secret("alice"), "password": Secret("echoed-pa55word")]),
            SourceSpec(name: "g", type: .grandChallenge, url: "https://gc.example.org/api/v1/", credentials: ["token": Secret("echoed-gc-t0ken")]),
            SourceSpec(name: "a", type: .agora, url: "https://agora.example.org", credentials: ["api-key": Secret("echoed-agora-k3y")]),
        ]
        for spec in specs {
            let session = try SourceSession(spec: spec)
            session.http.shutdown()
        }
        let basic = Data("alice:echoed-pa55word".utf8).base64EncodedString()
        let reply = "denied alice (Authorization: Basic \(basic)); password=echoed-pa55word; Bearer echoed-gc-t0ken; "
            + "X-Agora-Api-Key echoed-agora-k3y"
        for message in [ErrorText.quoted(reply), ErrorText.clean("HTTP 400: " + reply), "\(ConnectorError.badReply(ErrorText.quoted(reply)))"] {
            for secret in ["echoed-pa55word", basic, "echoed-gc-t0ken", "echoed-agora-k3y"] {
                #expect(!message.contains(secret), "\(message)")
            }
            #expect(message.contains("denied alice"), "\(message)")  // a user name is no secret
        }
    }
}
