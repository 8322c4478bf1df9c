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
