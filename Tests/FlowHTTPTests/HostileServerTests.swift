@testable import FlowHTTP
import Foundation
import Testing

/// What a server may send and FlowHTTP must still contain: other schemes, bodies without end,
/// bodies encoded without asking, lengths over the cap, and small files on slow links.
@Suite struct HostileServerTests {
    @Test(arguments: ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1/x"])
    func aRedirectToAnotherSchemeIsRefusedAndNothingIsRead(target: String) async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let url = "\(server.base)/redirect?to=\(target.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)"
        let error = await httpError { _ = try await client.send(HTTPRequest(url: url)) }
        guard case .refusedRedirect(let message) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(!message.contains("root:"))  // not a byte of the local file
        #expect(error?.isTransient == false)

        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let failed = await httpError { _ = try await client.download(HTTPRequest(url: url), to: dir + "/x.part") }
        guard case .refusedRedirect = failed else { Issue.record("got \(String(describing: failed))"); return }
        #expect((try? readFile(dir + "/x.part"))?.isEmpty ?? true)
    }

    @Test func aURLOfAnotherSchemeIsNeverRequested() async throws {
        let client = try makeClient()
        defer { client.shutdown() }
        let error = await httpError { _ = try await client.send(HTTPRequest(url: "file:///etc/passwd")) }
        guard case .refusedRedirect = error else { Issue.record("got \(String(describing: error))"); return }
    }

    @Test func aHeaderBombStopsTheTransfer() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let error = await httpError { _ = try await client.send(HTTPRequest(url: "\(server.base)/headerbomb")) }
        guard case .other(_, let message) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(message.contains("bytes of headers"))
    }

    @Test func anEndlessBodyStopsAtTheListedSize() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var request = HTTPRequest(url: "\(server.base)/endless")
        request.expectedSize = 100_000
        let error = await httpError { _ = try await client.download(request, to: dir + "/x.part") }
        #expect(error == .bodyTooLarge(limit: 100_000))
        #expect(error?.isTransient == false)
        #expect((FileManager.default.contents(atPath: dir + "/x.part")?.count ?? 0) <= 100_000)
    }

    @Test func anEndlessBodyOfUnlistedSizeStopsAtTheCap() async throws {
        let server = try await Servers.main.value
        let client = try makeClient { $0.maxDownloadSize = 1 << 20 }
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let error = await httpError { _ = try await client.download(HTTPRequest(url: "\(server.base)/endless"), to: dir + "/x.part") }
        #expect(error == .bodyTooLarge(limit: 1 << 20))
    }

    @Test func aBodyEncodedWithoutAskingIsRefused() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let error = await httpError { _ = try await client.download(HTTPRequest(url: "\(server.base)/gzipped"), to: dir + "/x.part") }
        #expect(error == .unexpectedEncoding("gzip"))
        #expect(error?.isTransient == false)
        // And a download asks for the bytes as they are.
        let echo = try await client.download(HTTPRequest(url: "\(server.base)/headers"), to: dir + "/h")
        #expect(echo.isSuccess)
        #expect(String(decoding: try readFile(dir + "/h"), as: UTF8.self).contains("accept-encoding: identity"))
    }

    @Test func aLengthOverTheCapFailsBeforeTheBody() async throws {
        let server = try await Servers.main.value
        let client = try makeClient { $0.maxResponseBodySize = 1 << 20 }
        defer { client.shutdown() }
        let start = ContinuousClock.now
        let error = await httpError { _ = try await client.send(HTTPRequest(url: "\(server.base)/announced/200000000")) }
        #expect(error == .bodyTooLarge(limit: 1 << 20))
        #expect(start.duration(to: .now) < .seconds(3))  // the server waits 5 s after its first 64 KiB
    }

    /// A small file still arriving after a moment gets its `.part` name: a stop (or a kill)
    /// keeps what arrived, and the next attempt resumes from there.
    @Test func aSlowSmallFileKeepsWhatArrivedAndResumes() async throws {
        let server = try await Servers.main.value
        let client = try makeClient()
        defer { client.shutdown() }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let part = dir + "/slow.part"
        let transfer = Task { try await client.download(HTTPRequest(url: "\(server.base)/trickle/40000"), to: part, unnamed: true) }
        // The name comes a moment after the first byte; on a loaded machine the first byte may be late.
        let deadline = ContinuousClock.now + .seconds(20)
        while !FileManager.default.fileExists(atPath: part), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        try await Task.sleep(for: .milliseconds(300))
        transfer.cancel()
        _ = try? await transfer.value
        let kept = try readFile(part)
        #expect(kept.count > 0 && kept.count < 40000)  // some arrived before the stop (few on a loaded machine)
        #expect(kept == pattern(0..<kept.count))
        let resumed = try await client.download(HTTPRequest(url: "\(server.base)/bytes/40000"), to: part, resume: true)
        #expect(resumed.resumed)
        #expect(resumed.bytesWritten == Int64(40000 - kept.count))
        #expect(try readFile(part) == pattern(0..<40000))
        #expect(resumed.digests[.sha256] == sha256Hex(pattern(0..<40000)))
    }
}
