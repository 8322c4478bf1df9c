/// Parsers for the human quantities of job files: durations (`30s`, `2h`), rates (`20/s`) and
/// byte sizes (`64KiB`, `10MB`). Each returns nil on text it does not understand.
public enum Quantities {
    /// Seconds in a duration such as `500ms`, `30s`, `5m`, `2h`, `1d`, or a bare number of seconds.
    public static func seconds(_ text: String) -> Double? {
        let t = text.trimmingWhitespace
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, factor) in units where t.hasSuffix(suffix) {
            guard let n = Double(t.dropLast(suffix.count)), n >= 0 else { continue }
            return n * factor
        }
        if let n = Double(t), n >= 0 { return n }
        return nil
    }

    /// A number of seconds for a message: `2 s`, `0.3 s` (any size, never a trap on a huge or infinite one).
    public static func secondsText(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "\(seconds) s" }
        return String(format: seconds == seconds.rounded() ? "%.0f s" : "%.1f s", seconds)
    }

    /// Requests per second in a rate such as `20/s`, `600/m` or `5000/h`.
    public static func ratePerSecond(_ text: String) -> Double? {
        let parts = text.trimmingWhitespace.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, let count = Double(parts[0]), count > 0 else { return nil }
        let per: Double
        switch parts[1] {
        case "s", "sec", "second": per = 1
        case "m", "min", "minute": per = 60
        case "h", "hour": per = 3600
        default: return nil
        }
        return count / per
    }

    /// Bytes in a size such as `512`, `64KiB`, `10MB`, `1.5GiB` (SI and binary prefixes).
    public static func bytes(_ text: String) -> Double? {
        let t = text.trimmingWhitespace
        let units: [(String, Double)] = [
            ("KiB", 1024), ("MiB", 1_048_576), ("GiB", 1_073_741_824), ("TiB", 1_099_511_627_776),
            ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("kB", 1e3), ("B", 1),
        ]
        for (suffix, factor) in units where t.hasSuffix(suffix) {
            guard let n = Double(t.dropLast(suffix.count).trimmingWhitespace), n >= 0 else { continue }
            return n * factor
        }
        if let n = Double(t), n >= 0 { return n }
        return nil
    }

    /// A byte count for people: `1.5 MiB`.
    public static func formatBytes(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
        if unit == 0 { return "\(bytes) B" }
        return String(format1: value) + " " + units[unit]
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs and newlines.
    public var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }

    /// A number with one decimal, without Foundation's locale-dependent formatting.
    init(format1 value: Double) {
        let tenths = Int((value * 10).rounded())
        self = "\(tenths / 10).\(tenths % 10)"
    }
}

extension Substring {
    var trimmingWhitespace: String { String(self).trimmingWhitespace }
}
