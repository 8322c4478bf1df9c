import Foundation
import Synchronization

/// XNAT logins: basic auth, JSESSION ids, alias tokens, and the lockout fault.
final class XNATAuth: Sendable {
    struct Session { var user: String; var created: Date }
    struct AliasToken { var alias: String; var secret: String; var user: String; var created: Date; var valid = true }
    private struct State {
        var sessions: [String: Session] = [:]
        var tokens: [String: AliasToken] = [:]
        var failures: [String: [Date]] = [:]
        var lockedUntil: [String: Date] = [:]
    }
    let username: String
    let password: String
    private let state = Mutex(State())
    private let faults: FaultController

    init(username: String, password: String, faults: FaultController) {
        self.username = username; self.password = password; self.faults = faults
    }

    private var lifetime: TimeInterval {
        faults.settings(for: .xnat).tokenLifetimeSeconds.map(TimeInterval.init) ?? 900
    }

    enum Outcome { case ok(String), bad, locked }

    /// Checks a user/password pair: the account itself or an alias token.
    func check(user: String, password pw: String) -> Outcome {
        let f = faults.settings(for: .xnat)
        return state.withLock { s in
            if let until = s.lockedUntil[user], until > Date() { return .locked }
            if user == username && pw == password { s.failures[user] = nil; return .ok(user) }
            if let t = s.tokens[user], t.valid, t.secret == pw, Date().timeIntervalSince(t.created) < 48 * 3600 { return .ok(t.user) }
            if let limit = f.lockoutAfterFailures {
                var list = (s.failures[user] ?? []).filter { Date().timeIntervalSince($0) < 3600 }
                list.append(Date())
                s.failures[user] = list
                if list.count >= limit {
                    s.lockedUntil[user] = Date().addingTimeInterval(TimeInterval(f.lockoutSeconds))
                }
            }
            return .bad
        }
    }

    /// A new JSESSION id (32 upper-case hex characters).
    func newSession(for user: String) -> String {
        var g = SystemRandomNumberGenerator()
        let id = (0..<16).map { _ in String(format: "%02X", UInt8.random(in: 0...255, using: &g)) }.joined()
        state.withLock { $0.sessions[id] = Session(user: user, created: Date()) }
        return id
    }

    /// The user of a live session.
    func user(forSession id: String) -> String? {
        let lifetime = self.lifetime
        return state.withLock { s in
            guard let sess = s.sessions[id] else { return nil }
            if Date().timeIntervalSince(sess.created) > lifetime { s.sessions[id] = nil; return nil }
            return sess.user
        }
    }

    /// Ends every session at once, as a server restart or a timeout would.
    func endAllSessions() { state.withLock { $0.sessions.removeAll() } }

    func endSession(_ id: String) { _ = state.withLock { $0.sessions.removeValue(forKey: id) } }

    /// Expiration cookie value XNAT sends: `"<epoch-ms>,<timeout-ms>"`.
    var expirationCookie: String {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        return "\"\(now),\(Int64(lifetime * 1000))\""
    }

    func issueToken(for user: String) -> AliasToken {
        let t = AliasToken(alias: UUID().uuidString.lowercased(), secret: (0..<4).map { _ in UUID().uuidString.replacingOccurrences(of: "-", with: "") }.joined().prefix(64).description,
                           user: user, created: Date())
        state.withLock { $0.tokens[t.alias] = t }
        return t
    }

    func validate(alias: String, secret: String) -> String? {
        state.withLock { s in
            guard let t = s.tokens[alias], t.valid, t.secret == secret else { return nil }
            return t.user
        }
    }

    func invalidate(alias: String, secret: String) -> Bool {
        state.withLock { s in
            guard let t = s.tokens[alias], t.secret == secret else { return false }
            s.tokens[alias]?.valid = false
            return true
        }
    }
}
