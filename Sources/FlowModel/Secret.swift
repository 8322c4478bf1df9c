import Foundation
import Synchronization
/// A credential read from a job file or the environment. It prints as `***` everywhere
/// (descriptions, string interpolation, dumps, encoders), so it cannot leak into logs, plans,
/// lock files or events by accident; code that needs the value asks for `revealed`.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable, Encodable
{
    private let value: String

    public init(_ value: String) { self.value = value }

    /// The plain value, for the one place that sends it to its server.
    public var revealed: String { value }
    public var isEmpty: Bool { value.isEmpty }

    public var description: String { "***" }
    public var debugDescription: String { "Secret(***)" }
    public var customMirror: Mirror { Mirror(self, children: []) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode("***")
    }
}

/// The credential values this process sends (passwords, tokens, API keys, the Basic and session
/// tokens made from them): error text never shows one (`ErrorText` replaces each with `***`),
/// even when a hostile server echoes it back in a reply a message quotes (a 400's body, a task's
/// error, a file's name). User names are not registered: they are no secret, and often words.
public enum SecretValues {
    private static let known = Mutex<[String]>([])
    /// Shorter values are not scrubbed: they would blank ordinary words of messages.
    public static let minimumLength = 4

    /// Registers a value to be kept out of error text.
    public static func register(_ value: String) {
        guard value.count >= minimumLength else { return }
        known.withLock { values in
            guard !values.contains(value) else { return }
            values.append(value)
            // Longest first: a secret that contains another is replaced whole.
            values.sort { $0.count > $1.count }
        }
    }

    /// `text` with every registered value shown as `***`.
    public static func scrub(_ text: String) -> String {
        let values = known.withLock { $0 }
        guard !values.isEmpty else { return text }
        var text = text
        for value in values where text.contains(value) { text = text.replacingOccurrences(of: value, with: "***") }
        return text
    }
}
