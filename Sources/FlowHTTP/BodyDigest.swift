import FlowFiles
import Synchronization

/// A digest of a request body taken while curl reads it to send (one read of the file, not a
/// hash pass and then a send). Restarts when the body is sent again from its start (a retried
/// attempt, a redirect hop, curl's rewind); a rewind to anywhere else spoils it.
public final class RequestBodyDigest: Sendable {
    private struct State {
        /// Where hashing starts: empty, or the bytes before this body (`continued`).
        let start: Digester
        var digester: Digester
        var hashed: Int64 = 0
        var spoiled = false
        init(start: Digester) {
            self.start = start
            digester = start
        }
    }
    private let state: Mutex<State>
    public let algorithm: DigestAlgorithm

    public init(_ algorithm: DigestAlgorithm) {
        self.algorithm = algorithm
        state = Mutex(State(start: Digester(algorithm)))
    }

    private init(_ algorithm: DigestAlgorithm, start: Digester) {
        self.algorithm = algorithm
        state = Mutex(State(start: start))
    }

    /// A digest that goes on from this one's bytes (the next chunk of the same file, so the last
    /// chunk's digest is the file's), or nil unless exactly `length` bytes were hashed in order.
    public func continued(afterLength length: Int64) -> RequestBodyDigest? {
        state.withLock { $0.spoiled || $0.hashed != length ? nil : RequestBodyDigest(algorithm, start: $0.digester) }
    }

    /// The lowercase hex digest when exactly `length` bytes were hashed in order from the start; else nil.
    public func hex(ofLength length: Int64) -> String? {
        state.withLock { $0.spoiled || $0.hashed != length ? nil : $0.digester.hexDigest() }
    }

    /// The body is (re)sent from its first byte.
    func restart() {
        state.withLock { $0 = State(start: $0.start) }
    }

    /// Bytes read at `position` of the body; out-of-order bytes spoil the digest.
    func update(_ bytes: UnsafeRawBufferPointer, at position: Int64) {
        state.withLock { s in
            guard !s.spoiled else { return }
            guard position == s.hashed else { s.spoiled = true; return }
            s.digester.update(bytes)
            s.hashed += Int64(bytes.count)
        }
    }

    /// curl rewound to `position`: from 0 the digest restarts; a hash cannot go back, so a rewind
    /// to anywhere but where hashing stands spoils it.
    func rewound(to position: Int64) {
        if position == 0 { restart() } else { state.withLock { if $0.hashed != position { $0.spoiled = true } } }
    }
}
