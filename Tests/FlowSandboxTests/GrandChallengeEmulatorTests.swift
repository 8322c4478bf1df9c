import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import FlowFiles
@testable import FlowSandbox

/// The Grand Challenge emulator over plain HTTP (URLSession cannot trust a per-run CA on Linux;
/// the HTTPS path is covered by FlowGrandChallengeTests and the gcapi fidelity client).
func startGC() async throws -> (Sandbox, Client, GrandChallengeEmulator) {
    var config = SandboxConfiguration()
    config.seed = 42
    config.platforms = [.grandChallenge]
    config.platformOptions["gc"] = PlatformOptions(tls: false)
    let sb = try await Sandbox.start(config)
    let e = sb.endpoint(.grandChallenge)
    return (sb, Client(base: e.url, headers: ["Authorization": "BEARER \(e.credentials.token!)"]), sb.emulator(GrandChallengeEmulator.self)!)
}

func jsonObject(_ data: Data) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
}

@Suite("Grand Challenge emulator", .serialized)
struct GrandChallengeEmulatorTests {
    @Test func versionIsPublicAndRepliesAreExactlyApplicationJSON() async throws {
        let (sb, c, _) = try await startGC()
        defer { Task { await sb.stop() } }
        #expect(sb.endpoint(.grandChallenge).url.hasSuffix("/api/v1/"))
        let anonymous = Client(base: c.base)
        let (status, headers, body) = try await anonymous.send("GET", "gcapi/")
        #expect(status == 200)
        #expect(headers["content-type"] == "application/json")
        #expect(try jsonObject(body)["lowest_supported_version"] as? String == "0.13.0")
        // Anonymous reads see nothing; a wrong token is refused with a Bearer challenge.
        #expect(try jsonObject(try await anonymous.send("GET", "archives/").2)["count"] as? Int == 0)
        let (bad, badHeaders, badBody) = try await Client(base: c.base, headers: ["Authorization": "Bearer nope"]).send("GET", "archives/")
        #expect(bad == 401)
        #expect(badHeaders["www-authenticate"] == "Bearer")
        #expect(try jsonObject(badBody)["detail"] as? String == "Invalid token.")
        #expect(try await anonymous.send("POST", "uploads/", body: Data("{\"filename\":\"a.mha\"}".utf8)).0 == 403)
    }

    @Test func paginatesWithCountNextPreviousAndAnEmptyPagePastTheEnd() async throws {
        let (sb, c, _) = try await startGC()
        defer { Task { await sb.stop() } }
        let archives = try await c.json("archives/?slug=coronacases.org")
        let archive = try #require((archives["results"] as? [[String: Any]])?.first)
        #expect(Set(archive.keys) == ["pk", "title", "logo", "description", "api_url", "url"])
        let pk = archive["pk"] as! String
        let page = try await c.json("archives/items/?archive=\(pk)&limit=3&offset=3")
        #expect(page["count"] as? Int == 10)
        #expect((page["next"] as? String)?.hasSuffix("archives/items/?archive=\(pk)&limit=3&offset=6") == true)
        #expect((page["previous"] as? String)?.hasSuffix("archives/items/?archive=\(pk)&limit=3") == true)
        let past = try await c.json("archives/items/?archive=\(pk)&offset=100")
        #expect((past["results"] as? [Any])?.isEmpty == true)
        #expect(past["next"] is NSNull)
        let images = try await c.json("cases/images/?archive=\(pk)")
        let image = try #require((images["results"] as? [[String: Any]])?.first)
        for key in ["pk", "name", "files", "dicom_image_set", "width", "height", "depth", "color_space", "modality", "eye_choice",
                    "stereoscopic_choice", "field_of_view", "shape_without_color", "shape", "voxel_width_mm", "voxel_height_mm",
                    "voxel_depth_mm", "api_url", "window_center", "window_width", "segments"] {
            #expect(image.keys.contains(key), "image lacks \(key)")
        }
        #expect(image["name"] as? String == "coronacases_001.mha")
    }

    @Test func servesImageFilesWithLengthRangeAndETag() async throws {
        let (sb, c, _) = try await startGC()
        defer { Task { await sb.stop() } }
        let images = try await c.json("cases/images/?name=coronacases_002.mha")
        let image = try #require((images["results"] as? [[String: Any]])?.first)
        let file = try #require((image["files"] as? [[String: Any]])?.first)
        #expect(file["image_type"] as? String == "MHD")
        let path = file["file"] as! String
        let files = Client(base: "", headers: c.headers)
        let (status, headers, body) = try await files.send("GET", path)
        #expect(status == 200)
        #expect(headers["content-length"] == String(body.count))
        #expect(headers["etag"] != nil)
        let (partial, _, slice) = try await files.send("GET", path, headers: ["Range": "bytes=10-19"])
        #expect(partial == 206)
        #expect(slice == body[10..<20])
        #expect(try await Client(base: "").send("GET", path).0 == 404)  // files need the token
    }

    @Test func userUploadInPartsThenADisplaySet() async throws {
        let (sb, c, gc) = try await startGC()
        defer { Task { await sb.stop() } }
        let upload = try jsonObject(try await c.send("POST", "uploads/", body: Data("{\"filename\":\"case.mha\"}".utf8),
                                                     headers: ["Content-Type": "application/json"]).2)
        #expect(upload["status"] as? String == "Initialized")
        let pk = upload["pk"] as! String, s3 = upload["s3_upload_id"] as! String
        let presigned = try jsonObject(try await c.send("PATCH", "uploads/\(pk)/\(s3)/generate-presigned-urls/",
                                                        body: Data("{\"part_numbers\":[1,2]}".utf8)).2)
        let urls = try #require(presigned["presigned_urls"] as? [String: String])
        #expect(Set(urls.keys) == ["1", "2"])
        var parts: [String] = []
        for (n, chunk) in [(1, "hello "), (2, "world")] {
            // Presigned URLs carry their own signature: no token.
            let (status, headers, _) = try await Client(base: "").send("PUT", urls[String(n)]!, body: Data(chunk.utf8))
            #expect(status == 200)
            parts.append("{\"ETag\":\(try #require(headers["etag"]).debugDescription),\"PartNumber\":\(n)}")
        }
        #expect(try await c.send("PATCH", "uploads/\(pk)/wrong/complete-multipart-upload/", body: Data("{}".utf8)).0 == 404)
        let done = try jsonObject(try await c.send("PATCH", "uploads/\(pk)/\(s3)/complete-multipart-upload/",
                                                   body: Data("{\"parts\":[\(parts.joined(separator: ","))]}".utf8)).2)
        #expect(done["status"] as? String == "Completed")
        #expect(gc.uploadedBytes(filename: "case.mha") == Array("hello world".utf8))

        #expect(try await c.send("POST", "reader-studies/display-sets/",
                                 body: Data("{\"reader_study\":\"corads-score-exam\",\"values\":[{\"interface\":\"x\"}]}".utf8)).0 == 400)
        let (created, _, setBody) = try await c.send("POST", "reader-studies/display-sets/", body: Data("{\"reader_study\":\"corads-score-exam\"}".utf8))
        #expect(created == 201)
        let set = try jsonObject(setBody)
        let value = "{\"interface\":\"generic-medical-image\",\"value\":null,\"file\":null,\"image\":null,\"upload_session\":null,"
            + "\"user_upload\":null,\"user_uploads\":[\"\(upload["api_url"] as! String)\"],\"image_name\":null}"
        let patched = try jsonObject(try await c.send("PATCH", "reader-studies/display-sets/\(set["pk"] as! String)/",
                                                      body: Data("{\"values\":[\(value)]}".utf8)).2)
        let values = try #require(patched["values"] as? [[String: Any]])
        #expect(values.first?["interface"] as? String == "generic-medical-image")
        #expect((values.first?["image"] as? String)?.contains("/api/v1/cases/images/") == true)
        #expect(try await c.json("cases/images/?name=case.mha")["count"] as? Int == 1)
    }

    /// Parts are spooled to disk as they arrive (a 10 GiB upload must not sit in the sandbox's
    /// memory): the completed body reads across part boundaries byte for byte, ETags are MD5s.
    @Test func spooledPartsReadBackAcrossTheirBoundaries() async throws {
        let (sb, c, gc) = try await startGC()
        defer { Task { await sb.stop() } }
        let upload = try jsonObject(try await c.send("POST", "uploads/", body: Data("{\"filename\":\"spooled.mha\"}".utf8),
                                                     headers: ["Content-Type": "application/json"]).2)
        let pk = upload["pk"] as! String, s3 = upload["s3_upload_id"] as! String
        let presigned = try jsonObject(try await c.send("PATCH", "uploads/\(pk)/\(s3)/generate-presigned-urls/",
                                                        body: Data("{\"part_numbers\":[1,2,3]}".utf8)).2)
        let urls = try #require(presigned["presigned_urls"] as? [String: String])
        var rng = SystemRandomNumberGenerator()
        let chunks = [70_000, 1, 33_333].map { n in (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        var parts: [String] = []
        for (i, chunk) in chunks.enumerated() {
            let (status, headers, _) = try await Client(base: "").send("PUT", urls[String(i + 1)]!, body: Data(chunk))
            #expect(status == 200)
            #expect(headers["etag"] == "\"\(Digester.hex(.md5, of: chunk))\"")
            parts.append("{\"ETag\":\(try #require(headers["etag"]).debugDescription),\"PartNumber\":\(i + 1)}")
        }
        let spooled = gc.data.withLock { d in d.uploads[pk]!.parts.keys.sorted().map { d.uploads[pk]!.parts[$0]!.size } }
        #expect(spooled == [70_000, 1, 33_333])
        let done = try jsonObject(try await c.send("PATCH", "uploads/\(pk)/\(s3)/complete-multipart-upload/",
                                                   body: Data("{\"parts\":[\(parts.joined(separator: ","))]}".utf8)).2)
        #expect(done["status"] as? String == "Completed")
        let whole = chunks.flatMap { $0 }
        #expect(gc.uploadedBytes(filename: "spooled.mha") == whole)
        let body = try #require(gc.data.withLock { $0.uploads[pk]!.body })
        #expect(body.size == Int64(whole.count))
        for (offset, length) in [(69_990, 20), (70_000, 1), (70_000, 2), (0, 103_334), (103_300, 100)] {
            var slice = body.chunk(offset: Int64(offset), length: length)
            let end = min(whole.count, offset + length)
            #expect(slice.readBytes(length: slice.readableBytes) == Array(whole[offset..<end]), "\(offset)+\(length)")
        }
    }

    @Test func jobsMoveThroughTheirStatusesAndFailOnDemand() async throws {
        let (sb, c, gc) = try await startGC()
        defer { Task { await sb.stop() } }
        // Steps of a second: a fresh CI build's load once delayed the first poll past three 0.2 s steps.
        gc.jobStepSeconds = 1
        let algorithm = try #require((try await c.json("algorithms/?slug=pulmonary-lobe-segmentation")["results"] as? [[String: Any]])?.first)
        let image = try #require((try await c.json("cases/images/?name=coronacases_003.mha")["results"] as? [[String: Any]])?.first)
        func post(_ imageURL: String) async throws -> (Int, [String: Any]) {
            let body = "{\"algorithm\":\"\(algorithm["api_url"] as! String)\",\"inputs\":[{\"interface\":\"ct-image\",\"value\":null,"
                + "\"file\":null,\"image\":\"\(imageURL)\",\"upload_session\":null,\"user_upload\":null,\"user_uploads\":null,\"image_name\":null}]}"
            let (status, _, data) = try await c.send("POST", "algorithms/jobs/", body: Data(body.utf8))
            return (status, try jsonObject(data))
        }
        let (status, job) = try await post(image["api_url"] as! String)
        #expect(status == 201)
        #expect(job["status"] as? String == "Validating inputs")
        let (dup, dupBody) = try await post(image["api_url"] as! String)
        #expect(dup == 400)
        #expect((dupBody["non_field_errors"] as? [String])?.first?.contains("already exists") == true)
        var seen: [String] = []
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let now = try await c.json("algorithms/jobs/\(job["pk"] as! String)/")
            let s = now["status"] as! String
            if seen.last != s { seen.append(s) }
            if s == "Succeeded" {
                #expect((now["outputs"] as? [[String: Any]])?.count == 1)
                #expect(now["exec_duration"] is String)
                break
            }
            #expect((now["outputs"] as? [Any])?.isEmpty == true)
            try await Task.sleep(for: .milliseconds(20))
        }
        // Polls may skip a step when the machine is busy; the order never changes.
        let order = ["Validating inputs", "Queued", "Started", "Succeeded"]
        #expect(seen.count >= 2 && seen.last == "Succeeded" && seen == order.filter(seen.contains), "\(seen)")

        gc.failNextJobs = 1
        let other = try #require((try await c.json("cases/images/?name=coronacases_004.mha")["results"] as? [[String: Any]])?.first)
        gc.jobStepSeconds = 0.05
        let (_, failing) = try await post(other["api_url"] as! String)
        var failed = try await c.json("algorithms/jobs/\(failing["pk"] as! String)/")
        let failDeadline = ContinuousClock.now + .seconds(30)
        while ["Validating inputs", "Queued", "Started"].contains(failed["status"] as? String ?? ""), ContinuousClock.now < failDeadline {
            try await Task.sleep(for: .milliseconds(50))
            failed = try await c.json("algorithms/jobs/\(failing["pk"] as! String)/")
        }
        #expect(failed["status"] as? String == "Failed")
        #expect((failed["error_message"] as? String)?.isEmpty == false)
    }
}
