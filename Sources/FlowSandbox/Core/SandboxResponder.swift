import Foundation
import Hummingbird
import Logging

/// The responder of one origin: control routes, then faults and counters around the platform.
struct SandboxResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let platform: any PlatformEmulator
    let id: PlatformID
    let origin: OriginBox
    let faults: FaultController
    let stats: StatsRecorder
    let control: ControlAPI

    func respond(to request: Request, context: Context) async throws -> Response {
        if request.uri.path.hasPrefix("/_sandbox") {
            return await control.handle(request, platform: id)
        }
        let decided = faults.decide(for: id)
        let info = RouteInfo()
        let req = SandboxRequest(request: request, origin: origin.value, routeInfo: info, faults: decided, faultPlan: faults, platform: id, stats: stats)
        stats.requestStarted(id)
        if decided.delayMs > 0 {
            stats.fault(id, "latency")
            try? await Task.sleep(nanoseconds: UInt64(decided.delayMs) * 1_000_000)
        }
        var response: Response
        if let status = decided.status {
            stats.fault(id, "status-\(status)")
            info.template = "\(request.method.rawValue) (fault)"
            var headers: HTTPFields = [:]
            if let ra = decided.retryAfter { headers[.retryAfter] = String(ra) }
            let phrase = HTTPResponse.Status(code: status).reasonPhrase
            response = Reply.text(HTTPResponse.Status(code: status),
                                  "<html><head><title>\(status) \(phrase)</title></head><body><h1>\(status) \(phrase)</h1><p>flowctl-sandbox injected fault</p></body></html>",
                                  contentType: "text/html", headers: headers)
        } else {
            do {
                response = try await platform.handle(req)
            } catch {
                context.logger.error("\(id) handler failed: \(error)")
                response = Reply.text(.internalServerError, "<html><body><h3>\(error)</h3></body></html>", contentType: "text/html")
            }
        }
        let status = response.status.code
        let stats = self.stats, id = self.id
        if !info.countsOwnBytes, request.method != .head, let n = response.headers[.contentLength].flatMap(Int.init) {
            stats.bytesServed(id, n)
        }
        // In-flight ends when the body is fully written, so peak concurrency covers long downloads.
        let body = response.body
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            do {
                try await body.write(writer)
                stats.requestFinished(id, route: info.template, kind: info.kind, status: status)
            } catch {
                stats.requestFinished(id, route: info.template, kind: info.kind, status: status)
                throw error
            }
        }
        return response
    }
}
