/// HTTP dates (RFC 9110 §5.6.7), as `Retry-After` may carry them: the IMF-fixdate
/// `Sun, 06 Nov 1994 08:49:37 GMT` and the two obsolete forms a recipient must still read,
/// RFC 850 `Sunday, 06-Nov-94 08:49:37 GMT` and asctime `Sun Nov  6 08:49:37 1994`.
public enum HTTPDate {
    /// Seconds since 1970 of an HTTP date, or nil when the text is none of the three forms.
    public static func parse(_ text: String) -> Double? {
        // Every form, split on spaces, commas and dashes, is a weekday and the same five parts in
        // some order: day, month, year, time (and "GMT"); only asctime puts the year last.
        let words = text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "-" }).map(String.init)
        guard words.count >= 5, words.count <= 6 else { return nil }
        let day: Int?, monthName: String, yearText: String, time: String
        if words.count == 5, words[4].count == 4 {  // asctime: Sun Nov 6 08:49:37 1994
            (monthName, day, time, yearText) = (words[1], Int(words[2]), words[3], words[4])
        } else {                                     // Sun 06 Nov 1994 08:49:37 GMT (either form)
            guard words.count == 6, words[5] == "GMT" else { return nil }
            (day, monthName, yearText, time) = (Int(words[1]), words[2], words[3], words[4])
        }
        guard let day, (1...31).contains(day), let month = months.firstIndex(of: monthName),
              var year = Int(yearText), yearText.count == 4 || yearText.count == 2 else { return nil }
        if yearText.count == 2 { year += year < 70 ? 2000 : 1900 }  // RFC 850's two-digit years
        let clock = time.split(separator: ":").compactMap { Int($0) }
        guard clock.count == 3, (0...23).contains(clock[0]), (0...59).contains(clock[1]), (0...60).contains(clock[2]) else {
            return nil
        }
        let days = daysSince1970(year: year, month: month + 1, day: day)
        return Double(days * 86_400 + clock[0] * 3_600 + clock[1] * 60 + clock[2])
    }

    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (H. Hinnant's algorithm).
    static func daysSince1970(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
