import Foundation
import FlowConnector

/// The session a login runs through. The session owns the login (as its authenticator), so the
/// login holds it weakly; it is set once, right after both exist, before any request.
final class SessionRef: @unchecked Sendable {
    private let lock = NSLock()
    private weak var session: SourceSession?
    var value: SourceSession? {
        get { lock.withLock { session } }
        set { lock.withLock { session = newValue } }
    }
}
