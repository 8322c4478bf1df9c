@testable import FlowConnector
import FlowHTTP
import FlowModel
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
